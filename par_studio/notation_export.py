"""The command line's notation outputs: MIDI on the beat grid (``--quantise``), a stated time
signature (``--meter``) and a MusicXML score (``--musicxml``), all from one metrical grid so the
MIDI file and the score agree."""

from __future__ import annotations

from pathlib import Path

from .midi_io import write_midi
from .notes import Notes


def write_notation(midi_path: Path | None, notes: Notes, args, write_or_fallback,
                   score_path: Path | None = None) -> tuple[list[Path], list[str]]:
    """Write the MIDI file at ``midi_path`` (none when None; played times with bar 1 at the
    grid's first downbeat, or quantised with ``args.quantise``) stating the grid's tempo and
    time signature, and with ``args.musicxml``
    the score at ``score_path`` (default: the MIDI file's name with .musicxml). Returns (paths
    written, messages of writes that fell back)."""
    from .quantise import quantise, steady_notes
    from .score import write_musicxml
    from .tempo import resolve_meter

    written, msgs = [], []
    meter = resolve_meter(args.tempo, notes, getattr(args, "meter", None)) if len(notes) else None
    tempo = round(meter.quarter_bpm, 2) if meter is not None else 120.0
    ts = meter.time_signature if meter is not None else None
    out = notes
    # played times: bar 1 of the file at the grid's first downbeat (a late start keeps its bars)
    downbeat = meter.downbeat_s if meter is not None else 0.0
    if getattr(args, "quantise", False) and meter is not None:
        out = steady_notes(quantise(notes, meter))
        downbeat = 0.0  # on the grid already, bar 1 at 0 s
    if midi_path is not None:
        path, msg = write_or_fallback(
            lambda n, p: write_midi(n, p, tempo=tempo, time_signature=ts, downbeat_s=downbeat), midi_path, out)
        written.append(path)
        if msg:
            msgs.append(msg)
    if getattr(args, "musicxml", False) and len(notes):
        xml = Path(score_path or Path(midi_path).with_suffix(".musicxml"))
        path, msg = write_or_fallback(lambda n, p: write_musicxml(n, p, meter=meter), xml, notes)
        written.append(path)
        if msg:
            msgs.append(msg)
    return written, msgs
