"""Note edits as pure numpy on :class:`~par_studio.notes.Notes` (no Qt), and hit-testing.

Every function returns a *new* Notes object, sorted by (onset, pitch), and where the edited
notes went (their indices in it), so the editor (:mod:`.editing`) can keep them selected and
undo by swapping objects. Times in seconds (snapped to the 32 ms frame grid where noted),
pitches as MIDI numbers 21..108, velocities 1..127.
"""

from __future__ import annotations

import numpy as np

from ..constants import FRAME_SECONDS, MAX_MIDI, MIN_MIDI
from ..notes import Notes

NEW_NOTE_FRAMES = 8  #: a double-click adds 8 frames = 256 ms (the frame grid nearest 250 ms)
NEW_NOTE_VELOCITY = 80


def snap(t) -> np.ndarray | float:
    """Seconds → nearest point of the 32 ms frame grid."""
    return np.round(np.asarray(t, np.float64) / FRAME_SECONDS) * FRAME_SECONDS


def _sorted_with_selection(notes: Notes, selected: np.ndarray) -> tuple[Notes, np.ndarray]:
    """Sort ``notes`` by (onset, pitch) and return where the ``selected`` rows went."""
    order = np.lexsort((notes.pitch, notes.onset))
    out = notes.take(order)
    mask = np.zeros(len(notes), bool)
    mask[np.asarray(selected, np.int64)] = True
    return out, np.flatnonzero(mask[order])


def hit_test(notes: Notes, t: float, pitch: float, slop_s: float = 0.0) -> int:
    """Index of the note under (``t`` s, ``pitch``), or -1. Among overlapping notes of the key,
    the one that started last wins (it is the one the eye sees at that point)."""
    if len(notes) == 0:
        return -1
    p = int(np.round(pitch))
    on = notes.onset - slop_s
    off = np.maximum(notes.offset, notes.onset + 1e-3) + slop_s
    idx = np.flatnonzero((notes.pitch == p) & (on <= t) & (off >= t))
    if len(idx) == 0:
        return -1
    return int(idx[np.argmax(notes.onset[idx])])


def notes_in_rect(notes: Notes, t0: float, t1: float, p0: float, p1: float) -> np.ndarray:
    """Indices of the notes whose bar intersects the time range [t0, t1] and pitch rows [p0, p1]."""
    t0, t1 = min(t0, t1), max(t0, t1)
    p0, p1 = min(p0, p1), max(p0, p1)
    pitch = notes.pitch.astype(np.float64)
    hit = (notes.onset <= t1) & (notes.offset >= t0) & (pitch + 0.4 >= p0) & (pitch - 0.4 <= p1)
    return np.flatnonzero(hit)


def delete_notes(notes: Notes, idx) -> tuple[Notes, np.ndarray]:
    keep = np.ones(len(notes), bool)
    keep[np.asarray(idx, np.int64)] = False
    return notes.take(keep), np.zeros(0, np.int64)


def add_note(notes: Notes, onset: float, pitch: int, duration: float = NEW_NOTE_FRAMES * FRAME_SECONDS,
             velocity: int = NEW_NOTE_VELOCITY) -> tuple[Notes, np.ndarray]:
    """Add one note (pitch clipped to the piano, onset ≥ 0); returns the notes and its index."""
    onset = max(0.0, float(onset))
    pitch = int(np.clip(int(round(pitch)), MIN_MIDI, MAX_MIDI))
    new = Notes([onset], [onset + max(float(duration), FRAME_SECONDS)], [pitch],
                [int(np.clip(velocity, 1, 127))])
    both = Notes(np.concatenate([notes.onset, new.onset]), np.concatenate([notes.offset, new.offset]),
                 np.concatenate([notes.pitch, new.pitch]), np.concatenate([notes.velocity, new.velocity]))
    return _sorted_with_selection(both, np.array([len(notes)]))


def clamp_move(notes: Notes, idx, dt: float, dp: int) -> tuple[float, int]:
    """Limit a move so the moved notes stay at t ≥ 0 and on the 88 keys."""
    idx = np.asarray(idx, np.int64)
    if len(idx) == 0:
        return 0.0, 0
    dt = max(float(dt), -float(notes.onset[idx].min()))
    lo, hi = int(notes.pitch[idx].min()), int(notes.pitch[idx].max())
    dp = int(np.clip(int(dp), MIN_MIDI - lo, MAX_MIDI - hi))
    return dt, dp


def move_notes(notes: Notes, idx, dt: float, dp: int) -> tuple[Notes, np.ndarray]:
    """Shift the ``idx`` notes by ``dt`` seconds and ``dp`` semitones (clamped, see clamp_move)."""
    idx = np.asarray(idx, np.int64)
    dt, dp = clamp_move(notes, idx, dt, dp)
    on, off, p = notes.onset.copy(), notes.offset.copy(), notes.pitch.copy()
    on[idx] += dt
    off[idx] += dt
    p[idx] += dp
    return _sorted_with_selection(Notes(on, off, p, notes.velocity), idx)


