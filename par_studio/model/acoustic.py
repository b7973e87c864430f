"""Acoustic module: three residual conv blocks with frequency FiLM, then per-pitch features.

Shapes: log-mel (B, n_mels, T) → CNN map (B, C, F', T) with F' = n_mels // 4 →
state features (B, T, 88, H) and velocity features (B, T, 88, Hv).

Each conv is 3 bins × w frames with zero "same" padding in time, so a width-3 conv sees one
past and one future frame, a width-2 conv one past frame (causal) and a width-1 conv neither.
The streaming engine reuses the very same layers on cached columns (see
:meth:`ConvBlock.forward` with ``time_padding=False``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..constants import N_KEYS, conv_time_padding
from .config import ModelConfig
from .film import FrequencyFiLM


class ConvBlock(nn.Module):
    """conv(3×w1) → ReLU → FiLM → conv(3×w2) → BatchNorm → FiLM (same module) → + conv1 → ReLU."""

    def __init__(self, c_in: int, c_out: int, n_bins: int, widths: tuple[int, int], film_hidden: int):
        super().__init__()
        self.widths = widths
        #: (past, future) frames each of the two convs sees beside the present one
        self.time_padding = (conv_time_padding(widths[0]), conv_time_padding(widths[1]))
        self.conv1 = nn.Conv2d(c_in, c_out, (3, widths[0]), padding=(1, 0))
        self.conv2 = nn.Conv2d(c_out, c_out, (3, widths[1]), padding=(1, 0), bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.film = FrequencyFiLM(c_out, n_bins, film_hidden)

    @staticmethod
    def _pad_time(x: torch.Tensor, past_future: tuple[int, int]) -> torch.Tensor:
        return F.pad(x, past_future) if any(past_future) else x

    def forward(self, x: torch.Tensor, time_padding: bool = True) -> torch.Tensor:
        """x (B, C_in, F, T) → (B, C_out, F, T) with time padding; without it the output
        loses the frames each conv sees beyond the present one, at the start (past) and at the
        end (future) (valid convolution in time)."""
        g, b = self.film.coefficients()
        pad1, (past2, future2) = self.time_padding
        if time_padding:
            x = self._pad_time(x, pad1)
        c1 = self.conv1(x)
        del x
        trim = not time_padding and (past2 or future2)  # align the residual with conv2's output
        if not torch.is_grad_enabled():
            # inference: the same arithmetic in place, so at most three maps of this size are
            # alive at once instead of six (the CNN's working memory per chunk)
            y = torch.relu(c1).mul_(g).add_(b)
            if time_padding:
                y = self._pad_time(y, (past2, future2))
            y = self.bn(self.conv2(y)).mul_(g).add_(b)
            if trim:
                c1 = c1[..., past2 : c1.shape[-1] - future2]
            return y.add_(c1).relu_()
        y = torch.relu(c1) * g + b
        if time_padding:
            y = self._pad_time(y, (past2, future2))
        y = self.conv2(y)
        y = self.bn(y) * g + b
        if trim:
            c1 = c1[..., past2 : c1.shape[-1] - future2]
        return torch.relu(y + c1)


class PitchProjection(nn.Module):
    """CNN map (B, C, F', T) → per-pitch features (B, T, 88, out).

    "fc": 1×1 conv C→r, then one wide linear map r·F' → 88·out (PAR).
    "grouped": 1×1 conv C→r, a linear map r·F' → 88·h, then per-pitch layers h→out that
    the 88 keys do not share (a grouped 1-d conv) (PARcompact).
    """

    def __init__(self, cfg: ModelConfig, n_bins: int, out: int, hidden: int):
        super().__init__()
        self.kind = cfg.projection
        self.out = out
        self.reduce = nn.Conv2d(cfg.channels, cfg.proj_channels, 1)
        flat = cfg.proj_channels * n_bins
        if self.kind == "fc":
            self.linear = nn.Linear(flat, N_KEYS * out)
            self.grouped = None
        else:
            h = hidden
            self.linear = nn.Linear(flat, N_KEYS * h)
            self.grouped = nn.Conv1d(N_KEYS * h, N_KEYS * out, 1, groups=N_KEYS)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, _, T = x.shape
        y = torch.relu(self.reduce(x))  # (B, r, F', T)
        y = y.permute(0, 3, 1, 2).reshape(B, T, -1)  # (B, T, r·F')
        y = torch.relu(self.linear(self.dropout(y)))  # (B, T, 88·h)
        if self.grouped is not None:
            # The grouped 1×1 conv as one batched matmul over the 88 keys: the same weights
            # and result as ``self.grouped(y[..., None])``, ~50× faster than Conv1d with 88
            # groups for a single frame (the streaming hop).
            w = self.grouped.weight.view(N_KEYS, -1, self.grouped.in_channels // N_KEYS)  # (88, o, h)
            yk = y.reshape(B * T, N_KEYS, -1).transpose(0, 1)  # (88, B·T, h)
            out = torch.baddbmm(self.grouped.bias.view(N_KEYS, 1, -1), yk, w.transpose(1, 2))
            y = torch.relu(out.transpose(0, 1)).reshape(B, T, -1)
        return self.dropout(y).reshape(B, T, N_KEYS, self.out)


class AcousticModel(nn.Module):
    """Log-mel (B, n_mels, T) → (state features (B, T, 88, H), velocity features (B, T, 88, Hv))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        C, w = cfg.channels, cfg.conv_widths
        f1, f2, f3 = cfg.n_mels, cfg.n_mels // 2, cfg.n_mels // 4
        self.blocks = nn.ModuleList([
            ConvBlock(1, C, f1, (w[0], w[1]), cfg.film_hidden),
            ConvBlock(C, C, f2, (w[2], w[3]), cfg.film_hidden),
            ConvBlock(C, C, f3, (w[4], w[5]), cfg.film_hidden),
        ])
        self.dropout = nn.Dropout(cfg.dropout)
        self.state_proj = PitchProjection(cfg, f3, cfg.pitch_features, cfg.proj_hidden)
        self.vel_proj = PitchProjection(cfg, f3, cfg.vel_features, cfg.vel_proj_hidden)

    def cnn(self, mel: torch.Tensor, time_padding: bool = True) -> torch.Tensor:
        """(B, n_mels, T) → (B, C, n_mels//4, T') where T' = T with padding."""
        x = mel.unsqueeze(1)
        for i, block in enumerate(self.blocks):
            x = block(x, time_padding=time_padding)
            if i < 2:
                x = F.max_pool2d(x, (2, 1))
            x = self.dropout(x)
        return x

    def heads(self, cnn_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.state_proj(cnn_out), self.vel_proj(cnn_out)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.cnn(mel))
