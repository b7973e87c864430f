#!/usr/bin/env python3
"""Velocity refiner: note+offset+velocity F1 and the correlation of estimated and true
velocities with the decoder's velocities and with the refined ones, side by side in one run,
and what the refiner costs per minute of audio.

Each audio + MIDI pair of each folder is transcribed once (the app's defaults); the decoder's
velocities and the refined ones are decoded from the same frames, so only the velocities
differ. Scores as ``par-studio evaluate`` (mir_eval, pedal-extended reference ends).

Usage::

    python benchmarks/bench_velocity.py DIR [DIR ...] [--model par-compact] [--latency 320] [--limit N]

e.g. ``DIR`` = ``../par-work/corpus-v2/heldout/splendid`` (``par-studio build-corpus-v2``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--model", default="par-compact")
    p.add_argument("--latency", type=int, default=320)
    p.add_argument("--limit", type=int, default=None)
    args = p.parse_args(argv)

    import mir_eval.transcription as mt
    import torch

    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe
    from par_studio.model.checkpoint import resolve_model
    from par_studio.notes import notes_from_midi
    from par_studio.train.evaluate import note_metrics
    from par_studio.velocity import load_refiner

    torch.set_num_threads(1)
    refiner = load_refiner()
    if refiner is None:
        print("error: models/velocity-refiner.pt is missing", file=sys.stderr)
        return 2
    model, _ = resolve_model(args.model, args.latency)
    print(f"{args.model} {args.latency} ms; refiner trained on {refiner.metadata.get('trained_on', '?')}")
    print(f"{'set':28s} {'files':>5s}  {'n+o+vel F1 decoder':>18s} {'refined':>8s}  {'corr decoder':>12s} "
          f"{'refined':>8s}")
    spent, audio_s = 0.0, 0.0
    for d in map(Path, args.dirs):
        files = sorted(d.glob("*.flac")) + sorted(d.glob("*.wav"))
        files = [f for f in files if f.with_suffix(".mid").exists()][: args.limit]
        f1 = {"decoder": [], "refined": []}
        cor = {"decoder": [], "refined": []}
        for f in files:
            audio = load_audio(f)
            ref = notes_from_midi(f.with_suffix(".mid"), sustain=True)
            tr = transcribe(audio, model, refine_velocity=False)
            heard = tr.tuning.to_a440(audio)
            t0 = time.process_time()
            vel = refiner.refine_frames(tr.states, tr.velocity, heard)
            spent += time.process_time() - t0
            audio_s += len(audio) / 16000
            for name, v in (("decoder", tr.velocity), ("refined", vel)):
                est = replace(tr, velocity=v).redecode()  # the app's decoder, on the recording's clock
                f1[name].append(note_metrics(ref, est, frames=False)["note_offset_velocity"]["f1"])
                m = mt.match_notes(ref.intervals(), ref.pitches_hz(), est.intervals(), est.pitches_hz(),
                                   offset_ratio=None)
                if len(m) >= 8:
                    cor[name].append(np.corrcoef([ref.velocity[i] for i, _ in m],
                                                 [est.velocity[j] for _, j in m])[0, 1])
        print(f"{d.name:28s} {len(files):5d}  {np.mean(f1['decoder']):18.3f} {np.mean(f1['refined']):8.3f}  "
              f"{np.nanmedian(cor['decoder']):12.3f} {np.nanmedian(cor['refined']):8.3f}", flush=True)
    print(f"refiner: {60 * spent / max(audio_s, 1e-9):.3f} s of CPU per minute of audio "
          f"({audio_s / 60:.1f} min measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
