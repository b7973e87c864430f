#!/usr/bin/env python3
"""Note check (the model's note verifier): accuracy and cost with and without it, side by side.

Each audio + MIDI pair of each folder is transcribed twice with the app's defaults, once with
the note check (``verify_notes=True``: the decoder at the verifier's looser bias, then the
verifier) and once without (the decoder as calibrated); both with the velocity refiner. Scores as
``par-studio evaluate`` (mir_eval, pedal-extended reference ends); CPU seconds per minute of
audio of each whole transcription (one thread).

Usage::

    python benchmarks/bench_verifier.py DIR [DIR ...] [--model par-compact] [--latency 320] [--limit N]

e.g. ``DIR`` = ``../par-work/corpus-v2/heldout/splendid`` (``par-studio build-corpus-v2``).
"""

from __future__ import annotations

import argparse
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
    args = p.parse_args(argv)

    import torch

    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe
    from par_studio.model.checkpoint import resolve_model
    from par_studio.notes import notes_from_midi
    from par_studio.train.evaluate import note_metrics
    from par_studio.verifier import find_verifier

    torch.set_num_threads(1)
    model, _ = resolve_model(args.model, args.latency)
    v = find_verifier(model)
    if v is None:
        print(f"error: no note verifier installed for {args.model} {args.latency} ms", file=sys.stderr)
        return 2
    print(f"{args.model} {args.latency} ms; proposals at +{v.shift:g}, kept when p >= {v.keep_above:g}")
    print(f"{'set':22s} {'files':>5s}  {'without: note P / R / F1, n+o, +vel':>38s}  {'with':>30s}")
    cpu = {False: 0.0, True: 0.0}
    audio_s = 0.0
    for d in map(Path, args.dirs):
        files = sorted(d.glob("*.flac")) + sorted(d.glob("*.wav"))
        files = [f for f in files if f.with_suffix(".mid").exists()][: args.limit]
        rows = {False: [], True: []}
        for f in files:
            audio = load_audio(f)
            ref = notes_from_midi(f.with_suffix(".mid"), sustain=True)
            audio_s += len(audio) / 16000
            for check in (False, True):
                t0 = time.process_time()
                tr = transcribe(audio, model, verify_notes=check)
                cpu[check] += time.process_time() - t0
                m = note_metrics(ref, tr.notes, frames=False)
                rows[check].append([m["note"]["precision"], m["note"]["recall"], m["note"]["f1"],
                                    m["note_offset"]["f1"], m["note_offset_velocity"]["f1"]])
        cells = ["  ".join(f"{x:.3f}" for x in np.mean(rows[c], axis=0)) for c in (False, True)]
        print(f"{d.name:22s} {len(files):5d}  {cells[0]:>38s}  {cells[1]:>30s}", flush=True)
    per_min = {c: 60 * cpu[c] / max(audio_s, 1e-9) for c in cpu}
    print(f"CPU per minute of audio: without {per_min[False]:.2f} s, with {per_min[True]:.2f} s "
          f"(x{per_min[True] / max(per_min[False], 1e-9):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
