"""Checkpoint averaging: the mean of the weights of several checkpoints of one run.

    python -m par_studio.train.average RUN/snapshots/step_9750.pt RUN/snapshots/step_10000.pt \
        RUN/last.pt -o RUN/avg.pt

Averaging the last few snapshots of a run (kept with ``train --keep-every``) smooths the noise
of the final optimiser steps; the result is one more candidate for ``ship``, which keeps it
only if its calibrated validation score is the best. Floating-point tensors (weights and
normalisation statistics) are averaged; integer buffers are taken from the last checkpoint, as
are the config and the metadata (plus ``averaged_from``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..model.checkpoint import load_checkpoint, save_checkpoint


def average_checkpoints(paths: list) -> tuple:
    """Load ``paths`` (same preset, latency and shapes) and return (model with the mean
    weights, metadata of the last one with ``averaged_from``)."""
    if not paths:
        raise ValueError("no checkpoints to average")
    models = [load_checkpoint(p) for p in paths]
    model, meta = models[-1]
    ref = model.cfg.to_dict()
    ref.pop("state_bias", None)
    ref.pop("offset_shift_s", None)
    states = []
    for (m, _), p in zip(models, paths):
        c = m.cfg.to_dict()
        c.pop("state_bias", None)
        c.pop("offset_shift_s", None)
        if c != ref:
            raise CheckpointError(f"{p} is a different model ({m.cfg.preset}, {m.latency_ms} ms) "
                                  f"from {paths[-1]}; only checkpoints of one run can be averaged.")
        states.append(m.state_dict())
    mean = {}
    for k, v in states[-1].items():
        if v.is_floating_point():
            mean[k] = torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
        else:
            mean[k] = v.clone()
    model.load_state_dict(mean)
    meta = {k: v for k, v in meta.items() if k != "path"}
    meta["averaged_from"] = [{"checkpoint": str(p), "steps": m[1].get("steps")} for p, m in zip(paths, models)]
    return model, meta


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.average", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", nargs="+", help="checkpoints of one run (the last one's config is kept)")
    p.add_argument("-o", "--out", required=True, help="where to write the averaged checkpoint")
    args = p.parse_args(argv)
    try:
        model, meta = average_checkpoints(args.checkpoint)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    save_checkpoint(model, Path(args.out), meta)
    print(f"averaged {len(args.checkpoint)} checkpoints → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
