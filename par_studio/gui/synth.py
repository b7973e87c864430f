"""A simple additive piano-ish rendering of notes, to hear the transcription against the source.

Pure numpy (no Qt; usable outside the GUI). Each note is a sum of up to :data:`N_PARTIALS`
harmonics with 1/k^1.3 amplitudes, each decaying exponentially (upper partials faster, low
notes slower), a 4 ms attack and a 60 ms release after the note's offset; loudness follows the
MIDI velocity. The rendering is a plain sum over notes, so :class:`NotesRenderer` updates a
previous rendering after an edit by subtracting the removed notes and adding the new ones.
"""

from __future__ import annotations

import numpy as np

from ..constants import SAMPLE_RATE
from ..notes import Notes

N_PARTIALS = 6
ATTACK_S = 0.004
RELEASE_S = 0.06
NOTE_GAIN = 0.12  #: peak of one velocity-127 note


def midi_hz(pitch) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitch, np.float64) - 69.0) / 12.0)


def _add_note(out: np.ndarray, onset: float, offset: float, pitch: int, velocity: int, sign: float,
              sr: int) -> None:
    f0 = float(midi_hz(pitch))
    k = np.arange(1, N_PARTIALS + 1, dtype=np.float64)
    k = k[k * f0 < 0.45 * sr]
    if len(k) == 0:
        return
    tau = 1.6 * (261.6 / f0) ** 0.5 / k ** 0.7  # seconds; low notes ring longer, partials die faster
    dur = max(offset - onset, 0.01)
    length = min(dur + RELEASE_S, 7.0 * float(tau[0]) + RELEASE_S)  # past that it is below -60 dB
    a = int(round(onset * sr))
    n = min(int(length * sr), len(out) - a)
    if n <= 0 or a < 0:
        return
    t = (np.arange(n, dtype=np.float32) / np.float32(sr))
    amp = (NOTE_GAIN * (velocity / 127.0) ** 1.5 / k ** 1.3).astype(np.float32)
    phase = (2 * np.pi * f0 * k).astype(np.float32)[:, None] * t[None, :]
    partials = np.sin(phase) * np.exp(-t[None, :] / tau.astype(np.float32)[:, None])
    y = amp @ partials
    env = np.minimum(1.0, t / np.float32(ATTACK_S))
    rel = t > dur
    if rel.any():
        env[rel] *= np.exp(-(t[rel] - dur) / np.float32(RELEASE_S / 4))
    out[a: a + n] += sign * y * env


def render_notes(notes: Notes, n_samples: int, sr: int = SAMPLE_RATE, sign: float = 1.0,
                 out: np.ndarray | None = None) -> np.ndarray:
    """(n_samples,) float32 rendering of ``notes`` (added into ``out`` when given)."""
    if out is None:
        out = np.zeros(int(n_samples), np.float32)
    for on, off, p, v in zip(notes.onset.tolist(), notes.offset.tolist(), notes.pitch.tolist(),
                             notes.velocity.tolist()):
        _add_note(out, on, off, p, v, sign, sr)
    return out


AUDITION_S = 0.45  #: length of an audition clip (s), release included
MAX_AUDITION_NOTES = 8


def audition_clip(pitches, velocities, seconds: float = AUDITION_S, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) float32 clip of the given notes struck together (at most :data:`MAX_AUDITION_NOTES`,
    the first ones) for ``seconds`` including the release: what the user hears when clicking
    a note or a key, or moving notes to another pitch."""
    pitches = np.asarray(pitches, np.int16)[:MAX_AUDITION_NOTES]
    vel = np.clip(np.asarray(velocities, np.int16)[:MAX_AUDITION_NOTES], 1, 127)
    n = len(pitches)
    hold = max(0.01, seconds - RELEASE_S)
    out = render_notes(Notes(np.zeros(n), np.full(n, hold), pitches, vel), int(seconds * sr), sr)
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0.9:  # a loud chord: keep it below clipping
        out *= np.float32(0.9 / peak)
    return out


def _rows(notes: Notes) -> set:
    return set(zip(notes.onset.tolist(), notes.offset.tolist(), notes.pitch.tolist(), notes.velocity.tolist()))


class NotesRenderer:
    """Keeps the last rendering; :meth:`render` re-renders only what an edit changed.

    Not thread-safe: one thread at a time (the GUI runs it in one worker job at a time). The
    returned array is never modified afterwards (a new one is made for each update), so it can
    be handed to the audio callback.
    """

    def __init__(self, sr: int = SAMPLE_RATE):
        self.sr = sr
        self.rows: set | None = None
        self.audio: np.ndarray | None = None

    def render(self, notes: Notes, n_samples: int) -> np.ndarray:
        rows = _rows(notes)
        if self.audio is not None and self.rows is not None and len(self.audio) == n_samples:
            removed, added = self.rows - rows, rows - self.rows
            if len(removed) + len(added) <= max(8, len(rows) // 2):
                out = self.audio.copy()
                for group, sign in ((removed, -1.0), (added, 1.0)):
                    if group:
                        on, off, p, v = (np.array(c) for c in zip(*group))
                        render_notes(Notes(on, off, p, v), n_samples, self.sr, sign, out)
                self.rows, self.audio = rows, out
                return out
        self.rows, self.audio = rows, render_notes(notes, n_samples, self.sr)
        return self.audio


def balance_gains(balance: float) -> tuple[float, float]:
    """Gains (source, notes) for a balance in [0, 1]: 0 source only, 0.5 both at full, 1 notes only."""
    b = float(np.clip(balance, 0.0, 1.0))
    return min(1.0, 2.0 * (1.0 - b)), min(1.0, 2.0 * b)
