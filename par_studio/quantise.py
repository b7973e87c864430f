"""Notes on a metrical grid: quantised onsets and lengths in ticks, hands, and the same notes
back in seconds — the one quantisation that score export, MIDI "quantised" export and the
roll's Quantise share, so that what the roll shows is what is exported.

Units: ``TICKS`` per quarter note (48: a 16th is 12, an 8th-note triplet 16, a 32nd 6);
positions count from the first bar line of the score (bar 1 starts at tick 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .notes import Notes
from .meter import Meter

TICKS = 48  #: ticks per quarter note
SIXTEENTH, TRIPLET, THIRTY_SECOND = 12, 16, 6  #: grid steps in ticks
TRIPLET_GAIN = 0.6  #: a beat uses triplets when they cut the mean snapping error to this share
FINE_GAIN = 0.5  #: ... and 32nds when they cut the 16th grid's error to this share
MIN_ERROR = 0.04 * TICKS  #: finer or triplet grids only when the 16th grid misses by this (ticks)
SPLIT_WINDOW_S = 1.5  #: the hand split follows the pitches within this many seconds


@dataclass
class Quantised:
    """Notes on the grid. All arrays (N,), sorted by (onset, pitch).

    onset, duration: int ticks (TICKS per quarter) from the first bar line; pitch, velocity:
    MIDI; hand: 0 upper staff (right hand), 1 lower staff (left hand); step: the grid step
    (ticks) of the beat the onset lies in (12 sixteenths, 16 triplets, 6 thirty-seconds).
    ``shift_q``: quarters added to :meth:`Meter.quarters_at` so the first note's bar starts at 0.
    """

    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    hand: np.ndarray
    step: np.ndarray
    meter: Meter
    shift_q: float = 0.0

    def __len__(self) -> int:
        return len(self.onset)

    @property
    def bar_ticks(self) -> int:
        return int(round(self.meter.bar_quarters * TICKS))

    def to_notes(self) -> Notes:
        """The quantised notes in seconds on the meter's beats (what the roll shows)."""
        on = self.meter.seconds_at(self.onset / TICKS - self.shift_q)
        off = self.meter.seconds_at((self.onset + self.duration) / TICKS - self.shift_q)
        return Notes(on, np.maximum(off, on + 1e-3), self.pitch, self.velocity)


def hand_split(notes: Notes, window_s: float = SPLIT_WINDOW_S) -> np.ndarray:
    """(N,) split pitch per note: notes below it go to the lower staff. At each note the split
    runs through the emptiest pitch region near middle C among the notes struck within
    ``window_s``, so it follows the music (a left hand climbing above C4, a right hand below)."""
    if len(notes) == 0:
        return np.zeros(0)
    order = np.argsort(notes.onset, kind="stable")
    on, pitch = notes.onset[order], notes.pitch[order].astype(float)
    cand = np.arange(40, 81) + 0.5  # split between c-0.5 and c+0.5
    lo = np.searchsorted(on, on - window_s)
    hi = np.searchsorted(on, on + window_s, side="right")
    splits = np.empty(len(on))
    for i, (a, b) in enumerate(zip(lo, hi)):
        p = np.sort(pitch[a:b])
        # share of the notes lying on the split (a split belongs in a gap between pitches)
        crowd = 4.0 * np.exp(-0.5 * (p[None, :] - cand[:, None]) ** 2).sum(1) / len(p)
        # a hand spans about an octave: a side spread much wider costs too
        k = np.searchsorted(p, cand)
        below = np.where(k >= 2, p[np.maximum(k - 1, 0)] - p[0], 0.0)
        above = np.where(len(p) - k >= 2, p[-1] - p[np.minimum(k, len(p) - 1)], 0.0)
        reach = np.maximum(below - 12, 0) + np.maximum(above - 12, 0)
        cost = crowd + 0.3 * reach + 0.6 * ((cand - 60) / 12.0) ** 2
        splits[i] = cand[np.argmin(cost)]
    out = np.empty(len(on))
    out[order] = splits
    return out


def _beat_of(q: np.ndarray, beat_q: float) -> np.ndarray:
    """Beat index of quarter positions; an onset played slightly early (within 1/12 beat)
    belongs to the beat it anticipates."""
    return np.floor(q / beat_q + 1.0 / 12).astype(int)


