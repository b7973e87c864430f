"""Procedurally generated piano MIDI for what human performances rarely contain.

Each piece (20-90 s, deterministic from its seed) is a chain of sections drawn from:
scales, arpeggios, fast repeated notes (re-strikes every 40-150 ms), dense chords (5-10 notes),
extreme-register passages (the lowest and highest octaves, MIDI 21-108), random textures and
trills, at a varied tempo and dynamics from pianissimo to fortissimo (velocity 5-127), with
long sustain-pedal (CC64) passages. Every piece contains at least one extreme-register section,
one repeated-note section and one pedalled passage.
"""

from __future__ import annotations

import numpy as np
import pretty_midi

from par_studio.constants import MAX_MIDI, MIN_MIDI, SUSTAIN_CC

MIN_VELOCITY = 5
MAX_VELOCITY = 127

_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "chromatic": tuple(range(12)),
    "whole": (0, 2, 4, 6, 8, 10),
    "penta": (0, 2, 4, 7, 9),
}
_SECTION_KINDS = ("scale", "arpeggio", "repeats", "chords", "extremes", "texture", "trill")


class _Piece:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.notes: list[pretty_midi.Note] = []
        self.pedal: list[tuple[float, float]] = []  # (down, up) intervals

    def vel(self, level: float) -> int:
        """A velocity around ``level`` (5..127) with a little human spread."""
        v = level + self.rng.normal(0, 6)
        return int(np.clip(round(v), MIN_VELOCITY, MAX_VELOCITY))

    def add(self, pitch: int, start: float, dur: float, velocity: int) -> None:
        pitch = int(pitch)
        if MIN_MIDI <= pitch <= MAX_MIDI and dur > 0.01:
            self.notes.append(pretty_midi.Note(int(velocity), pitch, float(start), float(start + dur)))


def _scale_pitches(rng: np.random.Generator, lo: int, hi: int) -> np.ndarray:
    root = int(rng.integers(0, 12))
    steps = _SCALES[str(rng.choice(list(_SCALES)))]
    return np.array([p for p in range(lo, hi + 1) if (p - root) % 12 in steps])


def _register(rng: np.random.Generator, width: int = 24) -> tuple[int, int]:
    lo = int(rng.integers(MIN_MIDI, MAX_MIDI - width + 1))
    return lo, lo + width


def _section(p: _Piece, kind: str, t0: float, length: float, beat: float, level: float) -> None:
    rng = p.rng
    t = t0
    end = t0 + length
    if kind == "scale":
        lo, hi = _register(rng, int(rng.integers(12, 40)))
        pitches = _scale_pitches(rng, lo, hi)
        step = beat / rng.choice([2, 3, 4, 6])
        i, d = 0, 1
        while t < end:
            p.add(pitches[i], t, step * rng.uniform(0.6, 1.1), p.vel(level))
            i += d
            if i in (0, len(pitches) - 1):
                d = -d
            t += step
    elif kind == "arpeggio":
        lo, _ = _register(rng, 36)
        root = lo + int(rng.integers(0, 12))
        chord = [0, 4, 7] if rng.random() < 0.5 else [0, 3, 7]
        if rng.random() < 0.5:
            chord.append(int(rng.choice([10, 11, 9])))
        pitches = [root + c + 12 * o for o in range(3) for c in chord]
        step = beat / rng.choice([2, 3, 4])
        i, d = 0, 1
        while t < end:
            p.add(pitches[i], t, step * rng.uniform(1.0, 3.0), p.vel(level))
            i += d
            if i in (0, len(pitches) - 1):
                d = -d
            t += step
    elif kind == "repeats":
        # fast re-strikes of one key (or a small group): 40-150 ms between strikes
        while t < end:
            pitch = int(rng.integers(MIN_MIDI, MAX_MIDI + 1))
            ioi = rng.uniform(0.040, 0.150)
            n = int(rng.integers(4, 16))
            for _ in range(n):
                if t >= end:
                    break
                p.add(pitch, t, ioi * rng.uniform(0.5, 0.95), p.vel(level + rng.normal(0, 10)))
                t += ioi
            t += rng.uniform(0.05, 0.4)
    elif kind == "chords":
        while t < end:
            n = int(rng.integers(5, 11))
            lo = int(rng.integers(MIN_MIDI, MAX_MIDI - 30))
            pitches = rng.choice(np.arange(lo, min(lo + 40, MAX_MIDI) + 1), size=n, replace=False)
            dur = beat * rng.choice([0.5, 1, 2, 3])
            v = level + rng.normal(0, 8)
            spread = rng.uniform(0, 0.03)  # slight roll
            for q in pitches:
                p.add(q, t + rng.uniform(0, spread), dur * rng.uniform(0.7, 1.0), p.vel(v))
            t += dur
    elif kind == "extremes":
        # bottom and top octaves, alternating or together
        while t < end:
            low = int(rng.integers(MIN_MIDI, MIN_MIDI + 12))
            high = int(rng.integers(MAX_MIDI - 11, MAX_MIDI + 1))
            dur = beat * rng.choice([0.25, 0.5, 1, 2])
            mode = rng.integers(0, 3)
            if mode == 0:
                p.add(low, t, dur * 0.9, p.vel(level))
                p.add(high, t, dur * 0.9, p.vel(level))
            elif mode == 1:
                p.add(low, t, dur * 0.9, p.vel(level))
                p.add(high, t + dur / 2, dur * 0.45, p.vel(level))
            else:
                p.add(rng.choice([low, high]), t, dur * 0.9, p.vel(level))
                p.add(rng.choice([MIN_MIDI, MAX_MIDI]), t, dur * 0.5, p.vel(level))
            t += dur
    elif kind == "texture":
        # random polyphonic texture: Poisson onsets, random durations and registers
        rate = rng.uniform(3, 16)  # notes per second
        while t < end:
            t += rng.exponential(1 / rate)
            pitch = int(np.clip(rng.normal(rng.uniform(30, 100), 12), MIN_MIDI, MAX_MIDI))
            p.add(pitch, t, rng.exponential(beat) + 0.03, p.vel(rng.uniform(MIN_VELOCITY, 127)))
    elif kind == "trill":
        a = int(rng.integers(MIN_MIDI, MAX_MIDI))
        b = a + int(rng.choice([1, 2]))
        step = rng.uniform(0.05, 0.12)
        i = 0
        while t < end:
            p.add(a if i % 2 == 0 else b, t, step * 0.9, p.vel(level))
            t += step
            i += 1


