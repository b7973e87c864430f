"""A metrical grid: beats in seconds grouped into bars, and the map between seconds and
quarter notes that quantising, bar lines and score export share. Estimated from notes by
:mod:`par_studio.tempo`, or made steady from a typed tempo and time signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class Meter:
    """A metrical grid: beats (seconds) grouped into bars.

    ``beat_bpm`` counts beats per minute; a beat is a quarter note in simple meter
    (``division`` 2) and a dotted quarter in compound meter (``division`` 3, 6/8 etc.).
    ``beats`` (B,) float64 seconds, ``downbeat`` index into ``beats`` of the first bar line.
    """

    beat_bpm: float
    beats_per_bar: int = 4
    division: int = 2
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    downbeat: int = 0

    @property
    def quarter_bpm(self) -> float:
        """Quarter notes per minute (the MIDI and MusicXML tempo unit)."""
        return self.beat_bpm * (1.5 if self.division == 3 else 1.0)

    @property
    def time_signature(self) -> str:
        if self.division == 3:
            return f"{3 * self.beats_per_bar}/8"
        return f"{self.beats_per_bar}/4"

    @property
    def bar_quarters(self) -> float:
        """Length of one bar in quarter notes."""
        return self.beats_per_bar * (1.5 if self.division == 3 else 1.0)

    @property
    def downbeat_s(self) -> float:
        return float(self.beats[self.downbeat]) if len(self.beats) else 0.0

    @classmethod
    def regular(cls, quarter_bpm: float, time_signature: str = "4/4", start_s: float = 0.0,
                end_s: float = 60.0) -> "Meter":
        """A steady grid at a typed tempo (quarter notes per minute) and time signature,
        its first downbeat at ``start_s``, beats up to ``end_s``."""
        num, den = parse_time_signature(time_signature)
        division = 3 if den == 8 and num % 3 == 0 and num > 3 else 2
        per_bar = num // 3 if division == 3 else num
        beat_bpm = quarter_bpm / (1.5 if division == 3 else 1.0)
        if division == 2 and den != 4:  # 2/2, 3/8...: count in quarters, keep the bar length
            per_bar = max(1, round(num * 4 / den))
        step = 60.0 / beat_bpm
        beats = start_s + step * np.arange(max(1, int(np.ceil((end_s - start_s) / step)) + 1))
        return cls(float(beat_bpm), int(per_bar), division, beats, 0)

    def quarters_at(self, t) -> np.ndarray:
        """Map seconds to quarter notes since the first downbeat, following the beats
        (linear inside a beat, the edge beat lengths beyond the ends)."""
        t = np.asarray(t, np.float64)
        b = self.beats
        q_per_beat = 1.5 if self.division == 3 else 1.0
        if len(b) < 2:
            return (t - (b[0] if len(b) else 0.0)) * self.quarter_bpm / 60.0
        idx = np.arange(len(b), dtype=np.float64) - self.downbeat
        inner = np.interp(t, b, idx)
        first = (t - b[0]) / (b[1] - b[0]) + idx[0]
        last = (t - b[-1]) / (b[-1] - b[-2]) + idx[-1]
        beats = np.where(t < b[0], first, np.where(t > b[-1], last, inner))
        return beats * q_per_beat

    def seconds_at(self, q) -> np.ndarray:
        """Inverse of :meth:`quarters_at`: quarter notes since the first downbeat → seconds."""
        q = np.asarray(q, np.float64)
        b = self.beats
        q_per_beat = 1.5 if self.division == 3 else 1.0
        x = q / q_per_beat + self.downbeat
        if len(b) < 2:
            return (b[0] if len(b) else 0.0) + q * 60.0 / self.quarter_bpm
        idx = np.arange(len(b), dtype=np.float64)
        inner = np.interp(x, idx, b)
        first = b[0] + (x - 0) * (b[1] - b[0])
        last = b[-1] + (x - idx[-1]) * (b[-1] - b[-2])
        return np.where(x < 0, first, np.where(x > idx[-1], last, inner))

    def first_bar_at(self, t: float, tolerance: float = 0.125) -> "Meter":
        """The same grid, continued back towards 0 s at its first beat length, with bar 1 moved
        back by whole bars to the earliest bar line at or after ``t`` s (the first note), less
        ``tolerance`` of a beat: a grid whose tracked beats begin some bars into the music
        numbers the music's first full bar 1, and only notes before it form a pickup."""
        if len(self.beats) < 2:
            return self
        g = self.extended(float(self.beats[-1]))  # continued back to 0 s, nothing added after
        step0 = g.beats[1] - g.beats[0]
        down, per = g.downbeat, g.beats_per_bar
        while down - per >= 0 and g.beats[down - per] >= t - tolerance * step0:
            down -= per
        return replace(g, downbeat=down)

    def extended(self, end_s: float) -> "Meter":
        """The grid with beats continued (at the last beat length) up to ``end_s`` and back to
        0 s, so bar lines cover the whole recording."""
        b = np.asarray(self.beats, np.float64)
        if len(b) < 2:
            return self
        step0, step1 = b[1] - b[0], b[-1] - b[-2]
        n_before = int(np.floor(b[0] / step0)) if step0 > 0 else 0
        before = b[0] - step0 * np.arange(n_before, 0, -1)
        n_after = max(0, int(np.ceil((end_s - b[-1]) / step1))) if step1 > 0 else 0
        after = b[-1] + step1 * np.arange(1, n_after + 1)
        return Meter(self.beat_bpm, self.beats_per_bar, self.division,
                     np.concatenate([before, b, after]), self.downbeat + n_before)


def parse_time_signature(text: str) -> tuple[int, int]:
    """``"6/8"`` → (6, 8); ValueError for anything that is not n/d with d in 2, 4, 8, 16."""
    try:
        num, den = (int(x) for x in str(text).strip().split("/"))
    except ValueError:
        raise ValueError(f"time signature {text!r} is not like 4/4 or 6/8") from None
    if not (1 <= num <= 32 and den in (2, 4, 8, 16)):
        raise ValueError(f"time signature {text!r}: need 1..32 beats over 2, 4, 8 or 16")
    return num, den