def clamp_resize(notes: Notes, idx, d_on: float, d_off: float) -> tuple[float, float]:
    """Limit an edge drag so every resized note keeps onset ≥ 0 and at least one frame (32 ms)."""
    idx = np.asarray(idx, np.int64)
    if len(idx) == 0:
        return 0.0, 0.0
    on, off = notes.onset[idx], notes.offset[idx]
    room = float((off - on - FRAME_SECONDS).min())  # how far the shortest note may shrink
    d_on = float(np.clip(d_on, -float(on.min()), max(0.0, room)))
    d_off = max(float(d_off), min(0.0, -room))
    return d_on, d_off


def resize_notes(notes: Notes, idx, d_on: float, d_off: float) -> tuple[Notes, np.ndarray]:
    """Move the start (``d_on`` s) and/or end (``d_off`` s) of the ``idx`` notes (clamped)."""
    idx = np.asarray(idx, np.int64)
    d_on, d_off = clamp_resize(notes, idx, d_on, d_off)
    on, off = notes.onset.copy(), notes.offset.copy()
    on[idx] += d_on
    off[idx] += d_off
    return _sorted_with_selection(Notes(on, off, notes.pitch, notes.velocity), idx)


def join_notes(notes: Notes, idx) -> tuple[Notes, np.ndarray]:
    """Join the selected notes key by key: the notes of one key become one note from the first
    onset to the last offset, with the first note's velocity (undoes a split the model made)."""
    idx = np.asarray(idx, np.int64)
    keep = np.ones(len(notes), bool)
    off = notes.offset.copy()
    firsts = []
    for p in np.unique(notes.pitch[idx]):
        same = idx[notes.pitch[idx] == p]
        same = same[np.argsort(notes.onset[same], kind="stable")]
        off[same[0]] = notes.offset[same].max()
        keep[same[1:]] = False
        firsts.append(same[0])
    joined = Notes(notes.onset, off, notes.pitch, notes.velocity)
    new_index = np.cumsum(keep) - 1
    return joined.take(keep), np.sort(new_index[np.asarray(firsts, np.int64)])


def split_notes(notes: Notes, idx, t: float) -> tuple[Notes, np.ndarray]:
    """Split every ``idx`` note that sounds across ``t`` (snapped to the frame grid) in two; both
    halves keep the velocity and stay selected. Notes that do not cross ``t`` are unchanged."""
    idx = np.asarray(idx, np.int64)
    t = float(snap(t))
    cut = idx[(notes.onset[idx] + FRAME_SECONDS / 2 <= t) & (notes.offset[idx] - FRAME_SECONDS / 2 >= t)]
    if len(cut) == 0:
        return notes, idx
    off = notes.offset.copy()
    off[cut] = t
    both = Notes(np.concatenate([notes.onset, np.full(len(cut), t)]),
                 np.concatenate([off, notes.offset[cut]]),
                 np.concatenate([notes.pitch, notes.pitch[cut]]),
                 np.concatenate([notes.velocity, notes.velocity[cut]]))
    return _sorted_with_selection(both, np.concatenate([idx, len(notes) + np.arange(len(cut))]))


def quantise_notes(notes: Notes, idx, grid_s: float) -> tuple[Notes, np.ndarray]:
    """Snap the starts and ends of the ``idx`` notes to multiples of ``grid_s`` seconds from
    0 s (where MIDI tick 0 is, so the grid is whole ticks in the exported file). A note keeps
    at least one grid step."""
    idx = np.asarray(idx, np.int64)
    if grid_s <= 0:
        raise ValueError(f"grid must be positive, got {grid_s}")
    on, off = notes.onset.copy(), notes.offset.copy()
    q_on = np.round(on[idx] / grid_s) * grid_s
    q_off = np.maximum(np.round(off[idx] / grid_s) * grid_s, q_on + grid_s)
    on[idx], off[idx] = q_on, q_off
    return _sorted_with_selection(Notes(on, off, notes.pitch, notes.velocity), idx)


def velocity_hit(notes: Notes, t: float, v: float, px_t: float, px_v: float, slop_px: float = 6.0) -> int:
    """Index of the note whose velocity stem (at its onset, from 0 up to its velocity) is at
    view point (``t`` s, ``v``) of the velocity lane, within ``slop_px`` pixels (``px_t`` s and
    ``px_v`` velocity units per pixel); among overlapping stems the nearest head; else -1."""
    if not len(notes):
        return -1
    near = (np.abs(notes.onset - t) <= slop_px * px_t) & (v <= notes.velocity + slop_px * px_v)
    idx = np.flatnonzero(near)
    if not len(idx):
        return -1
    return int(idx[np.argmin(np.abs(notes.velocity[idx] - v))])


def set_velocities(notes: Notes, idx, base, dv: int) -> tuple[Notes, np.ndarray]:
    """Notes ``idx`` get velocity ``base + dv`` (``base``: their velocities before), clamped to 1..127."""
    idx = np.asarray(idx, np.int64)
    v = notes.velocity.astype(np.int64)
    v[idx] = np.clip(np.asarray(base, np.int64) + int(dv), 1, 127)
    return Notes(notes.onset, notes.offset, notes.pitch, v), idx


def change_velocity(notes: Notes, idx, dv: int) -> tuple[Notes, np.ndarray]:
    """Notes ``idx`` get ``dv`` louder (softer when negative), clamped to 1..127."""
    idx = np.asarray(idx, np.int64)
    return set_velocities(notes, idx, notes.velocity[idx], dv)


