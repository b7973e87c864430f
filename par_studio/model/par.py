"""The full PAR model: log-mel front end → acoustic module → pitchwise autoregressive decoder.

Training runs the decoder teacher-forced over whole sequences (:meth:`PARModel.forward`);
inference runs it greedily frame by frame with all 88 keys as one batch
(:meth:`PARModel.step`, used by both the offline and the streaming engine).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ..constants import N_KEYS, TIME_SINCE_ONSET_CAP
from ..features import LogMel
from .acoustic import AcousticModel
from .config import ModelConfig
from .decoder import LSTMState, PitchwiseDecoder, next_context, own_context


@dataclass
class ARState:
    """Autoregressive state carried from frame to frame, for N streams × 88 keys.

    prev_state: (N, 88) long; time: (N, 88) float frames since onset (uncapped count ≤ 313);
    onset_velocity: (N, 88) float velocity/128; hidden: the two LSTMs' (h, c) or None.
    """

    prev_state: torch.Tensor
    time: torch.Tensor
    onset_velocity: torch.Tensor
    hidden: LSTMState | None

    @classmethod
    def initial(cls, n: int = 1) -> "ARState":
        z = torch.zeros(n, N_KEYS)
        return cls(torch.zeros(n, N_KEYS, dtype=torch.long), z.clone(), z.clone(), None)


def onset_bias(b: float) -> torch.Tensor:
    """(5,) state-logit bias that shifts both onset states (onset, re-onset) by ``b``."""
    return torch.tensor([0.0, 0.0, float(b), 0.0, float(b)])


class PARModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        # Always built on the CPU, also inside a ``torch.device("meta")`` block (used to count
        # parameters): initialising meta tensors runs torch's Python decompositions, whose
        # first use imports torch._dynamo and sympy (≈ 1.7 s of CPU and 80 MB per process),
        # while the real model (≤ 1.3 M parameters) takes milliseconds and a few MB.
        with torch.device("cpu"):
            self.frontend = LogMel(cfg.n_mels)
            self.acoustic = AcousticModel(cfg)
            self.decoder = PitchwiseDecoder(cfg)
            self.set_state_bias(cfg.state_bias)

    def set_state_bias(self, bias) -> None:
        """Decoding bias (5,) added to the state logits in :meth:`step` (see ModelConfig)."""
        self.cfg = replace(self.cfg, state_bias=tuple(float(b) for b in bias))
        self._state_bias = torch.tensor(self.cfg.state_bias, dtype=torch.float32)
        self._biases = {0.0: self._state_bias}  #: sensitivity → total bias, built once per value

    def set_offset_shift(self, seconds: float) -> None:
        """Seconds added to note ends that the decoder ends by release (see ModelConfig)."""
        self.cfg = replace(self.cfg, offset_shift_s=float(seconds))

    def decoding_bias(self, sensitivity: float = 0.0) -> torch.Tensor:
        """(5,) bias added to the state logits: the calibration plus ``sensitivity`` on the
        onset states (built once per sensitivity, not per frame)."""
        bias = self._biases.get(sensitivity)
        if bias is None:
            bias = self._biases[sensitivity] = self._state_bias + onset_bias(sensitivity)
        return bias

    # ------------------------------------------------------------------ info
    @property
    def latency_ms(self) -> int:
        return self.cfg.latency_ms

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ training
    def forward(self, mel: torch.Tensor, prev_state: torch.Tensor, prev_time: torch.Tensor,
                prev_velocity: torch.Tensor, use_own: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass. mel (B, n_mels, T); prev_* (B, T, 88) context (see notes.Labels).
        Returns logits (B, T, 88, 5) and velocity /128 (B, T, 88).

        ``use_own`` (B, 88) bool (training, "self-conditioning"): the marked key sequences get
        the model's own greedy states of a first, gradient-free teacher-forced pass as their
        context (:func:`~.decoder.own_context`), so the decoder learns to recover from its own
        kind of mistakes (held-on or dropped notes) and not only from random ones. The
        acoustic module runs once for both passes."""
        feat, vfeat = self.acoustic(mel)
        if use_own is not None and bool(use_own.any()):
            with torch.no_grad():
                logits0, vel0, _ = self.decoder(feat, vfeat, prev_state, prev_time, prev_velocity)
                prev_state, prev_time, prev_velocity = own_context(
                    logits0.float().argmax(-1), vel0.float(), prev_state, prev_time.float(),
                    prev_velocity.float(), use_own)
        logits, vel, _ = self.decoder(feat, vfeat, prev_state, prev_time, prev_velocity)
        return logits, vel

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def step(self, feat: torch.Tensor, vfeat: torch.Tensor, ar: ARState, sensitivity: float = 0.0
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, ARState]:
        """One greedy frame for N streams. feat (N, 88, H), vfeat (N, 88, Hv).

        ``sensitivity`` is added to the onset and re-onset logits on top of the model's own
        calibration (``cfg.state_bias``): > 0 finds more notes, < 0 fewer (see
        :func:`onset_bias`). Returns (state (N, 88) long, probabilities (N, 88, 5), velocity
        /128 (N, 88), new ARState).
        """
        logits, vel, hidden = self.decoder(
            feat[:, None], vfeat[:, None], ar.prev_state[:, None],
            (ar.time / TIME_SINCE_ONSET_CAP)[:, None], ar.onset_velocity[:, None], ar.hidden,
        )
        logits, vel = logits[:, 0], vel[:, 0]
        probs = torch.softmax(logits.float() + self.decoding_bias(sensitivity), dim=-1)
        state = probs.argmax(dim=-1)
        time, onset_vel = next_context(state, vel, ar.time, ar.onset_velocity)
        return state, probs, vel, ARState(state, time, onset_vel, hidden)

    def greedy_weights(self, sensitivity: float = 0.0):
        """The decoder's weights rearranged for the fast greedy loop (:mod:`.greedy`), built
        once per sensitivity and rebuilt when the weights change (training, loading)."""
        from .greedy import GreedyWeights

        version = tuple(p._version for p in self.decoder.parameters())
        cache = getattr(self, "_greedy_cache", None)
        if cache is None or cache[0] != version or cache[1] != self.cfg.state_bias:
            cache = self._greedy_cache = (version, self.cfg.state_bias, {})
        w = cache[2].get(sensitivity)
        if w is None:
            w = cache[2][sensitivity] = GreedyWeights(self.decoder, self.decoding_bias(sensitivity))
        return w

    @torch.no_grad()
    def run_decoder(self, feat: torch.Tensor, vfeat: torch.Tensor, ar: ARState | None = None,
                    sensitivity: float = 0.0, tick=None, reference: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, ARState]:
        """Greedy autoregressive decoding over T frames of one stream.

        feat (T, 88, H), vfeat (T, 88, Hv) → states (T, 88) uint8, probabilities (T, 88, 5)
        float32, velocity (T, 88) float32, final ARState (to continue with the next chunk).
        ``tick(frames_done)`` is called every few frames (progress, cancel). Runs the fast
        loop of :mod:`.greedy`; ``reference=True`` steps :meth:`step` frame by frame instead
        (the same decisions up to float rounding; kept to check the fast loop against).
        """
        ar = ar or ARState.initial(1)
        T = feat.shape[0]
        if not reference:
            from ..engine.progress import REPORT_EVERY_FRAMES
            from .greedy import run_greedy

            states, probs, vels, state, time, onset_vel, hidden = run_greedy(
                self.greedy_weights(sensitivity), feat, vfeat, ar.prev_state[0], ar.time[0],
                ar.onset_velocity[0], ar.hidden, tick, REPORT_EVERY_FRAMES)
            return states, probs, vels, ARState(state[None], time[None], onset_vel[None], hidden)
        states = torch.empty(T, N_KEYS, dtype=torch.uint8)
        probs = torch.empty(T, N_KEYS, 5)
        vels = torch.empty(T, N_KEYS)
        for t in range(T):
            s, p, v, ar = self.step(feat[t : t + 1], vfeat[t : t + 1], ar, sensitivity)
            states[t], probs[t], vels[t] = s[0], p[0], v[0]
            if tick is not None and (t + 1) % 16 == 0:
                tick(t + 1)
        return states, probs, vels, ar
