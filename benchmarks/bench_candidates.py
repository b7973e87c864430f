#!/usr/bin/env python3
"""Candidate notes: how many of them are real missed notes, and how fast they are found.

The bundled example (BWV 846, bars 1-10, rendered from a MIDI file made by
``resources/make_example.py``; that MIDI file, pedal-extended, is the reference) is transcribed
once per model. For each Candidates slider setting (extra sensitivity), it prints how many
candidates show, how many of them are reference notes the transcription missed (same pitch,
onset within 50 ms: mir_eval's note-onset matching), and what share of the missed notes they
recover. The example is clean, so at the calibrated sensitivity the models miss (almost) no
note; a transcription at a lower sensitivity (``--sensitivity``) misses some, as a hard recording
would, and shows whether the candidates point at them. Then the time :func:`find_candidates` takes on the example's probabilities repeated to
10 minutes (the GUI computes them in its own thread after each transcription).

Usage::

    python benchmarks/bench_candidates.py [--models par,par-compact] [--threads 1]

Needs music21 (the score) and the shipped weights in models/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "resources"))

from par_studio.candidates import MAX_MARGIN, find_candidates  # noqa: E402
from par_studio.notes import Notes, decode, notes_from_midi  # noqa: E402

MARGINS = (0.5, 1.0, 1.5, 2.0, 3.0)


def matched(est: Notes, ref: Notes) -> np.ndarray:
    """(len(ref),) bool: reference notes matched by an estimated note (pitch, onset ±50 ms)."""
    import mir_eval

    if not len(est) or not len(ref):
        return np.zeros(len(ref), bool)
    pairs = mir_eval.transcription.match_notes(ref.intervals(), ref.pitches_hz(), est.intervals(),
                                               est.pitches_hz(), onset_tolerance=0.05, offset_ratio=None)
    hit = np.zeros(len(ref), bool)
    hit[[r for r, _e in pairs]] = True
    return hit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="par,par-compact")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sensitivity", default="0,-1",
                    help="transcribe at these sensitivities (a negative one makes the model miss notes, "
                         "so the candidates have real missed notes to find); comma-separated")
    args = ap.parse_args()
    import torch

    from make_example import piece_midi

    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe
    from par_studio.model.checkpoint import resolve_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "example.mid"
        piece_midi(mid)
        ref = notes_from_midi(mid)
    audio = load_audio(ROOT / "resources" / "example.flac")
    print(f"reference: {len(ref)} notes, {len(audio) / 16000:.1f} s")
    last = None
    for preset, sens in [(p, float(x)) for p in args.models.split(",") for x in args.sensitivity.split(",")]:
        model, _ = resolve_model(preset, models_dir=ROOT / "models")
        tr = transcribe(audio, model, sensitivity=sens)
        last = tr
        missed = ~matched(tr.notes, ref)
        print(f"\n{preset} {model.latency_ms} ms, sensitivity {sens:+.1f}: {len(tr.notes)} notes, "
              f"{missed.sum()} reference notes missed")
        c = find_candidates(tr.probabilities, tr.states, tr.velocity, tr.notes, max_margin=max(MARGINS))
        print("  extra sensitivity  shown  real (missed ref. notes)  precision  missed recovered")
        for m in MARGINS:
            shown = c.notes.take(c.up_to(m))
            got = matched(shown, ref) & missed
            real = int(got.sum())
            prec = real / len(shown) if len(shown) else float("nan")
            rec = real / missed.sum() if missed.sum() else float("nan")
            print(f"  +{m:<16.1f} {len(shown):5d}  {real:5d}                     {prec:9.2f}  {rec:16.2f}")
    # speed: the example's probabilities repeated to 10 minutes
    reps = int(np.ceil(600 / last.duration))
    P = np.concatenate([last.probabilities] * reps)
    S = np.concatenate([last.states] * reps)
    V = np.concatenate([last.velocity] * reps)
    notes = decode(S, V)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        c = find_candidates(P, S, V, notes)  # up to MAX_MARGIN, as the GUI
        times.append(time.perf_counter() - t)
    print(f"\nfind_candidates on {len(S)} frames ({len(S) * 0.032 / 60:.1f} min), {len(notes)} notes: "
          f"{len(c)} candidates up to +{MAX_MARGIN:g}, best of 3 {min(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
