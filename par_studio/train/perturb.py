"""Perturbed teacher forcing: the LSTM sees a noisy version of the true previous frame so that
it learns to recover from its own mistakes at inference time."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..constants import N_STATES


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
