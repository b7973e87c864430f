"""Parameter and multiply-accumulate counts of a model, per 32 ms frame."""

from __future__ import annotations

import torch
from torch import nn

from ..constants import N_FFT, N_KEYS
from .par import PARModel


def macs_per_frame(model: PARModel, frames: int = 64) -> dict[str, int]:
    """MACs per frame by part: "frontend" (mel matmul; the FFT is not counted), "cnn",
    "projection" (conv/linear layers measured with hooks) and "decoder" (both LSTMs, heads and
    context for all 88 keys, counted from their shapes). "total" sums them."""
    counts = {"cnn": 0, "projection": 0}

    def hook(name):
        def fn(mod, inp, out):
            if isinstance(mod, nn.Conv2d) or isinstance(mod, nn.Conv1d):
                k = mod.weight[0].numel()  # (C_in/groups) × kernel
                counts[name] += out.numel() * k
            elif isinstance(mod, nn.Linear):
                counts[name] += out.numel() * mod.in_features
        return fn

    handles = []
    projections = (model.acoustic.state_proj, model.acoustic.vel_proj)
    # The per-pitch grouped layer may run as a batched matmul on its weights (not through its
    # module, so no hook fires): count it from its shape, 88·h·out per frame.
    grouped = [p.grouped for p in projections if getattr(p, "grouped", None) is not None]
    for name, part in (("cnn", model.acoustic.blocks), ("projection", projections[0]),
                       ("projection", projections[1])):
        for mod in part.modules():
            if isinstance(mod, (nn.Conv2d, nn.Conv1d, nn.Linear)) and not any(mod is g for g in grouped):
                handles.append(mod.register_forward_hook(hook(name)))
    counts["projection"] += frames * sum(g.weight.numel() for g in grouped)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.acoustic(torch.zeros(1, model.cfg.n_mels, frames))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    dec = model.decoder
    lstm = 0
    for l in (dec.lstm, dec.vel_lstm):
        for layer in range(l.num_layers):
            n_in = l.input_size if layer == 0 else l.hidden_size
            lstm += 4 * l.hidden_size * (n_in + l.hidden_size)
    heads = dec.state_head.in_features * dec.state_head.out_features + dec.vel_head.in_features
    ctx = sum(m.in_features * m.out_features for m in dec.context.modules() if isinstance(m, nn.Linear))
    out = {
        "frontend": (N_FFT // 2 + 1) * model.cfg.n_mels,
        "cnn": counts["cnn"] // frames,
        "projection": counts["projection"] // frames,
        "decoder": N_KEYS * (lstm + heads + ctx),
    }
    out["total"] = sum(out.values())
    return out


def describe(model: PARModel) -> dict:
    """A summary for `par-studio info`: parameters, look-ahead, MACs per frame, config."""
    macs = macs_per_frame(model)
    return {
        "preset": model.cfg.preset,
        "parameters": model.n_parameters(),
        "latency_ms": model.latency_ms,
        "conv_widths": list(model.cfg.conv_widths),
        "macs_per_frame": macs,
        "config": model.cfg.to_dict(),
    }
