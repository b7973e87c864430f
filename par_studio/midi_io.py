"""MIDI and CSV export/import of notes, written atomically (temp file + rename).

MIDI: one acoustic-grand-piano track, note velocities, a settable tempo (default 120 BPM),
note lengths with the pedal folded in (the notes are already pedal-extended). CSV: one row per
note, ``onset_s,offset_s,pitch,velocity``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .errors import MidiError
from .notes import Notes, notes_from_midi

DEFAULT_TEMPO = 120.0
RESOLUTION = 960  #: ticks per quarter note; 0.52 ms per tick at 120 BPM


def default_file_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: the existing file's, else 0o666 & ~umask
    (mkstemp's 0o600 would hide exports from other users and apps)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


#: ``.NAME.XXXXXXXX.tmp``: the temp files :func:`atomic_write_bytes` makes (mkstemp's 8 letters)
_TMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
#: a temp file of that pattern older than this was left by a process killed mid-write
STALE_TMP_SECONDS = 60.0
_TMP_NAME_BYTES = 100  #: the target name is cut to this in temp names (names may be 255 bytes)


def remove_stale_temp_files(folder, now: float | None = None) -> list[Path]:
    """Delete hidden ``.NAME.XXXXXXXX.tmp`` files (our own naming pattern only) older than
    :data:`STALE_TMP_SECONDS` in ``folder``; returns what was removed. Errors are ignored:
    cleaning never stops a write."""
    import time

    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        if not _TMP_PATTERN.match(e.name):
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if e.is_file(follow_symlinks=False) and now - st.st_mtime > STALE_TMP_SECONDS:
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            pass
    return removed


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and an atomic rename,
    so a crash never leaves a half-written file in place of a good one. Stale temp files
    of an earlier killed write in that folder are removed first. A failure raises OSError
    naming ``path`` (never the temp file)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(path.parent)
        stem = os.fsdecode(os.fsencode(path.name)[:_TMP_NAME_BYTES])
        fd, tmp = tempfile.mkstemp(prefix="." + stem + ".", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode(path))
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    return path


def lead_in(downbeat_s: float, tempo: float, bar_quarters: float) -> tuple[int, int]:
    """How the time before the first downbeat is counted: (16ths before it, of which whole
    bars' worth); 0 when the downbeat lies within a 32nd note of 0 s. The remainder after the
    whole bars is a pickup bar just before the downbeat."""
    n16 = int(round(max(downbeat_s, 0.0) * tempo / 60.0 * 4))
    bar16 = max(1, int(round(bar_quarters * 4)))
    return n16, (n16 // bar16) * bar16


def notes_to_pretty_midi(notes: Notes, tempo: float = DEFAULT_TEMPO, time_signature: str | None = None,
                         downbeat_s: float = 0.0):
    """A pretty_midi object of ``notes`` (seconds) with one tempo (quarter notes per minute)
    and, when given, a time signature such as "3/4" at the start.

    ``downbeat_s``: where bar 1 begins (a recording that starts late). The time before it is
    written as whole bars and a pickup bar (a time signature of n/16, n/8 or n/4) at a tempo
    that makes them last exactly ``downbeat_s``, so the file's bar lines fall on the played
    downbeats; notes keep their times in seconds."""
    import pretty_midi

    if not (20.0 <= tempo <= 400.0):
        raise ValueError(f"tempo {tempo} BPM is outside 20..400")
    pm = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=float(tempo))
    num = den = None
    if time_signature:
        num, den = (int(x) for x in time_signature.split("/"))
    n16, whole16 = lead_in(downbeat_s, tempo, num * 4.0 / den if num else 4.0)
    if n16 > 0:
        tick_db = n16 * RESOLUTION // 4
        # the lead-in at its own tempo (within a 32nd of the played one), then the played tempo
        pm._tick_scales = [(0, downbeat_s / tick_db), (tick_db, 60.0 / (float(tempo) * RESOLUTION))]
        pm._update_tick_to_time(tick_db + 1)
    if num:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
        pick16 = n16 - whole16
        if pick16 > 0:
            g = 4 if pick16 % 4 == 0 else 2 if pick16 % 2 == 0 else 1
            t_pick = pm.tick_to_time(whole16 * RESOLUTION // 4)
            if whole16 == 0:
                pm.time_signature_changes.clear()
            pm.time_signature_changes.append(pretty_midi.TimeSignature(pick16 // g, 16 // g, t_pick))
            pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, float(downbeat_s)))
    inst = pretty_midi.Instrument(program=0, name="Piano")
    for on, off, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity):
        inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(on), end=float(off)))
    pm.instruments.append(inst)
    return pm


def write_midi(notes: Notes, path, tempo: float = DEFAULT_TEMPO, time_signature: str | None = None,
               downbeat_s: float = 0.0) -> Path:
    """Write ``notes`` as a standard MIDI file (type 1) at ``path``, atomically; the file
    states ``tempo`` (and ``time_signature`` when given), bar 1 at ``downbeat_s`` (see
    :func:`notes_to_pretty_midi`)."""
    pm = notes_to_pretty_midi(notes.sorted(), tempo, time_signature, downbeat_s)
    buf = io.BytesIO()
    pm.write(buf)
    return atomic_write_bytes(path, buf.getvalue())


def write_csv(notes: Notes, path) -> Path:
    """Write ``notes`` as CSV (onset_s, offset_s, pitch, velocity), atomically."""
    n = notes.sorted()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["onset_s", "offset_s", "pitch", "velocity"])
    for on, off, p, v in zip(n.onset, n.offset, n.pitch, n.velocity):
        w.writerow([f"{on:.6f}", f"{off:.6f}", int(p), int(v)])
    return atomic_write_bytes(path, buf.getvalue().encode())


def read_csv(path) -> Notes:
    """Notes of a CSV written by :func:`write_csv` (header, then onset_s,offset_s,pitch,velocity)."""
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except Exception as exc:
        raise MidiError(f"Cannot read note CSV {path}: {exc}") from exc
    if data.size == 0:
        return Notes()
    if data.shape[1] != 4:
        raise MidiError(f"Cannot read note CSV {path}: expected 4 columns (onset_s, offset_s, pitch, "
                        f"velocity), found {data.shape[1]}")
    on, off, pitch, vel = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
    bad = ~np.isfinite(data).all(1) | (on < 0) | (off <= on) | (pitch < 0) | (pitch > 127) | (vel < 0) | (vel > 127)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 2
        raise MidiError(f"Cannot read note CSV {path}: line {row} is not a note (need 0 ≤ onset < offset "
                        "in seconds, pitch and velocity 0..127)")
    return Notes(on, off, pitch.astype(int), np.clip(vel, 1, 127).astype(int))


def read_midi(path, sustain: bool = False) -> Notes:
    """Notes of a MIDI file (pedal not applied unless ``sustain``)."""
    return notes_from_midi(path, sustain=sustain)


def read_notes(path) -> Notes:
    """Notes from a .csv (see :func:`read_csv`) or a MIDI file (sustain pedal folded into the
    note lengths, as transcriptions are); a clear :class:`MidiError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise MidiError(f"Cannot import {path}: no such file")
    if path.suffix.lower() == ".csv":
        return read_csv(path)
    return read_midi(path, sustain=True)


def import_notes(path) -> tuple[Notes, int]:
    """Notes of a .csv or MIDI file for the app to show, and how many of its rows were
    dropped because they break the rules of the engine's notes
    (:func:`par_studio.notes.validate_notes`: NaN or negative times, pitches off the piano,
    velocities outside 0..127, lines that are not four numbers). A file that cannot be read
    at all raises :class:`MidiError`."""
    from .notes import validate_notes

    path = Path(path)
    if not path.is_file():
        raise MidiError(f"Cannot import {path}: no such file")
    if path.suffix.lower() != ".csv":
        n = read_midi(path, sustain=True)
        return validate_notes(n.onset, n.offset, n.pitch, n.velocity)
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            rows = list(csv.reader(fh))
    except (OSError, csv.Error) as exc:
        raise MidiError(f"Cannot read note CSV {path}: {exc}") from exc
    if rows and rows[0] and not _is_number(rows[0][0]):
        rows = rows[1:]  # the header
    rows = [r for r in rows if any(c.strip() for c in r)]
    if rows and all(len(r) != 4 for r in rows):
        raise MidiError(f"Cannot read note CSV {path}: expected 4 columns (onset_s, offset_s, pitch, "
                        f"velocity), found {len(rows[0])}")
    cols = [[r[i] if len(r) == 4 else None for r in rows] for i in range(4)]
    return validate_notes(*cols)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_notes(notes: Notes, path, tempo: float = DEFAULT_TEMPO) -> Path:
    """Write by extension: .csv → CSV, anything else → MIDI."""
    if Path(path).suffix.lower() == ".csv":
        return write_csv(notes, path)
    return write_midi(notes, path, tempo)
