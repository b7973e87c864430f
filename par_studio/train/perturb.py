"""Perturbed teacher forcing: the LSTM sees a noisy version of the true previous frame so that
it learns to recover from its own mistakes at inference time."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..constants import (N_STATES, STATE_OFF, STATE_OFFSET, STATE_SUSTAIN,
                         TIME_SINCE_ONSET_CAP)


def perturb_context(prev_state: torch.Tensor, prev_time: torch.Tensor, prev_velocity: torch.Tensor,
                    state: torch.Tensor, generator: torch.Generator | None = None,
                    p_state: float = 0.1, p_scale: float = 0.3, max_scale: float = 0.2, near: int = 3):
    """(B, T, 88) context tensors → perturbed copies.

    Near notes (frames within ``near`` frames of a non-off label), ``p_state`` of the previous
    states are replaced by random states; ``p_scale`` of the time-since-onset and velocity inputs
    are scaled by 1 ± U(0, max_scale).
    """
    g = generator
    active = (state != 0).float().transpose(1, 2)  # (B, 88, T)
    near_mask = F.max_pool1d(active, 2 * near + 1, stride=1, padding=near).transpose(1, 2) > 0
    replace = (torch.rand(prev_state.shape, generator=g) < p_state) & near_mask
    random_states = torch.randint(0, N_STATES, prev_state.shape, generator=g)
    ps = torch.where(replace, random_states, prev_state)

    def scale(x):
        pick = torch.rand(x.shape, generator=g) < p_scale
        factor = 1.0 + (torch.rand(x.shape, generator=g) * 2 - 1) * max_scale
        return torch.where(pick, x * factor, x)

    return ps, scale(prev_time), scale(prev_velocity)


def latch_note_ends(prev_state: torch.Tensor, prev_time: torch.Tensor, prev_velocity: torch.Tensor,
                    state: torch.Tensor, generator: torch.Generator | None = None,
                    p: float = 0.3, max_frames: int = 62):
    """(B, T, 88) context tensors → copies in which some notes seem to go on after they end.

    The greedy decoder's costliest mistake on an unfamiliar piano is a *latched* note: it keeps
    choosing sustain after the sound has gone, and every later frame's context then says
    "sustain, t frames since onset", which teacher forcing never shows the LSTM after a note's
    end. Here each note end in the crop (a frame after an offset label) is,
    with probability ``p``, replaced by 1..``max_frames`` (uniform) frames of sustain context:
    previous state sustain, time since onset going on counting from the note's last frame
    (capped), the note's onset velocity. Labels are not touched, so the LSTM learns to leave
    such a note (off) as soon as the audio says it is over. A latch stops at the first frame
    whose label is not off (the key's next note). ``state`` (B, T, 88) long: the labels.
    """
    B, T, K = state.shape
    cap = float(TIME_SINCE_ONSET_CAP)
    ps, pt, pv = prev_state.clone(), prev_time.clone(), prev_velocity.clone()
    if p <= 0 or max_frames < 1 or T < 2:
        return ps, pt, pv
    pick = torch.rand(state.shape, generator=generator) < p
    length = torch.randint(1, max_frames + 1, state.shape, generator=generator)
    left = torch.zeros(B, K, dtype=torch.long)
    time = torch.zeros(B, K)
    vel = torch.zeros(B, K)
    for t in range(1, T):
        start = (state[:, t - 1] == STATE_OFFSET) & pick[:, t] & (state[:, t] == STATE_OFF)
        left = torch.where(start, length[:, t], left)
        time = torch.where(start, pt[:, t - 1] * cap, time)
        vel = torch.where(start, pv[:, t - 1], vel)
        on = (left > 0) & (state[:, t] == STATE_OFF)
        left = torch.where(state[:, t] == STATE_OFF, left, torch.zeros_like(left))
        time = torch.where(on, torch.clamp(time + 1, max=cap), time)
        ps[:, t] = torch.where(on, torch.full_like(ps[:, t], STATE_SUSTAIN), ps[:, t])
        pt[:, t] = torch.where(on, time / cap, pt[:, t])
        pv[:, t] = torch.where(on, vel, pv[:, t])
        left = left - on.long()
    return ps, pt, pv
