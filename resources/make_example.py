#!/usr/bin/env python3
"""Regenerate ``resources/example.flac``, the recording PAR Studio opens on first start.

Source: J. S. Bach, Prelude in C major, BWV 846 (The Well-Tempered Clavier, Book I), bars
1-10, from the music21 corpus (``bach/bwv846.mxl``; the composition is in the public domain).
It is rendered on FluidR3_GM.sf2 (MIT licence; Debian package ``fluid-soundfont-gm``) with
fluidsynth, with a gentle, deterministic dynamic shape so velocities vary, mixed to mono and
saved as 44.1 kHz 16-bit FLAC.

Usage::

    pip install music21            # plus: apt-get install fluidsynth fluid-soundfont-gm
    python resources/make_example.py [--out resources/example.flac]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PIECE = "bach/bwv846"
BARS = (1, 10)
QUARTER_BPM = 70.0
RATE = 44_100


def piece_midi(path: Path) -> None:
    """Write bars BARS of the piece as a one-track piano MIDI file with shaped velocities."""
    import pretty_midi
    from music21 import corpus

    score = corpus.parse(PIECE)
    excerpt = score.measures(*BARS)
    raw = path.with_suffix(".raw.mid")
    excerpt.write("midi", fp=str(raw))
    src = pretty_midi.PrettyMIDI(str(raw))
    # re-time: music21's tempo → QUARTER_BPM; one piano; velocity shape per bar
    beats = src.get_beats()
    sec_per_beat_src = float(np.median(np.diff(beats))) if len(beats) > 1 else 0.5
    scale = (60.0 / QUARTER_BPM) / sec_per_beat_src
    rng = np.random.default_rng(846)
    out = pretty_midi.PrettyMIDI(initial_tempo=QUARTER_BPM)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    notes = sorted((n for inst in src.instruments for n in inst.notes), key=lambda n: (n.start, n.pitch))
    bar_s = 4 * 60.0 / QUARTER_BPM
    for n in notes:
        start, end = n.start * scale, n.end * scale
        pos = (start % bar_s) / bar_s  # position in the bar, 0..1
        bar = int(start // bar_s)
        # each bar's arpeggio swells then relaxes; the piece grows slowly louder
        shape = 0.5 - 0.5 * np.cos(2 * np.pi * pos)
        vel = 48 + 30 * shape + 2.5 * bar + rng.normal(0, 4)
        piano.notes.append(pretty_midi.Note(int(np.clip(vel, 20, 120)), n.pitch, start, end))
    # sustain pedal down for each half bar, as pianists play this prelude
    half = bar_s / 2
    t = 0.0
    end_time = max(n.end for n in piano.notes)
    while t < end_time:
        piano.control_changes.append(pretty_midi.ControlChange(64, 100, t + 0.02))
        piano.control_changes.append(pretty_midi.ControlChange(64, 0, t + half - 0.03))
        t += half
    out.instruments.append(piano)
    out.write(str(path))


def render(mid: Path, wav: Path) -> None:
    if not shutil.which("fluidsynth"):
        sys.exit("fluidsynth is not installed (apt-get install fluidsynth fluid-soundfont-gm)")
    if not SOUNDFONT.exists():
        sys.exit(f"{SOUNDFONT} not found (apt-get install fluid-soundfont-gm)")
    subprocess.run(["fluidsynth", "-ni", "-g", "0.8", "-r", str(RATE), "-F", str(wav),
                    str(SOUNDFONT), str(mid)], check=True, stdout=subprocess.DEVNULL)


def main(argv=None) -> int:
    import soundfile as sf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "example.flac"))
    ap.add_argument("--midi", default=None, help="also keep the rendered MIDI here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "piece.mid"
        wav = Path(tmp) / "piece.wav"
        piece_midi(mid)
        render(mid, wav)
        y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        nz = np.flatnonzero(np.abs(y) > 1e-4)
        y = y[: nz[-1] + int(0.3 * sr)] if len(nz) else y
        y *= 0.89 / max(1e-6, float(np.abs(y).max()))
        sf.write(args.out, y, sr, format="FLAC", subtype="PCM_16")
        if args.midi:
            shutil.copy(mid, args.midi)
    size = Path(args.out).stat().st_size
    print(f"{args.out}: {len(y) / sr:.1f} s, {sr} Hz mono, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
