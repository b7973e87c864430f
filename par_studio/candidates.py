"""Candidate notes: the notes the decoder would add at a higher sensitivity.

A transcription keeps, for every frame and key, the decoder's state probabilities (see
:class:`~par_studio.engine.offline.Transcription`: ``probabilities`` (T, 88, 5), already with
the sensitivity it was decoded at). Sensitivity is a bias added to the two onset-state logits
(onset, re-onset) before the greedy arg-max (:meth:`PARModel.step`), so for a frame where the
decoder did not start a note, the extra sensitivity that would have made it start one is

    margin = log max(p_off, p_offset, p_sustain) − log max(p_onset, p_reonset)   (≥ 0)

A candidate is the frame of smallest margin in each run of frames (per key) whose margin is
at most ``max_margin``, away from the notes the decoder did find on that key. Nothing is run
again: no network, no decoder. It is a first-order view: a note taken would change the
decoder's context for the frames after it, which this does not follow; so a candidate's length
is not decoded but taken from the transcribed notes around its pitch (see
:func:`find_candidates`). Pure numpy: no torch, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .constants import (
    FRAME_SECONDS,
    MIN_MIDI,
    N_KEYS,
    STATE_OFF,
    STATE_OFFSET,
    STATE_ONSET,
    STATE_REONSET,
    STATE_SUSTAIN,
    VELOCITY_SCALE,
)
from .notes import Notes, decode

#: candidates are searched up to this much extra sensitivity (onset-logit bias). Beyond it they
#: are mostly false: on the example transcribed at −1 (PAR misses 23 notes), +1 shows 16
#: candidates, all real; +2 shows 20 (16 real); +3 shows 105 (16 real)
#: (benchmarks/bench_candidates.py)
MAX_MARGIN = 2.0
GUARD_FRAMES = 3  #: frames (96 ms) around a transcribed note of the same key with no candidate
DEFAULT_LENGTH_S = 0.25  #: a candidate's length when no transcribed note is near its pitch
MIN_LENGTH_S = 3 * FRAME_SECONDS
MAX_LENGTH_S = 2.0
NEIGHBOUR_SEMITONES = 6  #: lengths are the median of the transcribed notes this close in pitch
_EPS = 1e-6


@dataclass
class Candidates:
    """Candidate notes, sorted by (onset, pitch).

    notes: the notes (seconds, MIDI pitch, velocity 1..127); margin: (N,) float32, the extra
    sensitivity at which the decoder would have started each one (smaller: more likely).
    """

    notes: Notes = field(default_factory=Notes)
    margin: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.notes)

    def up_to(self, max_margin: float) -> np.ndarray:
        """Indices of the candidates that appear by ``max_margin`` more sensitivity."""
        return np.flatnonzero(self.margin <= max_margin)


def onset_margin(probabilities: np.ndarray) -> np.ndarray:
    """(T, 88, 5) state probabilities → (T, 88) float32: the onset-logit bias that would make
    an onset state the arg-max (≤ 0 where one already is)."""
    p = np.maximum(np.asarray(probabilities, np.float32), _EPS)
    onset = np.maximum(p[..., STATE_ONSET], p[..., STATE_REONSET])
    other = np.maximum(np.maximum(p[..., STATE_OFF], p[..., STATE_OFFSET]), p[..., STATE_SUSTAIN])
    return (np.log(other) - np.log(onset)).astype(np.float32)


def _blocked(notes: Notes, T: int, guard: int, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """(T, 88) bool: frames where a transcribed note of the key sounds, ± ``guard`` frames."""
    out = np.zeros((T, N_KEYS), bool)
    a = np.round(notes.onset / frame_seconds).astype(int) - guard
    b = np.round(notes.offset / frame_seconds).astype(int) + guard + 1
    for lo, hi, k in zip(np.clip(a, 0, T), np.clip(b, 0, T), notes.pitch.astype(int) - MIN_MIDI):
        out[lo:hi, k] = True
    return out


def _lengths(pitches: np.ndarray, notes: Notes | None) -> np.ndarray:
    """Median length (s) of the transcribed notes within NEIGHBOUR_SEMITONES of each pitch
    (DEFAULT_LENGTH_S where there are none), clipped to MIN_LENGTH_S..MAX_LENGTH_S."""
    per_key = np.full(N_KEYS, DEFAULT_LENGTH_S)
    if notes is not None and len(notes):
        dur = notes.offset - notes.onset
        npitch = notes.pitch.astype(int)
        for k in np.unique(np.asarray(pitches, int) - MIN_MIDI):
            near = np.abs(npitch - (k + MIN_MIDI)) <= NEIGHBOUR_SEMITONES
            if near.any():
                per_key[k] = float(np.median(dur[near]))
    return np.clip(per_key[np.asarray(pitches, int) - MIN_MIDI], MIN_LENGTH_S, MAX_LENGTH_S)


def _next_onset(onset: np.ndarray, pitch: np.ndarray, others_onset: np.ndarray,
                others_pitch: np.ndarray) -> np.ndarray:
    """For each (onset, pitch): the first onset of ``others`` on that pitch strictly after it
    (inf when none)."""
    out = np.full(len(onset), np.inf)
    for p in np.unique(pitch):
        mine = np.flatnonzero(pitch == p)
        theirs = np.sort(others_onset[others_pitch == p])
        if len(theirs):
            j = np.searchsorted(theirs, onset[mine] + 1e-9)
            ok = j < len(theirs)
            out[mine[ok]] = theirs[j[ok]]
    return out


def find_candidates(probabilities: np.ndarray, states: np.ndarray, velocity: np.ndarray,
                    notes: Notes | None = None, max_margin: float = MAX_MARGIN,
                    guard_frames: int = GUARD_FRAMES, frame_seconds: float = FRAME_SECONDS,
                    rejected: dict | None = None) -> Candidates:
    """Candidate notes of one transcription.

    probabilities (T, 88, 5), states (T, 88) greedy states, velocity (T, 88) predicted
    velocity / 128, as :class:`~par_studio.engine.offline.Transcription` keeps them; frame t
    is centred at t × ``frame_seconds`` (32 ms, times the tuning's time scale). ``notes``: the transcribed notes (default: decoded from
    ``states``); candidates keep ``guard_frames`` away from them, take their length from
    them (DEFAULT_LENGTH_S when none is near), and end before the next one of their key.

    ``rejected``: the proposals a note verifier turned down (``Transcription.info
    ["rejected_proposals"]``: frames "t", keys "k", "margin" the extra sensitivity that keeps
    each, "shift" the bias the proposals were decoded at). They are candidates at their own
    margin; elsewhere the probabilities carry the verifier's looser bias, so their margins count
    from the calibration (plus "shift").
    """
    probabilities = np.asarray(probabilities)
    states = np.asarray(states)
    T = states.shape[0]
    if T == 0 or probabilities.shape[:2] != states.shape or states.shape[1] != N_KEYS:
        return Candidates()
    if notes is None:
        d = decode(states, velocity)
        notes = Notes(d.onset * frame_seconds / FRAME_SECONDS, d.offset * frame_seconds / FRAME_SECONDS,
                      d.pitch, d.velocity)
    margin = onset_margin(probabilities)
    if rejected is not None:
        margin = margin + np.float32(rejected.get("shift", 0.0))
        rt, rk = np.asarray(rejected["t"], np.int64), np.asarray(rejected["k"], np.int64)
        inside = (rt >= 0) & (rt < T) & (rk >= 0) & (rk < N_KEYS)
        margin[rt[inside], rk[inside]] = np.asarray(rejected["margin"], np.float32)[inside]
    ok = (margin <= max_margin) & (margin > 0) & ~_blocked(notes, T, guard_frames, frame_seconds)
    frames, keys = [], []
    for k in np.flatnonzero(ok.any(axis=0)):
        col = ok[:, k].astype(np.int8)
        edges = np.diff(np.concatenate(([0], col, [0])))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            frames.append(a + int(np.argmin(margin[a:b, k])))
            keys.append(int(k))
    if not frames:
        return Candidates()
    frames, keys = np.asarray(frames), np.asarray(keys)
    pitch = keys + MIN_MIDI
    onset = frames * frame_seconds
    offset = onset + _lengths(pitch, notes)
    # end before the next note of the same key: a transcribed one or another candidate
    nxt = np.minimum(_next_onset(onset, pitch, notes.onset, notes.pitch.astype(int)),
                     _next_onset(onset, pitch, onset, pitch))
    cut = np.isfinite(nxt)
    offset[cut] = np.maximum(onset[cut] + FRAME_SECONDS, np.minimum(offset[cut], nxt[cut] - FRAME_SECONDS))
    vel = np.clip(np.round(np.asarray(velocity, np.float32)[frames, keys] * VELOCITY_SCALE), 1, 127)
    # a near-miss squeezed against the next note of its key (less than MIN_LENGTH_S of room) is
    # that note's onset wavering, not a note of its own
    room = offset - onset >= MIN_LENGTH_S - 1e-9
    order = np.lexsort((pitch[room], onset[room]))
    return Candidates(Notes(onset[room], offset[room], pitch[room], vel[room]).take(order),
                      margin[frames, keys][room][order])


def candidates_of(transcription, max_margin: float = MAX_MARGIN) -> Candidates:
    """:func:`find_candidates` of a Transcription (offline or live); none when it kept no
    probabilities (e.g. a live session run without them)."""
    probs = getattr(transcription, "probabilities", None)
    states = getattr(transcription, "states", None)
    vel = getattr(transcription, "velocity", None)
    if probs is None or states is None or vel is None or np.asarray(probs).ndim != 3:
        return Candidates()
    info = getattr(transcription, "info", None) or {}
    return find_candidates(probs, states, vel, transcription.notes, max_margin,
                           frame_seconds=getattr(transcription, "frame_seconds", FRAME_SECONDS),
                           rejected=info.get("rejected_proposals"))


def not_in(candidates: Notes, notes: Notes, guard_s: float = GUARD_FRAMES * FRAME_SECONDS) -> np.ndarray:
    """(len(candidates),) bool: the candidates with no note of ``notes`` on their key within
    ``guard_s`` of them (a taken candidate, or a note the user added there, hides it)."""
    keep = np.ones(len(candidates), bool)
    if not len(notes) or not len(candidates):
        return keep
    for i in range(len(candidates)):
        same = notes.pitch == candidates.pitch[i]
        if same.any():
            hit = (notes.onset[same] < candidates.offset[i] + guard_s) & \
                  (notes.offset[same] > candidates.onset[i] - guard_s)
            keep[i] = not hit.any()
    return keep
