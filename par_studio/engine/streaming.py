"""Incremental (streaming) transcription: push audio blocks, get frames and notes as they are found.

Gives exactly the offline engine's states and notes for the same audio, whatever the block
sizes, because every column is computed from exactly the inputs a single offline pass uses:

* **Front end.** Samples go into a history buffer that starts with ``WINDOW_HALF`` zeros (the
  offline zero padding at the start). Frame ``t`` (window ``[t*512-2048, t*512+2048)``) is
  computed as soon as its last sample has arrived; ``finish()`` pads zeros at the end, as
  :meth:`LogMel.from_audio` does.
* **CNN.** Each of the six time convolutions keeps a cache of its last ``w-1`` input columns
  (``past`` frames before and ``future`` frames after an output column; width 2 is causal)
  and computes only the new output columns with the model's own layers (``conv1``, ``conv2``,
  ``bn`` and the FiLM coefficients of each :class:`ConvBlock`, in the same order as
  ``ConvBlock.forward``). Offline "same" padding pads *each conv's input* with zero columns –
  including the second conv's input inside a block – so each cache is seeded with zero columns
  and ``finish()`` appends zero columns per conv. (``block(x, time_padding=False)`` on cached
  block inputs is not enough when the second width is 3: it would feed
  ``FiLM(ReLU(conv1(0)))`` instead of 0 to the second conv at the signal edges.)
* **Decoder.** ``model.step`` per frame, carrying the LSTM and recursive-context state.
* **Notes.** An incremental decoder with the semantics of :func:`par_studio.notes.decode`
  (a note starts at every onset/re-onset frame and lasts while the state is sustain);
  :meth:`StreamingEngine.result` runs the shared decoder itself over the stored frames.
* **Silence gate.** A log-mel column whose whole window is digital silence is the constant
  column ``LogMel(zeros)``; a conv output whose whole input window is that steady silent
  column is the cached output the layer gives for it (computed once, with the same code), so
  no convolution runs. The decoder step is skipped once its input is the cached silent feature
  and the step has reached an exact fixed point (the new AR state, LSTM ``h``/``c`` included,
  is bit-for-bit the previous one): from then on every step would return the same output. So
  the gate never changes the result; it only stops work after the state has settled.

The engine is single-threaded and has no Qt; the GUI/CLI drive it from one thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ..constants import (
    FRAME_SECONDS,
    HOP_LENGTH,
    MIN_MIDI,
    N_FFT,
    N_KEYS,
    N_STATES,
    SAMPLE_RATE,
    STATE_ONSET,
    STATE_REONSET,
    STATE_SUSTAIN,
    VELOCITY_SCALE,
    WINDOW_HALF,
)
from ..features import n_frames
from ..model.par import ARState, PARModel
from ..notes import Notes, decode
from .offline import Transcription

_HISTORY_CHUNK = 4096  # frames per stored history chunk
MAX_CYCLE = 4  # longest decoder cycle on silence that the gate detects


# --------------------------------------------------------------------------- CNN streaming
class _BlockStream:
    """One :class:`ConvBlock` on a stream of columns (1, C, F, k), plus the pool after it.

    Each column carries a flag "steady silence" (it equals this stage's cached silent column).
    """

    def __init__(self, block, pool: bool, silent_in: torch.Tensor):
        self.block = block
        self.pool = pool
        (self.l1, self.r1), (self.l2, self.r2) = block.time_padding  # (past, future) frames of each conv
        self.p1, self.p2 = self.l1 + self.r1, self.l2 + self.r2  # cached columns (w - 1)
        g, b = block.film.coefficients()  # constant in eval mode: computed once
        self.g, self.b = g.detach().clone(), b.detach().clone()
        c_in, n_bins = silent_in.shape[1], silent_in.shape[2]
        c_out = block.conv1.out_channels
        self._zero_x = torch.zeros(1, c_in, n_bins, 1)
        self._zero_y = torch.zeros(1, c_out, n_bins, 1)
        # caches, seeded with the offline zero padding at the start (the past side)
        self.x = self._zero_x.repeat(1, 1, 1, self.l1)
        self.xf: list[bool] = [False] * self.l1
        self.y = self._zero_y.repeat(1, 1, 1, self.l2)
        self.c1 = self._zero_y.repeat(1, 1, 1, self.l2)  # aligned with self.y (dummy at padding)
        self.yf: list[bool] = [False] * self.l2
        # steady-silence outputs of this block, computed once with the same code
        sx = silent_in.expand(-1, -1, -1, self.p1 + 1)
        sc1 = self._conv1(sx)
        sy = self._film1(sc1)
        sout = self._out(sy.expand(-1, -1, -1, self.p2 + 1), sc1)
        self.silent_c1, self.silent_y = sc1, sy
        self.silent_out = F.max_pool2d(sout, (2, 1)) if pool else sout

    # the block's own layers, exactly as ConvBlock.forward combines them
    def _conv1(self, x):
        return self.block.conv1(x)

    def _film1(self, c1):
        return torch.relu(c1) * self.g + self.b

    def _out(self, y, c1_centre):
        z = self.block.conv2(y)
        z = self.block.bn(z) * self.g + self.b
        return torch.relu(z + c1_centre)

    @staticmethod
    def _window_flags(flags: list[bool], p: int, n_out: int) -> list[bool]:
        """Output j is steady silence when its whole window of p + 1 inputs is."""
        if p == 0:
            return flags[:n_out]
        return [all(flags[j : j + p + 1]) for j in range(n_out)]

    def push(self, x: torch.Tensor, xf: list[bool]) -> tuple[torch.Tensor | None, list[bool]]:
        """New input columns → new output columns (may be fewer while the caches fill)."""
        # --- conv1 (+ FiLM): valid conv over [cached x, new x]
        X = torch.cat([self.x, x], dim=-1) if self.p1 else x
        Xf = self.xf + xf
        n1 = X.shape[-1] - self.p1
        if n1 > 0:
            f1 = self._window_flags(Xf, self.p1, n1)
            if all(f1):
                c1 = self.silent_c1.expand(-1, -1, -1, n1)
                y = self.silent_y.expand(-1, -1, -1, n1)
            else:
                c1 = self._conv1(X)
                y = self._film1(c1)
            self.x, self.xf = X[..., n1:], Xf[n1:]
        else:
            self.x, self.xf = X, Xf
            return None, []
        return self._conv2(y, c1, f1, gate=True)

    def _conv2(self, y, c1, f1, gate: bool) -> tuple[torch.Tensor | None, list[bool]]:
        """conv2 (+ BN, FiLM, residual, pool) over [cached y, new y]. With ``gate``, windows of
        steady silence reuse the cached silent output; without it (end padding) every column is
        computed and flagged not silent."""
        Y = torch.cat([self.y, y], dim=-1) if self.p2 else y
        C1 = torch.cat([self.c1, c1], dim=-1) if self.p2 else c1
        Yf = self.yf + f1
        n2 = Y.shape[-1] - self.p2
        if n2 <= 0:
            self.y, self.c1, self.yf = Y, C1, Yf
            return None, []
        f2 = self._window_flags(Yf, self.p2, n2) if gate else [False] * n2
        if all(f2):
            out = self.silent_out.expand(-1, -1, -1, n2)
        else:
            out = self._out(Y, C1[..., self.l2 : self.l2 + n2])
            if self.pool:
                out = F.max_pool2d(out, (2, 1))
        self.y, self.c1, self.yf = Y[..., n2:], C1[..., n2:], Yf[n2:]
        return out, f2

    def finish_conv1(self) -> tuple[torch.Tensor | None, list[bool]]:
        """Append conv1's end padding: returns the block outputs this releases."""
        if self.r1 == 0:
            return None, []
        X = torch.cat([self.x, self._zero_x.repeat(1, 1, 1, self.r1)], dim=-1)
        Xf = self.xf + [False] * self.r1
        self.x, self.xf = X[..., :0], []
        n1 = X.shape[-1] - self.p1
        if n1 <= 0:
            return None, []
        c1 = self._conv1(X)
        return self._after_conv1(c1, self._window_flags(Xf, self.p1, n1))

    def _after_conv1(self, c1, f1):
        return self._conv2(self._film1(c1), c1, f1, gate=False)

    def finish_conv2(self) -> tuple[torch.Tensor | None, list[bool]]:
        """Append conv2's end padding (zero y columns)."""
        if self.r2 == 0 or self.y.shape[-1] <= self.l2:
            return None, []
        Y = torch.cat([self.y, self._zero_y.repeat(1, 1, 1, self.r2)], dim=-1)
        C1 = torch.cat([self.c1, self._zero_y.repeat(1, 1, 1, self.r2)], dim=-1)
        n2 = Y.shape[-1] - self.p2
        out = self._out(Y, C1[..., self.l2 : self.l2 + n2])
        if self.pool:
            out = F.max_pool2d(out, (2, 1))
        self.y, self.c1, self.yf = Y[..., :0], C1[..., :0], []
        return out, [False] * n2


# --------------------------------------------------------------------------- outputs
@dataclass
class StreamUpdate:
    """What one :meth:`StreamingEngine.push` (or ``finish``) produced.

    first_frame: index of the first new frame; states (k, 88) uint8; probabilities (k, 88, 5)
    float32; velocity (k, 88) float32 velocity/128; finished: notes that ended in these
    frames; sounding: notes still sounding after the last frame (offset = end of stream so far).
    """

    first_frame: int
    states: np.ndarray
    probabilities: np.ndarray
    velocity: np.ndarray
    finished: Notes = field(default_factory=Notes)
    sounding: Notes = field(default_factory=Notes)

    @property
    def n_frames(self) -> int:
        return int(self.states.shape[0])


class _History:
    """Growable per-frame storage in fixed-size chunks (no quadratic copying)."""

    def __init__(self, shape: tuple[int, ...], dtype):
        self.shape, self.dtype = shape, dtype
        self.chunks: list[np.ndarray] = []
        self.fill = _HISTORY_CHUNK

    def append(self, rows: np.ndarray) -> None:
        i = 0
        while i < len(rows):
            if self.fill == _HISTORY_CHUNK:
                self.chunks.append(np.empty((_HISTORY_CHUNK,) + self.shape, self.dtype))
                self.fill = 0
            n = min(len(rows) - i, _HISTORY_CHUNK - self.fill)
            self.chunks[-1][self.fill : self.fill + n] = rows[i : i + n]
            self.fill += n
            i += n

    def array(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros((0,) + self.shape, self.dtype)
        parts = self.chunks[:-1] + [self.chunks[-1][: self.fill]]
        return np.concatenate(parts, axis=0)


class _NoteTracker:
    """Incremental :func:`decode`: same onsets, offsets and velocities, frame by frame."""

    def __init__(self, offset_shift: float = 0.0):
        self.onset = np.full(N_KEYS, -1, np.int64)  # open note's onset frame, -1 if none
        self.vel = np.zeros(N_KEYS, np.int16)
        self.offset_shift = float(offset_shift)  #: seconds added to notes ended by release

    def feed(self, t0: int, states: np.ndarray, velocity: np.ndarray) -> Notes:
        on_l, off_l, p_l, v_l = [], [], [], []
        for i in range(states.shape[0]):
            s, t = states[i], t0 + i
            open_ = self.onset >= 0
            starts = (s == STATE_ONSET) | (s == STATE_REONSET)
            if open_.any():
                ends = open_ & (s != STATE_SUSTAIN)
                if ends.any():
                    k = np.flatnonzero(ends)
                    on_l.append(self.onset[k] * FRAME_SECONDS)
                    off_l.append(t * FRAME_SECONDS + self.offset_shift * ~starts[k])
                    p_l.append(k); v_l.append(self.vel[k])
                    self.onset[k] = -1
            if starts.any():
                k = np.flatnonzero(starts)
                v = velocity[i, k] * VELOCITY_SCALE  # float32, as decode computes it
                self.onset[k] = t
                self.vel[k] = np.clip(np.round(v), 1, 127).astype(np.int16)
        if not on_l:
            return Notes()
        return Notes(np.concatenate(on_l), np.concatenate(off_l),
                     np.concatenate(p_l) + MIN_MIDI, np.concatenate(v_l)).sorted()

    def sounding(self, end_frame: int) -> Notes:
        k = np.flatnonzero(self.onset >= 0)
        return Notes(self.onset[k] * FRAME_SECONDS, np.full(len(k), end_frame * FRAME_SECONDS),
                     k + MIN_MIDI, self.vel[k]).sorted()


# --------------------------------------------------------------------------- engine
class StreamingEngine:
    """Push float32 16 kHz mono blocks of any size; get frames and notes incrementally.

    ``keep_history``: store every frame's states/velocity (and probabilities when
    ``keep_probabilities``) for :meth:`result`; turn off for endless live use (notes are still
    collected). ``silence_gate``: skip model work on settled digital silence (exact).
    """

    def __init__(self, model: PARModel, keep_history: bool = True, keep_probabilities: bool = True,
                 silence_gate: bool = True, sensitivity: float = 0.0):
        model.eval()
        self.model = model
        self.sensitivity = float(sensitivity)  #: onset bias on top of the model's (see PARModel.step)
        self.keep_history = keep_history
        self.keep_probabilities = keep_probabilities and keep_history
        self.silence_gate = silence_gate
        self.reset()

    def _build(self) -> None:
        m = self.model
        n_mels = m.cfg.n_mels
        self._silent_mel = m.frontend(torch.zeros(1, 1, N_FFT))[:, None]  # (1, 1, n_mels, 1)
        self._blocks: list[_BlockStream] = []
        x = self._silent_mel
        for i, block in enumerate(m.acoustic.blocks):
            bs = _BlockStream(block, pool=i < 2, silent_in=x)
            self._blocks.append(bs)
            x = bs.silent_out
        feat, vfeat = m.acoustic.heads(x)
        self._silent_feat, self._silent_vfeat = feat[0, 0:1].clone(), vfeat[0, 0:1].clone()
        assert self._silent_mel.shape[2] == n_mels

    def reset(self) -> None:
        """Start a new stream (same model)."""
        with torch.inference_mode():
            self._build()
        self._buf = np.zeros(WINDOW_HALF + 8 * HOP_LENGTH, np.float32)
        self._buf_n = WINDOW_HALF  # the start padding
        self._buf_start = -WINDOW_HALF  # absolute sample index of _buf[0]
        self._zero_run_start = -WINDOW_HALF  # absolute index where the current run of zeros began
        self._next_mel = 0
        self.samples_pushed = 0
        self.frames_emitted = 0
        self.finished = False
        self._ar = ARState.initial(1)
        # exact fixed point / short cycle of the decoder on silent input (see _watch_cycle)
        self._recent: list[tuple[ARState, tuple]] = []  # (AR state after, outputs) of silent steps
        self._cycle: list[tuple[ARState, tuple]] = []
        self._cycle_pos = 0
        self._tracker = _NoteTracker(self.model.cfg.offset_shift_s)
        self._notes: list[Notes] = []
        self._states = _History((N_KEYS,), np.uint8)
        self._vel = _History((N_KEYS,), np.float32)
        self._probs = _History((N_KEYS, N_STATES), np.float16)
        self.stats = {"frames_gated_cnn": 0, "steps_skipped": 0}

    # ------------------------------------------------------------------ info
    @property
    def latency_ms(self) -> int:
        """Algorithmic latency: 128 ms window half + 32 ms per future frame of the CNN."""
        return self.model.latency_ms

    @property
    def lookahead_samples(self) -> int:
        return WINDOW_HALF + HOP_LENGTH * self.model.cfg.future_frames

    def expected_frames(self, samples: int | None = None) -> int:
        """Frames the engine has emitted after ``samples`` pushed samples (before finish)."""
        n = self.samples_pushed if samples is None else samples
        return max(0, (n - self.lookahead_samples) // HOP_LENGTH + 1)

    # ------------------------------------------------------------------ input
    def _append(self, x: np.ndarray) -> None:
        need = self._buf_n + len(x)
        if need > len(self._buf):
            nb = np.zeros(max(need, 2 * len(self._buf)), np.float32)
            nb[: self._buf_n] = self._buf[: self._buf_n]
            self._buf = nb
        self._buf[self._buf_n : need] = x
        self._buf_n = need

    def push(self, block) -> StreamUpdate:
        """Push a block of float32 mono 16 kHz samples (any size, may be empty)."""
        if self.finished:
            raise RuntimeError("push() after finish(); call reset() to start a new stream")
        x = np.asarray(block, np.float32).reshape(-1)
        if len(x):
            nz = np.flatnonzero(x)
            if len(nz):
                self._zero_run_start = self.samples_pushed + int(nz[-1]) + 1
            self._append(x)
            self.samples_pushed += len(x)
        end = self.samples_pushed
        ready = 0 if end < WINDOW_HALF else (end - WINDOW_HALF) // HOP_LENGTH + 1
        with torch.inference_mode():
            return self._process(ready - self._next_mel, finishing=False)

    def finish(self) -> StreamUpdate:
        """End of input: pad zeros (samples and conv columns) like offline; emit the rest."""
        if self.finished:
            return self._empty_update()
        total = n_frames(self.samples_pushed)
        pad = (total - 1) * HOP_LENGTH + WINDOW_HALF - self.samples_pushed
        if pad > 0:
            self._append(np.zeros(pad, np.float32))  # zeros past the end; not "pushed" samples
        with torch.inference_mode():
            upd = self._process(total - self._next_mel, finishing=True)
        self.finished = True
        return upd

    def _empty_update(self) -> StreamUpdate:
        return StreamUpdate(self.frames_emitted, np.zeros((0, N_KEYS), np.uint8),
                            np.zeros((0, N_KEYS, N_STATES), np.float32), np.zeros((0, N_KEYS), np.float32),
                            Notes(), self._tracker.sounding(self.frames_emitted))

    # ------------------------------------------------------------------ pipeline
    def _mel_columns(self, k: int) -> tuple[torch.Tensor, list[bool]]:
        """Log-mel of the next k frames → (1, 1, n_mels, k), silence flags; drops used samples."""
        t0 = self._next_mel
        start = t0 * HOP_LENGTH - WINDOW_HALF - self._buf_start
        span = (k - 1) * HOP_LENGTH + N_FFT
        seg = self._buf[start : start + span]
        flags = [(t0 + i) * HOP_LENGTH - WINDOW_HALF >= self._zero_run_start for i in range(k)]
        # a window counts as silent only if it lies wholly in pushed (or padding) zeros
        if self.silence_gate and all(flags):
            mel = self._silent_mel.expand(-1, -1, -1, k)
        else:
            frames = np.lib.stride_tricks.sliding_window_view(seg, N_FFT)[::HOP_LENGTH]
            mel = self.model.frontend(torch.from_numpy(np.array(frames))[None])[:, None]
            if not self.silence_gate:
                flags = [False] * k
        self._next_mel += k
        # drop samples no future frame needs
        drop = self._next_mel * HOP_LENGTH - WINDOW_HALF - self._buf_start
        if drop > 0:
            rest = self._buf_n - drop
            self._buf[:rest] = self._buf[drop : self._buf_n]
            self._buf_n = rest
            self._buf_start += drop
        return mel, flags

    def _process(self, k: int, finishing: bool) -> StreamUpdate:
        outs: list[tuple[torch.Tensor, list[bool]]] = []
        if k > 0:
            x, f = self._mel_columns(k)
            if not self.silence_gate:
                f = [False] * len(f)
        else:
            x, f = None, []
        for i, bs in enumerate(self._blocks):
            if x is not None and x.shape[-1]:
                x, f = bs.push(x, f)
            else:
                x, f = None, []
            if finishing:
                parts = [(x, f)] if x is not None else []
                o, of = bs.finish_conv1()
                if o is not None:
                    parts.append((o, of))
                o, of = bs.finish_conv2()
                if o is not None:
                    parts.append((o, of))
                if parts:
                    x = torch.cat([p[0] for p in parts], dim=-1)
                    f = sum((p[1] for p in parts), [])
                else:
                    x, f = None, []
        if x is None or x.shape[-1] == 0:
            return self._empty_update()
        return self._decode(x, f)

    def _decode(self, cnn: torch.Tensor, flags: list[bool]) -> StreamUpdate:
        k = cnn.shape[-1]
        if all(flags):
            feat = self._silent_feat[None].expand(-1, k, -1, -1)
            vfeat = self._silent_vfeat[None].expand(-1, k, -1, -1)
            self.stats["frames_gated_cnn"] += k
        else:
            feat, vfeat = self.model.acoustic.heads(cnn)
        states = np.empty((k, N_KEYS), np.uint8)
        probs = np.empty((k, N_KEYS, N_STATES), np.float32)
        vels = np.empty((k, N_KEYS), np.float32)
        for t in range(k):
            silent = flags[t] and self.silence_gate
            if silent and self._cycle:
                # settled: the step is periodic in its exact AR state, replay its outputs
                self._ar, (s, p, v) = self._cycle[self._cycle_pos]
                self._cycle_pos = (self._cycle_pos + 1) % len(self._cycle)
                self.stats["steps_skipped"] += 1
            else:
                ft = self._silent_feat if silent else feat[0, t : t + 1]
                vt = self._silent_vfeat if silent else vfeat[0, t : t + 1]
                s, p, v, self._ar = self.model.step(ft, vt, self._ar, self.sensitivity)
                s, p, v = s[0].numpy().astype(np.uint8), p[0].numpy(), v[0].numpy()
                if silent:
                    self._watch_cycle((s, p, v))
                else:
                    self._recent.clear()
                    self._cycle = []
            states[t], probs[t], vels[t] = s, p, v
        t0 = self.frames_emitted
        self.frames_emitted += k
        if self.keep_history:
            self._states.append(states)
            self._vel.append(vels)
            if self.keep_probabilities:
                self._probs.append(probs.astype(np.float16))
        finished = self._tracker.feed(t0, states, vels)
        if len(finished):
            self._notes.append(finished)
            if len(self._notes) >= 256:  # keep an hour of notes compact: one set of arrays
                self._notes = [Notes.concat(self._notes)]
        return StreamUpdate(t0, states, probs, vels, finished, self._tracker.sounding(self.frames_emitted))

    def _watch_cycle(self, out: tuple) -> None:
        """After a step on the silent feature: if the new AR state equals, bit for bit, the
        state P ≤ MAX_CYCLE steps ago, every later silent step repeats the last P outputs
        (the step is a deterministic function of its input and AR state): replay them."""
        ar = self._ar
        for back, (old, _) in enumerate(reversed(self._recent), start=1):
            if _ar_equal(old, ar):
                self._cycle = self._recent[len(self._recent) - back + 1:] + [(ar, out)]
                self._cycle_pos = 0
                self._recent.clear()
                return
        self._recent.append((ar, out))
        if len(self._recent) > MAX_CYCLE:
            self._recent.pop(0)

    # ------------------------------------------------------------------ results
    def notes(self, include_open: bool = True) -> Notes:
        """Every note found so far (open ones end at the last emitted frame)."""
        parts = list(self._notes)
        if include_open:
            parts.append(self._tracker.sounding(self.frames_emitted))
        return Notes.concat(parts)

    def result(self) -> Transcription:
        """The stream so far as a :class:`Transcription` (like the offline one; call after
        :meth:`finish` for the complete result). Needs ``keep_history``."""
        if not self.keep_history:
            raise RuntimeError("result() needs keep_history=True")
        states, vels = self._states.array(), self._vel.array()
        probs = self._probs.array() if self.keep_probabilities else np.zeros((0, N_KEYS, N_STATES), np.float16)
        shift = self.model.cfg.offset_shift_s
        return Transcription(decode(states, vels, offset_shift=shift), states, probs, vels,
                             model=self.model.cfg.preset, offset_shift_s=shift,
                             latency_ms=self.model.latency_ms, duration=self.samples_pushed / SAMPLE_RATE,
                             info={"streaming": True, **self.stats})


def _ar_equal(a: ARState, b: ARState) -> bool:
    if a.hidden is None or b.hidden is None:
        return False
    if not (torch.equal(a.prev_state, b.prev_state) and torch.equal(a.time, b.time)
            and torch.equal(a.onset_velocity, b.onset_velocity)):
        return False
    for x, y in ((a.hidden.state, b.hidden.state), (a.hidden.velocity, b.hidden.velocity)):
        for u, v in zip(x, y):
            if not torch.equal(u, v):
                return False
    return True
