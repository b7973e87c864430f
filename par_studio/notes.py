"""Notes, labels and decoding: pure numpy, no torch, no Qt.

* :class:`Notes` holds a transcription as columns (seconds, MIDI pitch, MIDI velocity).
* :func:`notes_from_midi` reads a MIDI file into pedal-extended reference notes.
* :func:`encode` turns notes into the 5-state roll and the recursive-context arrays on the
  32 ms grid; :func:`decode` turns a state roll (+ velocities) back into notes.

The decoder is the single one used by the offline engine, the streaming engine, the GUI and
the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .constants import (
    FRAME_SECONDS,
    MAX_MIDI,
    MIN_MIDI,
    N_KEYS,
    STATE_OFF,
    STATE_OFFSET,
    STATE_ONSET,
    STATE_REONSET,
    STATE_SUSTAIN,
    SUSTAIN_CC,
    SUSTAIN_THRESHOLD,
    TIME_SINCE_ONSET_CAP,
    VELOCITY_SCALE,
)


@dataclass
class Notes:
    """A set of notes as parallel arrays, sorted by (onset, pitch).

    onset, offset: (N,) float64 seconds; pitch: (N,) int16 MIDI pitch 21..108;
    velocity: (N,) int16 MIDI velocity 1..127.
    """

    onset: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    pitch: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))

    def __post_init__(self) -> None:
        self.onset = np.asarray(self.onset, np.float64).reshape(-1)
        self.offset = np.asarray(self.offset, np.float64).reshape(-1)
        self.pitch = np.asarray(self.pitch, np.int16).reshape(-1)
        self.velocity = np.asarray(self.velocity, np.int16).reshape(-1)
        n = len(self.onset)
        if not (len(self.offset) == len(self.pitch) == len(self.velocity) == n):
            raise ValueError("Notes columns must have equal lengths")

    def __len__(self) -> int:
        return len(self.onset)

    def sorted(self) -> "Notes":
        order = np.lexsort((self.pitch, self.onset))
        return self.take(order)

    def take(self, index) -> "Notes":
        return Notes(self.onset[index], self.offset[index], self.pitch[index], self.velocity[index])

    @classmethod
    def concat(cls, parts: list["Notes"]) -> "Notes":
        if not parts:
            return cls()
        return cls(
            np.concatenate([p.onset for p in parts]),
            np.concatenate([p.offset for p in parts]),
            np.concatenate([p.pitch for p in parts]),
            np.concatenate([p.velocity for p in parts]),
        ).sorted()

    def intervals(self) -> np.ndarray:
        """(N, 2) onset/offset seconds, as mir_eval wants them."""
        return np.stack([self.onset, self.offset], axis=1) if len(self) else np.zeros((0, 2))

    def pitches_hz(self) -> np.ndarray:
        """(N,) pitches in Hz, as mir_eval wants them."""
        return 440.0 * 2.0 ** ((self.pitch.astype(np.float64) - 69.0) / 12.0)

    def end_time(self) -> float:
        return float(self.offset.max()) if len(self) else 0.0

    def equals(self, other: "Notes", atol: float = 1e-9) -> bool:
        a, b = self.sorted(), other.sorted()
        return (
            len(a) == len(b)
            and np.array_equal(a.pitch, b.pitch)
            and np.array_equal(a.velocity, b.velocity)
            and np.allclose(a.onset, b.onset, atol=atol, rtol=0)
            and np.allclose(a.offset, b.offset, atol=atol, rtol=0)
        )


# --------------------------------------------------------------------------- MIDI → notes
#: the longest a note may start after the beginning of a recording (24 hours, seconds)
MAX_NOTE_SECONDS = 24 * 3600.0


def _column(values, n: int) -> np.ndarray:
    """(n,) float64 of ``values``; NaN where an entry is not a number (text, None, ...)."""
    out = np.full(n, np.nan)
    for i, v in enumerate(list(values)[:n]):
        if isinstance(v, bool):
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError, OverflowError):
            pass
    return out


def validate_notes(onset, offset, pitch, velocity) -> tuple[Notes, int]:
    """The rows of four columns from outside (an autosave, an imported file) that obey the
    rules of the engine's notes, as :class:`Notes`, and how many rows were dropped.

    A note is kept when 0 ≤ onset < offset ≤ 24 h (finite seconds), its pitch is a whole
    number in 21..108 (the piano's keys, MIDI) and its velocity a whole number in 0..127
    (0 becomes 1: a note that exists was struck). Columns of unequal length keep the rows
    all four have."""
    cols = [list(c) if not isinstance(c, np.ndarray) else c.reshape(-1).tolist()
            for c in (onset, offset, pitch, velocity)]
    n = max(len(c) for c in cols)
    keep = min(len(c) for c in cols)
    on, off, p, v = (_column(c, keep) for c in cols)
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(on) & np.isfinite(off) & (on >= 0) & (off > on) & (off <= MAX_NOTE_SECONDS)
              & (p == np.round(p)) & (p >= MIN_MIDI) & (p <= MAX_MIDI)
              & (v == np.round(v)) & (v >= 0) & (v <= 127))
    notes = Notes(on[ok], off[ok], p[ok].astype(np.int16), np.maximum(v[ok], 1).astype(np.int16))
    return notes, int(n - ok.sum())


def sustain_intervals(cc_events: list[tuple[float, int]]) -> list[tuple[float, float]]:
    """Pedal-down intervals (start s, end s) from (time s, CC64 value) events in time order."""
    out: list[tuple[float, float]] = []
    down_at: float | None = None
    for t, value in cc_events:
        if value >= SUSTAIN_THRESHOLD and down_at is None:
            down_at = t
        elif value < SUSTAIN_THRESHOLD and down_at is not None:
            out.append((down_at, t))
            down_at = None
    if down_at is not None:
        out.append((down_at, float("inf")))
    return out


def apply_sustain(notes: Notes, pedal: list[tuple[float, float]], end_time: float | None = None) -> Notes:
    """Extend note ends that fall while the pedal is down to the pedal release, then cut every
    note at the next onset of the same key (a key cannot sound twice). ``end_time`` caps an
    unreleased pedal (default: the latest note end)."""
    if len(notes) == 0:
        return notes
    n = notes.sorted()
    offset = n.offset.copy()
    cap = end_time if end_time is not None else float(offset.max())
    for start, stop in pedal:
        stop = min(stop, max(cap, start))
        inside = (offset >= start) & (offset < stop)
        offset[inside] = stop
    # cut at the next onset of the same key
    for p in np.unique(n.pitch):
        idx = np.flatnonzero(n.pitch == p)
        if len(idx) > 1:
            nxt = n.onset[idx[1:]]
            offset[idx[:-1]] = np.minimum(offset[idx[:-1]], nxt)
    return Notes(n.onset, offset, n.pitch, n.velocity)


def notes_from_pretty_midi(pm, sustain: bool = True) -> Notes:
    """Piano notes of every non-drum instrument of a ``pretty_midi.PrettyMIDI``; pedal-extended
    (per instrument's CC64) when ``sustain``. Notes outside A0..C8 are dropped."""
    parts = []
    for inst in pm.instruments:
        if inst.is_drum or not inst.notes:
            continue
        n = Notes(
            [x.start for x in inst.notes],
            [x.end for x in inst.notes],
            [x.pitch for x in inst.notes],
            [max(1, min(127, x.velocity)) for x in inst.notes],
        )
        keep = (n.pitch >= MIN_MIDI) & (n.pitch <= MAX_MIDI) & (n.offset > n.onset)
        n = n.take(keep)
        if sustain:
            cc = sorted((c.time, c.value) for c in inst.control_changes if c.number == SUSTAIN_CC)
            n = apply_sustain(n, sustain_intervals(cc))
        parts.append(n)
    return Notes.concat(parts)


def notes_from_midi(path, sustain: bool = True) -> Notes:
    """Read a MIDI file into (by default pedal-extended) reference notes."""
    import pretty_midi

    from .errors import MidiError

    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # pretty_midi/mido raise many kinds
        raise MidiError(f"Cannot read MIDI file {path}: {exc}") from exc
    return notes_from_pretty_midi(pm, sustain=sustain)


# --------------------------------------------------------------------------- encode
@dataclass
class Labels:
    """Frame-level targets and recursive context on the 32 ms grid.

    state: (T, 88) int64 note states; velocity: (T, 88) float32 velocity/128 of the note
    sounding at each frame (0 where none); onset_mask: (T, 88) bool, onset or re-onset frames.
    prev_state, prev_time, prev_velocity: (T, 88) the context each frame sees, i.e. the
    previous frame's state, frames since onset (capped, /313) and onset velocity (/128).
    """

    state: np.ndarray
    velocity: np.ndarray
    onset_mask: np.ndarray
    prev_state: np.ndarray
    prev_time: np.ndarray
    prev_velocity: np.ndarray


def frame_of(seconds) -> np.ndarray:
    return np.round(np.asarray(seconds, np.float64) / FRAME_SECONDS).astype(np.int64)


def encode(notes: Notes, n_frames: int) -> Labels:
    """Notes (already pedal-extended) → 5-state roll with context, shape (n_frames, 88).

    Onset frame = round(onset / 32 ms); the note sounds up to (not including) round(offset /
    32 ms), at least one frame; the next frame is the offset state unless another note of the
    key starts there. A strike while the key still sounds is a re-onset and ends the previous
    note; two strikes on the same frame merge (the louder velocity wins).
    """
    T = n_frames
    state = np.zeros((T, N_KEYS), np.int64)
    vel = np.zeros((T, N_KEYS), np.float32)
    if len(notes):
        n = notes.sorted()
        on = frame_of(n.onset)
        off = np.maximum(frame_of(n.offset), on + 1)
        keys = n.pitch.astype(np.int64) - MIN_MIDI
        for k in np.unique(keys):
            idx = np.flatnonzero(keys == k)
            ons, offs, vels = on[idx], off[idx], n.velocity[idx]
            prev_end = -1
            for j in range(len(idx)):
                a, b = ons[j], offs[j]
                if a >= T:
                    break
                if j + 1 < len(idx) and ons[j + 1] == a:
                    continue  # merged into the next strike on the same frame
                if j > 0 and ons[j - 1] == a:
                    v = max(vels[j], vels[j - 1])
                else:
                    v = vels[j]
                if j + 1 < len(idx):
                    b = min(b, ons[j + 1])  # a new strike ends this note
                b = min(max(b, a + 1), T)
                reonset = prev_end >= a  # the previous note sounds up to this frame
                state[a, k] = STATE_REONSET if reonset else STATE_ONSET
                state[a + 1 : b, k] = STATE_SUSTAIN
                vel[a:b, k] = v / VELOCITY_SCALE
                if b < T and state[b, k] == STATE_OFF:
                    state[b, k] = STATE_OFFSET
                prev_end = b
    return _with_context(state, vel)


def _with_context(state: np.ndarray, vel: np.ndarray) -> Labels:
    T = state.shape[0]
    onset_mask = (state == STATE_ONSET) | (state == STATE_REONSET)
    sounding = onset_mask | (state == STATE_SUSTAIN)
    # frames since onset at each frame (1 at the onset frame), 0 where silent
    time = np.zeros(state.shape, np.float32)
    count = np.zeros(N_KEYS, np.float32)
    for t in range(T):
        count = np.where(onset_mask[t], 1.0, np.where(sounding[t], np.minimum(count + 1, TIME_SINCE_ONSET_CAP), 0.0))
        time[t] = count
    prev_state = np.zeros_like(state)
    prev_time = np.zeros_like(time)
    prev_vel = np.zeros_like(vel)
    if T > 1:
        prev_state[1:] = state[:-1]
        prev_time[1:] = time[:-1] / TIME_SINCE_ONSET_CAP
        prev_vel[1:] = np.where(sounding[:-1], vel[:-1], 0.0)
    return Labels(state, vel * sounding, onset_mask, prev_state, prev_time, prev_vel)


# --------------------------------------------------------------------------- decode
def decode(states: np.ndarray, velocity: np.ndarray | None = None, frame_offset: int = 0,
           include_open: bool = True, offset_shift: float = 0.0) -> Notes:
    """State roll → notes.

    states: (T, 88) ints in 0..4. velocity: (T, 88) velocity/128 (the value at a note's onset
    frame is its velocity); None gives velocity 64. A note starts at every onset or re-onset
    frame and lasts while the state is sustain; its offset is the first frame that is not.
    ``frame_offset`` shifts frame indices (streaming windows); notes still sounding at the
    last frame end there when ``include_open``, else they are left out. ``offset_shift``
    (seconds, the model's calibration ``offset_shift_s``) is added to the end of every note
    that ends by release, i.e. not at a new onset of its key nor at the last frame.
    """
    states = np.asarray(states)
    T = states.shape[0]
    if T == 0:
        return Notes()
    is_onset = (states == STATE_ONSET) | (states == STATE_REONSET)
    onsets_t, onsets_k = np.nonzero(is_onset)
    if len(onsets_t) == 0:
        return Notes()
    # For each frame and key, the next frame (> t) that does not continue the note.
    cont = states == STATE_SUSTAIN
    ends = np.empty(len(onsets_t), np.int64)
    # next non-sustain frame index per key, computed backwards
    nxt = np.full((T + 1, N_KEYS), T, np.int64)
    for t in range(T - 1, -1, -1):
        nxt[t] = np.where(cont[t], nxt[t + 1], t)
    ends = nxt[onsets_t + 1, onsets_k] if T > 0 else ends
    open_ = ends >= T
    if not include_open:
        keep = ~open_
        onsets_t, onsets_k, ends = onsets_t[keep], onsets_k[keep], ends[keep]
    if velocity is None:
        vel = np.full(len(onsets_t), 64, np.int16)
    else:
        v = np.asarray(velocity)[onsets_t, onsets_k] * VELOCITY_SCALE
        vel = np.clip(np.round(v), 1, 127).astype(np.int16)
    offsets = (ends + frame_offset) * FRAME_SECONDS
    if offset_shift:
        at_end = np.minimum(ends, T - 1)
        offsets = offsets + offset_shift * ((ends < T) & ~is_onset[at_end, onsets_k])
    return Notes(
        (onsets_t + frame_offset) * FRAME_SECONDS,
        offsets,
        onsets_k + MIN_MIDI,
        vel,
    ).sorted()