def generate_piece(seed: int, duration: float | None = None) -> pretty_midi.PrettyMIDI:
    """One procedural piano piece (acoustic grand, program 0), deterministic from ``seed``.

    ``duration`` (s) defaults to a random 20-90 s. Notes are all within MIDI 21..108, velocities
    within 5..127; sustain pedal is CC64 127 (down) / 0 (up).
    """
    rng = np.random.default_rng([0x9A5, int(seed)])
    if duration is None:
        duration = float(rng.uniform(20.0, 90.0))
    p = _Piece(rng)
    # guarantee coverage: an extremes and a repeats section always occur
    kinds = ["extremes", "repeats"]
    t = 0.0
    sections: list[tuple[str, float, float]] = []
    while t < duration - 1.0:
        kind = kinds.pop(0) if kinds else str(rng.choice(_SECTION_KINDS))
        length = float(min(rng.uniform(3.0, 12.0), duration - 1.0 - t))
        sections.append((kind, t, length))
        t += length + float(rng.uniform(0.0, 0.6))
    order = rng.permutation(len(sections))  # shuffle where the guaranteed sections fall
    starts = sorted((s[1], s[2]) for s in sections)
    for (kind, _, _), (start, length) in zip([sections[i] for i in order], starts):
        tempo = rng.uniform(50, 180)  # bpm
        level = float(np.exp(rng.uniform(np.log(MIN_VELOCITY + 10), np.log(MAX_VELOCITY))))
        _section(p, kind, start, max(length, 0.5), 60.0 / tempo, level)
        # pedal: long passages, sometimes with re-pedalling inside
        if rng.random() < 0.5:
            down = start + rng.uniform(0, min(0.3, length))  # the same draw; no inverted pedal in a short section
            up = start + length
            if rng.random() < 0.5:
                pts = np.sort(rng.uniform(down, up, size=int(rng.integers(1, 4))))
                edges = [down, *pts.tolist(), up]
                for a, b in zip(edges[:-1], edges[1:]):
                    if b - a > 0.2:
                        p.pedal.append((a, b - 0.05))
            else:
                p.pedal.append((down, up))
    if not p.pedal:  # always at least one long pedalled passage
        _, start, length = max(sections, key=lambda s: s[2])
        p.pedal.append((start, start + length))

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0, name="Piano")
    inst.notes = sorted((n for n in p.notes if n.start < duration), key=lambda n: (n.start, n.pitch))
    for n in inst.notes:
        n.end = min(n.end, duration)
    inst.notes = [n for n in inst.notes if n.end - n.start > 0.01]
    for down, up in sorted(p.pedal):
        if down < duration:
            inst.control_changes.append(pretty_midi.ControlChange(SUSTAIN_CC, 127, float(down)))
            inst.control_changes.append(
                pretty_midi.ControlChange(SUSTAIN_CC, 0, float(min(up, duration)))
            )
    pm.instruments.append(inst)
    return pm
