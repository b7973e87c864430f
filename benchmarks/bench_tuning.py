#!/usr/bin/env python3
"""Tuning correction: how well the piano's tuning is measured, and what bringing it to A440
does to the notes, side by side in one run.

For every audio + MIDI pair of each folder (e.g. the held-out renders of corpus v2: a piano in
tune, the same +35 cents, the same in a hall), it measures the tuning
(:func:`par_studio.tuning.estimate_tuning`), prints it next to the detuning the corpus drew for
the file (``conditions.detune_cents`` of its ``.json``, when there is one), and transcribes the
file twice with one model, ``--tuning off`` and ``auto``, scored with mir_eval as
``par-studio evaluate`` does. Then the seconds the estimate and the resampling take per minute
of audio, against the transcription's.

Usage::

    python benchmarks/bench_tuning.py DIR [DIR ...] [--model par-compact] [--latency 320] [--limit N]

e.g. ``DIR`` = ``../par-work/corpus-v2/heldout/splendid-detune35`` (rendered by
``par-studio build-corpus-v2 --sets heldout``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--model", default="par-compact")
    p.add_argument("--latency", type=int, default=320)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    from par_studio.audio.io import load_audio
    from par_studio.constants import SAMPLE_RATE
    from par_studio.engine.offline import transcribe
    from par_studio.model.checkpoint import resolve_model
    from par_studio.notes import notes_from_midi
    from par_studio.train.dataset import dir_pairs
    from par_studio.train.evaluate import note_metrics
    from par_studio.tuning import Tuning, estimate_tuning

    torch.set_num_threads(args.threads)
    model, _ = resolve_model(args.model, args.latency)
    print(f"{model.cfg.preset} {model.latency_ms} ms; F1 with --tuning off -> auto")
    kinds = ("note", "note_offset", "note_offset_velocity")
    t_est = t_fix = t_tr = seconds = 0.0
    for d in args.dirs:
        rows = []
        for pair in dir_pairs(d)[: args.limit]:
            y = load_audio(pair.audio)
            ref = notes_from_midi(pair.midi, sustain=True)
            t0 = time.perf_counter()
            tun = estimate_tuning(y) or Tuning(0.0, "measured")
            t1 = time.perf_counter()
            tun.to_a440(y)
            t2 = time.perf_counter()
            off = transcribe(y, model, tuning=Tuning())
            t3 = time.perf_counter()
            auto = transcribe(y, model, tuning=tun)
            t_est, t_fix, t_tr, seconds = t_est + t1 - t0, t_fix + t2 - t1, t_tr + t3 - t2, seconds + len(y) / SAMPLE_RATE
            side = Path(pair.audio).with_suffix(".json")
            drawn = None
            if side.is_file():
                drawn = (json.loads(side.read_text()).get("conditions") or {}).get("detune_cents")
            m0, m1 = note_metrics(ref, off.notes, frames=False), note_metrics(ref, auto.notes, frames=False)
            rows.append((tun.cents, drawn, [m0[k]["f1"] for k in kinds], [m1[k]["f1"] for k in kinds]))
            print(f"  {Path(pair.audio).name[:44]:44} measured {tun.cents:+5.0f} c (drawn "
                  f"{'-' if drawn is None else f'{drawn:+.0f}'}) note F1 {rows[-1][2][0]:.3f} -> {rows[-1][3][0]:.3f}",
                  flush=True)
        if not rows:
            print(f"{d}: no audio + MIDI pairs", file=sys.stderr)
            continue
        c = np.array([r[0] for r in rows])
        before, after = np.mean([r[2] for r in rows], 0), np.mean([r[3] for r in rows], 0)
        print(f"{Path(d).name}: {len(rows)} files, measured {c.mean():+.1f} c (sd {c.std():.1f}); "
              + "; ".join(f"{k} F1 {b:.3f} -> {a:.3f}" for k, b, a in zip(kinds, before, after)))
    if seconds:
        per_min = 60.0 / seconds
        print(f"per minute of audio: estimate {t_est * per_min:.2f} s, resampling {t_fix * per_min:.2f} s, "
              f"transcription {t_tr * per_min:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
