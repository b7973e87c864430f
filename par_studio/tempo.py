"""Tempo of a transcription, for the MIDI file's tempo map.

A MIDI file stores ticks; its tempo says how many seconds a beat lasts. The notes keep their
exact times in seconds whatever tempo is written, but notation software draws bars from the
tempo: at a tempo near the player's, a performance lands near the right bar lines instead of
at an arbitrary 120 BPM. :func:`estimate_tempo` finds that tempo from the note onsets alone
(an onset-strength envelope weighted by velocity, scored by ``librosa.feature.tempo``), so it
works the same on a transcription, on hand-edited notes and on notes from a MIDI file.
"""

from __future__ import annotations

import numpy as np

from .midi_io import DEFAULT_TEMPO
from .notes import Notes

ENVELOPE_RATE = 100  #: onset envelope frames per second (10 ms)
MIN_ONSETS = 8  #: fewer onsets than this give no estimate
TEMPO_RANGE = (30.0, 300.0)  #: BPM; estimates are folded by octaves into this range
MAX_SECONDS = 300.0  #: only the first 5 minutes are scored (the tempogram is 384 × frames)


def onset_envelope(notes: Notes, rate: int = ENVELOPE_RATE) -> np.ndarray:
    """(n_frames,) float32: summed onset velocity/127 per ``1/rate`` s frame, smoothed by a
    30 ms triangle so that chords played slightly apart count as one attack."""
    n = int(np.ceil(float(notes.onset.max()) * rate)) + 2
    env = np.zeros(n, np.float64)
    np.add.at(env, np.round(notes.onset * rate).astype(np.int64), notes.velocity / 127.0)
    kernel = np.array([0.5, 1.0, 0.5])
    return np.convolve(env, kernel, mode="same").astype(np.float32)


def estimate_tempo(notes: Notes, start_bpm: float = 120.0) -> float | None:
    """Tempo in BPM (rounded to 0.1) that best explains the onsets, or None when there are fewer
    than :data:`MIN_ONSETS` distinct onsets to judge from."""
    if len(notes) == 0 or len(np.unique(np.round(notes.onset, 2))) < MIN_ONSETS:
        return None
    import librosa

    env = onset_envelope(notes.take(notes.onset < MAX_SECONDS))
    # librosa's tempo works on an onset envelope at sr / hop_length frames per second
    bpm = float(librosa.feature.tempo(onset_envelope=env, sr=ENVELOPE_RATE, hop_length=1,
                                      start_bpm=start_bpm, aggregate=np.mean)[0])
    if not np.isfinite(bpm) or bpm <= 0:
        return None
    while bpm < TEMPO_RANGE[0]:
        bpm *= 2
    while bpm > TEMPO_RANGE[1]:
        bpm /= 2
    return round(bpm, 1)


def resolve_tempo(value, notes: Notes, default: float = DEFAULT_TEMPO) -> float:
    """The MIDI tempo to write: ``value`` as BPM, or for "auto"/None/0 the estimate (``default``
    when the notes are too few to estimate from)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto") or value == 0:
        est = estimate_tempo(notes)
        return est if est is not None else float(default)
    return float(value)
