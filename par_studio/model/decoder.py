"""Pitchwise LSTMs with the enhanced recursive context.

The 88 keys share one set of weights: batch and pitch are folded together (B·88 sequences).
Inputs per key and frame: the acoustic feature (H) and a 4-dim context made from the previous
frame's state (2-dim embedding), its time since onset (/313) and its onset velocity (/128).
"""

from __future__ import annotations

import torch
from torch import nn

from ..constants import (
    N_STATES,
    STATE_ONSET,
    STATE_REONSET,
    STATE_SUSTAIN,
    TIME_SINCE_ONSET_CAP,
)
from .config import ModelConfig


class RecursiveContext(nn.Module):
    """(prev_state int, prev_time /313, prev_velocity /128), each (...,) → context (..., 4)."""

    def __init__(self, dim: int = 4):
        super().__init__()
        self.embed = nn.Embedding(N_STATES, 2)
        self.scalars = nn.Sequential(nn.Linear(2, 8), nn.ReLU())
        self.out = nn.Sequential(nn.Linear(2 + 8, dim), nn.ReLU())

    def forward(self, state: torch.Tensor, time: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        s = self.embed(state)
        x = self.scalars(torch.stack([time, velocity], dim=-1))
        return self.out(torch.cat([s, x], dim=-1))


class LSTMState:
    """(h, c) of the two LSTMs for N·88 key sequences; an immutable pair of tuples."""

    __slots__ = ("state", "velocity")

    def __init__(self, state, velocity):
        self.state = state
        self.velocity = velocity


class PitchwiseDecoder(nn.Module):
    """State LSTM (2 layers) and velocity LSTM (1 layer), shared over the 88 keys."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.context = RecursiveContext(cfg.context_dim)
        self.lstm = nn.LSTM(cfg.pitch_features + cfg.context_dim, cfg.lstm_hidden,
                            num_layers=cfg.lstm_layers, batch_first=True)
        self.state_head = nn.Linear(cfg.lstm_hidden, N_STATES)
        self.vel_lstm = nn.LSTM(cfg.vel_features + cfg.pitch_features + cfg.context_dim,
                                cfg.vel_hidden, num_layers=1, batch_first=True)
        self.vel_head = nn.Linear(cfg.vel_hidden, 1)

    def forward(self, feat: torch.Tensor, vfeat: torch.Tensor, prev_state: torch.Tensor,
                prev_time: torch.Tensor, prev_velocity: torch.Tensor, hidden: LSTMState | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """Teacher-forced (or one-step) pass.

        feat (B, T, 88, H), vfeat (B, T, 88, Hv); prev_* (B, T, 88) context inputs.
        Returns state logits (B, T, 88, 5), velocity /128 in [0, 1] (B, T, 88), LSTM state.
        """
        B, T, K, _ = feat.shape
        ctx = self.context(prev_state, prev_time, prev_velocity)  # (B, T, 88, 4)
        fold = lambda x: x.permute(0, 2, 1, 3).reshape(B * K, T, -1)  # noqa: E731
        x = torch.cat([fold(feat), fold(ctx)], dim=-1)
        h_s = hidden.state if hidden is not None else None
        h_v = hidden.velocity if hidden is not None else None
        y, h_s = self.lstm(x, h_s)
        logits = self.state_head(y).reshape(B, K, T, N_STATES).permute(0, 2, 1, 3)
        vx = torch.cat([fold(vfeat), fold(feat).detach(), fold(ctx)], dim=-1)
        vy, h_v = self.vel_lstm(vx, h_v)
        vel = torch.sigmoid(self.vel_head(vy)).reshape(B, K, T).permute(0, 2, 1)
        return logits, vel, LSTMState(h_s, h_v)


def next_context(state: torch.Tensor, velocity: torch.Tensor, time: torch.Tensor, onset_velocity: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy context update after a frame.

    state: (...,) argmax state of this frame; velocity: (...,) predicted velocity /128;
    time: (...,) frames since onset before this frame (not normalised); onset_velocity: (...,).
    Returns (time, onset_velocity) after this frame: onset/re-onset → 1 and the predicted
    velocity; sustain → time + 1 (capped) and unchanged; otherwise 0 and 0.
    """
    onset = (state == STATE_ONSET) | (state == STATE_REONSET)
    sustain = state == STATE_SUSTAIN
    zero = torch.zeros_like(time)
    new_time = torch.where(onset, torch.ones_like(time),
                           torch.where(sustain, torch.clamp(time + 1, max=TIME_SINCE_ONSET_CAP), zero))
    new_vel = torch.where(onset, velocity, torch.where(sustain, onset_velocity, zero))
    return new_time, new_vel


def own_context(states: torch.Tensor, velocity: torch.Tensor, prev_state: torch.Tensor,
                prev_time: torch.Tensor, prev_velocity: torch.Tensor, use_own: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training context in which some key sequences follow the model's own decisions.

    states (B, T, 88) long and velocity (B, T, 88) /128: the model's greedy outputs of a
    teacher-forced pass; prev_* (B, T, 88): the reference context (prev_time normalised by
    the cap, as in :class:`~par_studio.notes.Labels`); use_own (B, 88) bool: which key
    sequences take the model's states as their previous states. Time since onset and onset
    velocity are re-derived along each sequence with :func:`next_context`, from the context
    at the first frame (the reference's, from before the crop). Returns new prev_* tensors.
    """
    B, T, K = states.shape
    own = use_own[:, None, :].expand(B, T, K)
    ps = prev_state.clone()
    ps[:, 1:] = torch.where(own[:, 1:], states[:, :-1], prev_state[:, 1:])
    pt = prev_time.clone()
    pv = prev_velocity.clone()
    time = prev_time[:, 0] * TIME_SINCE_ONSET_CAP
    onset_vel = prev_velocity[:, 0]
    for t in range(1, T):
        s = ps[:, t]  # the state of frame t-1 as this context sees it
        v = torch.where(use_own, velocity[:, t - 1], prev_velocity[:, t])
        time, onset_vel = next_context(s, v, time, onset_vel)
        pt[:, t] = torch.where(use_own, time / TIME_SINCE_ONSET_CAP, prev_time[:, t])
        pv[:, t] = torch.where(use_own, onset_vel, prev_velocity[:, t])
    return ps, pt, pv
