"""MusicXML export through music21: a piano score (two staves joined by a brace) of notes
quantised by :mod:`par_studio.quantise` on a :class:`~par_studio.tempo.Meter`.

The score carries the meter's time signature and tempo, a key signature estimated from the
pitches (music21's Krumhansl-Schmuckler key finder), black keys spelled with flats in flat keys,
and dynamics (pp..ff) where the bar-by-bar loudness changes clearly. The file is written
atomically (temp file + rename) like the other exports.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import MidiError
from .midi_io import atomic_write_bytes
from .notes import Notes
from .quantise import TICKS, Quantised, quantise
from .meter import Meter
from .tempo import estimate_meter

#: MIDI velocity bounds of each dynamic mark (upper bound exclusive)
DYNAMICS = (("pp", 40), ("p", 56), ("mp", 72), ("mf", 88), ("f", 104), ("ff", 128))
DYNAMIC_BARS = 2  #: a new level is marked only when it lasts this many bars


def dynamic_of(velocity: float) -> str:
    for name, upper in DYNAMICS:
        if velocity < upper:
            return name
    return "ff"


def bar_dynamics(q: Quantised) -> dict[int, str]:
    """Bar index → dynamic mark, where the mean velocity moves to another level and stays
    there at least :data:`DYNAMIC_BARS` bars (the first bar always gets one)."""
    if len(q) == 0:
        return {}
    bar = q.onset // q.bar_ticks
    n_bars = int(bar.max()) + 1
    levels = []
    for b in range(n_bars):
        v = q.velocity[bar == b]
        levels.append(dynamic_of(float(v.mean())) if len(v) else None)
    marks: dict[int, str] = {}
    current = None
    for b in range(n_bars):
        lv = levels[b]
        if lv is None or lv == current:
            continue
        ahead = [x for x in levels[b:b + DYNAMIC_BARS] if x is not None]
        if current is None or (len(ahead) >= min(DYNAMIC_BARS, n_bars - b) and all(x == lv for x in ahead)):
            marks[b] = lv
            current = lv
    return marks


def _spell(midi: int, flats: bool):
    from music21 import pitch

    p = pitch.Pitch(midi=int(midi))
    if flats and p.accidental is not None and p.accidental.name == "sharp":
        p = p.getEnharmonic()
    return p


def build_score(q: Quantised, title: str = "Transcription"):
    """A music21 Score: upper and lower staff (treble and bass clef), time signature, tempo,
    key signature, dynamics; notes of a hand struck together are one chord."""
    from music21 import clef, chord, dynamics, key, layout, meter, metadata, note, stream, tempo

    score = stream.Score()
    score.metadata = metadata.Metadata()
    score.metadata.title = title
    m = q.meter
    ts = m.time_signature
    # key from all the pitches (duration-weighted), then every staff carries it
    probe = stream.Stream()
    for p, d in zip(q.pitch, q.duration):
        probe.append(note.Note(midi=int(p), quarterLength=max(float(d) / TICKS, 0.25)))
    k = probe.analyze("key") if len(q) else key.Key("C")
    ks = key.KeySignature(k.sharps)
    flats = k.sharps < 0
    marks = bar_dynamics(q)
    parts = []
    for hand, clef_obj in ((0, clef.TrebleClef()), (1, clef.BassClef())):
        part = stream.PartStaff()
        part.partName = "Piano" if hand == 0 else ""
        part.insert(0, clef_obj)
        part.insert(0, meter.TimeSignature(ts))
        part.insert(0, key.KeySignature(ks.sharps))
        if hand == 0:
            beat_ref = note.Note(type="quarter", dots=1) if m.division == 3 else note.Note(type="quarter")
            part.insert(0, tempo.MetronomeMark(number=round(m.beat_bpm), referent=beat_ref.duration))
            for b, mark in marks.items():
                part.insert(Fraction(b * q.bar_ticks, TICKS), dynamics.Dynamic(mark))
        sel = np.flatnonzero(q.hand == hand)
        for s in np.unique(q.onset[sel]):
            idx = sel[q.onset[sel] == s]
            ql = Fraction(int(q.duration[idx].max()), TICKS)
            pitches = [_spell(p, flats) for p in sorted(set(q.pitch[idx].tolist()))]
            el = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
            el.duration.quarterLength = ql
            el.volume.velocity = int(q.velocity[idx].max())
            part.insert(Fraction(int(s), TICKS), el)
        parts.append(part)
    end = max([float(Fraction(int(o + d), TICKS)) for o, d in zip(q.onset, q.duration)] or [0.0])
    bars = int(np.ceil(end / m.bar_quarters - 1e-9)) or 1
    for part in parts:
        part.makeRests(fillGaps=True, inPlace=True, refStreamOrTimeRange=[0.0, bars * m.bar_quarters])
        score.insert(0, part)
    score.insert(0, layout.StaffGroup(parts, name="Piano", abbreviation="Pno.", symbol="brace"))
    return score


def musicxml_bytes(q: Quantised, title: str = "Transcription") -> bytes:
    """MusicXML (partwise, uncompressed) of :func:`build_score`."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = build_score(q, title).makeNotation()
    return GeneralObjectExporter(score).parse()


def write_musicxml(notes: Notes, path, meter: Meter | None = None, title: str | None = None) -> Path:
    """Quantise ``notes`` on ``meter`` (estimated from the notes when None) and write a
    MusicXML score at ``path`` atomically. :class:`MidiError` when there is nothing to write."""
    path = Path(path)
    if len(notes) == 0:
        raise MidiError(f"Cannot write {path}: there are no notes to put in a score")
    if meter is None:
        meter = estimate_meter(notes)
        if meter is None:
            meter = Meter.regular(120.0, "4/4", float(notes.onset.min()), float(notes.offset.max()))
    meter = meter.extended(float(notes.offset.max()) + 1.0)
    q = quantise(notes, meter)
    return atomic_write_bytes(path, musicxml_bytes(q, title or path.stem))
