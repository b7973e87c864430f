"""Training throughput: seconds per optimiser step of the real training step
(``par_studio.train.trainer.train_step``) for each preset, in fp32, bf16 autocast and bf16 with
self-conditioning, measured in one run so the ratios compare like with like.

    python benchmarks/bench_training.py [--steps 6] [--batch 8] [--crop-frames 160] [--threads 1]

Batches are crops of a synthetic corpus written to a temp folder (decaying partials with
their MIDI), so no rendered corpus is needed. The first step of each setting is a warm-up and
is not timed. On a shared machine, compare ratios within one run, not absolute seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_pair(folder: Path, stem: str, seconds: float, seed: int) -> None:
    import pretty_midi
    import soundfile as sf

    from par_studio.constants import SAMPLE_RATE

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    y = np.zeros_like(t)
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    for _ in range(int(seconds * 4)):
        on, dur, p = rng.uniform(0, seconds - 1), rng.uniform(0.1, 1.0), int(rng.integers(21, 109))
        inst.notes.append(pretty_midi.Note(int(rng.integers(30, 120)), p, on, on + dur))
        f = 440 * 2 ** ((p - 69) / 12)
        m = (t >= on) & (t < on + dur)
        for h in range(1, 5):
            if f * h < SAMPLE_RATE / 2:
                y[m] += 0.05 / h * np.sin(2 * np.pi * f * h * t[m]) * np.exp(-3 * (t[m] - on))
    pm.instruments.append(inst)
    pm.write(str(folder / f"{stem}.mid"))
    sf.write(folder / f"{stem}.flac", y.astype(np.float32), SAMPLE_RATE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=6, help="timed steps per setting (after one warm-up)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop-frames", type=int, default=160)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--presets", nargs="+", default=["par-compact", "par"])
    args = ap.parse_args(argv)
    import torch

    from par_studio.model import PARModel, preset_config
    from par_studio.train.dataset import CropDataset, dir_pairs
    from par_studio.train.trainer import train_step

    torch.set_num_threads(args.threads)
    settings = [("fp32", False, 0.0), ("bf16", True, 0.0), ("bf16 + self-condition 0.5", True, 0.5)]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(4):
            write_pair(Path(tmp), f"s{i}", 30.0, i)
        ds = CropDataset(dir_pairs(tmp), args.crop_frames, seed=0, log=lambda *a: None)
        print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s); batch "
              f"{args.batch} × {args.crop_frames} frames; load average {os.getloadavg()[0]:.2f}")
        cw = torch.tensor([1.0, 6.0, 4.0, 1.0, 4.0])
        for preset in args.presets:
            base = None
            for name, bf16, sc in settings:
                torch.manual_seed(0)
                model = PARModel(preset_config(preset)).train()
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                gen = torch.Generator().manual_seed(0)
                batches = [ds.batch(args.batch) for _ in range(args.steps + 1)]
                times = []
                for k, b in enumerate(batches):
                    t0 = time.perf_counter()
                    train_step(model, model, opt, b, cw, gen, torch.device("cpu"), bf16=bf16, self_condition=sc)
                    if k:
                        times.append(time.perf_counter() - t0)
                med = float(np.median(times))
                base = base or med
                print(f"{preset:<12} {name:<27} {med:6.2f} s/step (median of {len(times)})  "
                      f"{base / med:5.2f}x of fp32", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
