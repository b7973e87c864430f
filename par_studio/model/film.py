"""Frequency-conditioned FiLM: γ[c, f]·x + β[c, f], conditioned on the bin index f / F."""

from __future__ import annotations

import torch
from torch import nn


def _mlp(hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(1, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, out),
    )


class FrequencyFiLM(nn.Module):
    """FiLM whose condition is the normalised frequency bin, not the audio.

    Two MLPs (1→16→16→16→C) map f/F to γ and β; the same at every time step, so the
    same filters can act differently in the bass and the treble. Input (B, C, F, T).
    γ is parametrised as 1 + MLP so that an untrained layer starts near identity.
    """

    def __init__(self, channels: int, n_bins: int, hidden: int = 16):
        super().__init__()
        self.n_bins = n_bins
        self.gamma = _mlp(hidden, channels)
        self.beta = _mlp(hidden, channels)
        with torch.device("cpu"):  # not through meta decompositions (see features.LogMel)
            condition = (torch.arange(n_bins, dtype=torch.float32) / n_bins).unsqueeze(1)
        self.register_buffer("condition", condition, persistent=False)

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """γ, β of shape (1, C, F, 1)."""
        g = 1.0 + self.gamma(self.condition)  # (F, C)
        b = self.beta(self.condition)
        return g.T[None, :, :, None], b.T[None, :, :, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, b = self.coefficients()
        return x * g + b