def _beat_steps(q: np.ndarray, beat_q: float) -> dict[int, int]:
    """Grid step (ticks) per beat index: 16ths by default; 8th-note triplets or 32nds where
    the onsets in that beat fit them clearly better."""
    ticks = q * TICKS
    beat = _beat_of(q, beat_q)
    steps: dict[int, int] = {}
    for b in np.unique(beat):
        t = ticks[beat == b] - b * beat_q * TICKS

        def err(step):
            return float(np.mean(np.abs(t - np.round(t / step) * step)))

        e16 = err(SIXTEENTH)
        step = SIXTEENTH
        if e16 > MIN_ERROR:
            if beat_q == 1.0 and err(TRIPLET) <= TRIPLET_GAIN * e16:
                step = TRIPLET
            elif err(THIRTY_SECOND) <= FINE_GAIN * e16:
                step = THIRTY_SECOND
        steps[int(b)] = step
    return steps


def _snap(q: np.ndarray, beat_q: float, steps: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Quarter positions → (ticks on their beat's grid, that grid's step)."""
    beat_ticks = int(round(beat_q * TICKS))
    beat = _beat_of(q, beat_q)
    step = np.array([steps.get(int(b), SIXTEENTH) for b in beat])
    rel = q * TICKS - beat * beat_ticks
    snapped = beat * beat_ticks + np.round(rel / step).astype(int) * step
    return snapped.astype(np.int64), step


def quantise(notes: Notes, meter: Meter) -> Quantised:
    """Snap ``notes`` to ``meter``'s grid: onsets to each beat's grid, ends likewise; a note
    held (by the pedal) past the next onset of its own hand ends there instead; notes of one
    hand struck together become a chord of one length."""
    n = notes.sorted()
    if len(n) == 0:
        z = np.zeros(0, np.int64)
        return Quantised(z, z, z, z, z, z, meter)
    beat_q = 1.5 if meter.division == 3 else 1.0
    q_on = meter.quarters_at(n.onset)
    bar_q = meter.bar_quarters
    # the first note's bar starts at 0 (a note played up to a 16th early belongs to the bar)
    shift = -np.floor((q_on.min() + 0.25) / bar_q) * bar_q
    q_on = q_on + shift
    q_off = meter.quarters_at(n.offset) + shift
    steps = _beat_steps(q_on, beat_q)
    on, step = _snap(q_on, beat_q, steps)
    # a note played early for bar 1 may snap to the 16th before it: it belongs to bar 1's start
    # (a negative onset cannot be placed in any measure of the score)
    on = np.maximum(on, 0)
    off, _ = _snap(np.maximum(q_off, q_on), beat_q, steps)
    # hands from the quantised times, so quantising quantised notes again changes nothing
    on_s = meter.seconds_at(on / TICKS - shift)
    hand = (n.pitch < hand_split(Notes(on_s, on_s + 0.1, n.pitch, n.velocity))).astype(np.int64)
    dur = np.maximum(off - on, step)
    gap = np.full(len(on), np.iinfo(np.int64).max, np.int64)  # to the next onset of the same hand
    for h in (0, 1):
        idx = np.flatnonzero(hand == h)
        if not len(idx):
            continue
        starts = np.unique(on[idx])
        nxt = np.append(starts[1:], np.iinfo(np.int64).max)
        next_on = nxt[np.searchsorted(starts, on[idx])]
        gap[idx] = next_on - on[idx]
        d = np.minimum(dur[idx], gap[idx])
        # one length per chord: the longest of its notes
        for s in starts:
            sel = on[idx] == s
            d[sel] = d[sel].max()
        dur[idx] = d
    # the score ends with the bar of the last onset: notes ringing on past it end there
    bar_t = int(round(bar_q * TICKS))
    last_bar_end = (int(on.max()) // bar_t + 1) * bar_t
    # at least one grid step, but never past the hand's next onset (a note cut short by a finer
    # grid's next onset would overlap it, and notation software would open a second voice)
    dur = np.maximum(np.minimum(dur, last_bar_end - on), np.minimum(np.minimum(step, gap), last_bar_end - on))
    # a pitch struck twice at one grid point (a re-strike closer than the grid) keeps one note
    key = on * 1000 + n.pitch.astype(np.int64)
    _, keep = np.unique(key, return_index=True)
    keep = np.sort(keep)
    return Quantised(on[keep], dur[keep], n.pitch[keep].astype(np.int64),
                     n.velocity[keep].astype(np.int64), hand[keep], step[keep], meter, float(shift))


def quantised_notes(notes: Notes, meter: Meter) -> Notes:
    """``notes`` snapped to the grid and back in seconds (the roll's Quantise to the beat grid)."""
    return quantise(notes, meter).to_notes()


def steady_notes(q: Quantised, lead_in_s: float = 0.0) -> Notes:
    """The quantised notes at the meter's steady tempo (quarter notes per minute), bar 1 at
    ``lead_in_s``: the timing of a quantised MIDI file, every note on a tick of the grid."""
    sec = 60.0 / q.meter.quarter_bpm
    on = lead_in_s + q.onset / TICKS * sec
    return Notes(on, on + q.duration / TICKS * sec, q.pitch, q.velocity)
