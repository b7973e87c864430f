"""MusicXML export through music21: a piano score (two staves joined by a brace) of notes
quantised by :mod:`par_studio.quantise` on a :class:`~par_studio.tempo.Meter`.

The score carries the meter's time signature and tempo, a key signature estimated from the
pitches (music21's Krumhansl-Schmuckler key finder), black keys spelled with flats in flat keys,
and dynamics (pp..ff) where the bar-by-bar loudness changes clearly. The file is written
atomically (temp file + rename) like the other exports.

Measures are numbered as the piano roll numbers its bars (:func:`par_studio.gui.beatgrid.grid_lines`):
measure 1 begins at the meter's first downbeat. A piece that begins with an upbeat starts with a
pickup measure (measure 0, MusicXML ``implicit="yes"``) holding only the upbeat: the rest before
its first note is cut (music21 ``Measure.paddingLeft``), so notation software shows no bar of
rests and counts bar 1 from the downbeat. Notes more than a bar before the downbeat: the bars
before it are numbered as the roll numbers them (..., -1, 0), all implicit (not counted), the
first of them a pickup when it begins with a rest. A score that starts bars after the downbeat
(the first notes later than the roll's bar 1) is numbered from 1 as before.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import MidiError
from .midi_io import atomic_write_bytes
from .notes import Notes
from .quantise import THIRTY_SECOND, TICKS, Quantised, quantise
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


def lead_bars(q: Quantised) -> int:
    """How many of the score's bars lie before the meter's first downbeat (the roll's bar 1):
    1 for an upbeat, 0 when the first note is in the downbeat's bar (negative when the score
    starts bars after it)."""
    return int(round(q.shift_q / q.meter.bar_quarters))


def pickup_cut(q: Quantised) -> int:
    """Ticks of rest cut from the front of the score's first measure to make it a pickup: the
    rest both staves share before the first note, when that bar lies before the downbeat
    (an upbeat); 0 when the first measure is a whole bar. An upbeat starting inside a triplet
    keeps its whole beat (a pickup cannot start in the middle of a tuplet)."""
    if len(q) == 0 or lead_bars(q) < 1:
        return 0
    first = int(q.onset.min())
    if first % THIRTY_SECOND:  # not on the 32nd grid: a triplet position
        first -= first % TICKS
    return first if 0 < first < q.bar_ticks else 0


def _cut_front(box, cut: Fraction) -> None:
    """Remove what starts before ``cut`` quarters in ``box`` (only rests do: the first note is
    at ``cut``); a rest reaching past ``cut`` keeps its remainder, from ``cut`` on."""
    from music21 import note

    for el in list(box.notesAndRests):
        start = Fraction(box.elementOffset(el))
        if start < cut:
            box.remove(el)
            stop = start + Fraction(el.quarterLength)
            if isinstance(el, note.Rest) and stop > cut:
                box.insert(cut, note.Rest(quarterLength=stop - cut))


def _number_measures(part, lead: int, cut: Fraction) -> None:
    """Measure numbers as the roll numbers its bars (1 at the downbeat, 0 and below before
    it; bars before the downbeat are implicit: notation software does not count them), and
    with ``cut`` > 0 the first measure made a pickup: its notes and rests moved ``cut``
    quarters earlier, ``paddingLeft`` set to ``cut``, the later measures ``cut`` earlier.
    (Numbers below 0 are valid MusicXML tokens; music21 re-reads "-1" as 1 with suffix "-".)"""
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    for i, m in enumerate(measures):
        m.number = 1 - lead + i
        if i < lead:
            m.showNumber = stream.enums.ShowNumber.NEVER
    if not cut or not measures:
        return
    first = measures[0]
    for box in (first, *first.voices):
        # build_score's rests begin at the first note, but a voice that makeNotation made
        # fills the bar with its own
        _cut_front(box, cut)
        for el in list(box.notesAndRests):
            box.setElementOffset(el, Fraction(box.elementOffset(el)) - cut)
        box.coreElementsChanged()
    first.paddingLeft = float(cut)
    for m in measures[1:]:
        part.setElementOffset(m, part.elementOffset(m) - cut)
    part.coreElementsChanged()


def _spell(midi: int, flats: bool):
    from music21 import pitch

    p = pitch.Pitch(midi=int(midi))
    if flats and p.accidental is not None and p.accidental.name == "sharp":
        p = p.getEnharmonic()
    return p


def build_score(q: Quantised, title: str = "Transcription"):
    """A music21 Score in measures (``makeNotation`` done): upper and lower staff (treble and
    bass clef), time signature, tempo, key signature, dynamics; notes of a hand struck together
    are one chord. Measures are numbered as the roll numbers bars; an upbeat is a pickup
    measure (see :func:`pickup_cut`)."""
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
    cut = Fraction(pickup_cut(q), TICKS)
    for part in parts:
        part.makeRests(fillGaps=True, inPlace=True, refStreamOrTimeRange=[0.0, bars * m.bar_quarters])
        if cut:  # an upbeat: no rest before the first note
            _cut_front(part, cut)
        score.insert(0, part)
    score.insert(0, layout.StaffGroup(parts, name="Piano", abbreviation="Pno.", symbol="brace"))
    score = score.makeNotation()
    lead = lead_bars(q) if len(q) else 0
    for part in score.parts:
        _number_measures(part, max(lead, 0), cut)
    return score


def musicxml_bytes(q: Quantised, title: str = "Transcription") -> bytes:
    """MusicXML (partwise, uncompressed) of :func:`build_score`."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    return GeneralObjectExporter(build_score(q, title)).parse()


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
