#!/usr/bin/env python3
"""Hall reverb reduction (``--dereverb``): what it does to the notes, side by side in one run,
and what it costs.

For every audio + MIDI pair of each folder it transcribes the file twice with one model,
without and with :func:`par_studio.dereverb.reduce_reverb`, scored with mir_eval as
``par-studio evaluate`` does (note / note+offset / note+offset+velocity F1, means over files).
Then the seconds per minute of audio of the dereverberation and of the transcription, and the
peak memory of dereverberating ``--long`` minutes of the first file repeated (its blocks keep
it bounded).

Usage::

    python benchmarks/bench_dereverb.py DIR [DIR ...] [--model par-compact] [--latency 320]
        [--limit N] [--long 10]

e.g. ``DIR`` = ``../par-work/corpus-v2/heldout/splendid-hall`` (``par-studio build-corpus-v2
--sets heldout``) and, as a check that dry and small-room recordings are not harmed, a dry
held-out set and ``corpus-v2/validation`` (rooms drawn as in training).
"""

from __future__ import annotations

import argparse
import resource
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
    p.add_argument("--long", type=float, default=10.0, help="minutes for the memory figure (0: skip)")
    args = p.parse_args(argv)

    import torch

    from par_studio.audio.io import load_audio
    from par_studio.constants import SAMPLE_RATE
    from par_studio.dereverb import reduce_reverb
    from par_studio.engine.offline import transcribe
    from par_studio.model.checkpoint import resolve_model
    from par_studio.notes import notes_from_midi
    from par_studio.train.dataset import dir_pairs
    from par_studio.train.evaluate import note_metrics
    from par_studio.tuning import resolve_tuning

    torch.set_num_threads(1)
    model, _ = resolve_model(args.model, args.latency)
    print(f"{model.cfg.preset} {model.latency_ms} ms; F1 without -> with --dereverb")
    kinds = ("note", "note_offset", "note_offset_velocity")
    t_dr = t_tr = seconds = 0.0
    first = None
    for d in args.dirs:
        rows = []
        for pair in dir_pairs(d)[: args.limit]:
            y = load_audio(pair.audio)
            first = y if first is None else first
            ref = notes_from_midi(pair.midi, sustain=True)
            tuning = resolve_tuning(y, None)  # measured once, the same for both runs
            t0 = time.perf_counter()
            plain = transcribe(y, model, tuning=tuning)
            t1 = time.perf_counter()
            z = reduce_reverb(y)
            t2 = time.perf_counter()
            wet = transcribe(z, model, tuning=tuning)
            t_tr, t_dr, seconds = t_tr + t1 - t0, t_dr + t2 - t1, seconds + len(y) / SAMPLE_RATE
            m0, m1 = note_metrics(ref, plain.notes, frames=False), note_metrics(ref, wet.notes, frames=False)
            rows.append(([m0[k]["f1"] for k in kinds], [m1[k]["f1"] for k in kinds]))
        if not rows:
            print(f"{d}: no audio + MIDI pairs", file=sys.stderr)
            continue
        before, after = np.mean([r[0] for r in rows], 0), np.mean([r[1] for r in rows], 0)
        print(f"{Path(d).name}: {len(rows)} files; "
              + "; ".join(f"{k} F1 {b:.3f} -> {a:.3f}" for k, b, a in zip(kinds, before, after)), flush=True)
    if seconds:
        print(f"per minute of audio: dereverberation {60 * t_dr / seconds:.1f} s, "
              f"transcription {60 * t_tr / seconds:.1f} s")
    if args.long and first is not None:
        n = int(args.long * 60 * SAMPLE_RATE)
        long = np.tile(first, n // len(first) + 1)[:n]
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        reduce_reverb(long)
        print(f"{args.long:g} min in {time.perf_counter() - t0:.0f} s; peak memory of the process "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (was {base:.0f} MiB "
              f"before, with the model and the test files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
