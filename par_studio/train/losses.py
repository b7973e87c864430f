"""Losses of the PAR recipe: focal loss on the 5 states, MSE on velocity at onset frames."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """logits (..., 5), target (...) int64 → mean of -α_t (1-p_t)^γ log p_t.

    ``class_weights`` (5,) is the α of each target state (default all 1, the paper's loss);
    weighting the rare onset states up speeds up learning them on a small compute budget."""
    logp = F.log_softmax(logits, dim=-1)
    logp_t = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    p_t = logp_t.exp()
    loss = -(1.0 - p_t) ** gamma * logp_t
    if class_weights is not None:
        loss = loss * class_weights.to(loss.device)[target]
    return loss.mean()


def onset_velocity_loss(pred: torch.Tensor, target: torch.Tensor, onset: torch.Tensor) -> torch.Tensor:
    """MSE of velocity/128 over onset frames only; 0 when a batch has none."""
    if not onset.any():
        return pred.sum() * 0.0
    return F.mse_loss(pred[onset], target[onset])
