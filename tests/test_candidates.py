"""Candidate notes from a transcription's cached decoder probabilities (no network re-run)."""

from __future__ import annotations

import numpy as np
import pytest

from par_studio.candidates import (
    DEFAULT_LENGTH_S,
    find_candidates,
    not_in,
    onset_margin,
)
from par_studio.constants import FRAME_SECONDS, MIN_MIDI, N_KEYS, STATE_OFF, STATE_ONSET
from par_studio.notes import Notes, decode, encode


def roll(notes: Notes, T: int, extra=()):
    """Probabilities (T, 88, 5) that decode to ``notes`` (0.95 on the state), plus near-misses
    ``extra`` = [(frame, pitch, p_onset)] where the decoder stayed off."""
    states = encode(notes, T).state.astype(np.uint8)
    probs = np.full((T, N_KEYS, 5), 0.0125, np.float32)
    np.put_along_axis(probs, states[..., None].astype(np.int64), 0.95, axis=-1)
    for t, p, q in extra:
        probs[t, p - MIN_MIDI] = 0.0
        probs[t, p - MIN_MIDI, STATE_OFF] = 1.0 - q
        probs[t, p - MIN_MIDI, STATE_ONSET] = q
    vel = np.full((T, N_KEYS), 0.5, np.float32)
    return probs.astype(np.float16), states, vel


def test_margin_is_the_sensitivity_that_flips_the_greedy_choice():
    p = np.array([[[0.7, 0.0, 0.3, 0.0, 0.0], [0.2, 0.0, 0.1, 0.5, 0.2]]], np.float32)
    m = onset_margin(p)
    assert m[0, 0] == pytest.approx(np.log(0.7 / 0.3), rel=1e-5)
    assert m[0, 1] == pytest.approx(np.log(0.5 / 0.2), rel=1e-5)  # re-onset counts as an onset state
    # adding the margin (a hair more) to the onset logits makes an onset state the arg-max
    logits = np.log(np.maximum(p[0], 1e-9))
    for k in range(2):
        bumped = logits[k] + np.array([0, 0, 1, 0, 1]) * (m[0, k] + 1e-4)
        assert np.argmax(bumped) in (2, 4)


def test_candidates_are_near_misses_away_from_the_notes():
    notes = Notes([0.32, 1.6], [0.96, 2.24], [60, 72], [64, 64])
    T = 100
    probs, states, vel = roll(notes, T, extra=[(40, 65, 0.30), (41, 65, 0.25),  # one run → one candidate
                                               (60, 70, 0.20),
                                               (52, 72, 0.45)])  # within 3 frames of the C5 note: no
    assert decode(states, vel).equals(Notes(notes.onset, notes.offset, notes.pitch, [64, 64]), atol=0.02)
    c = find_candidates(probs, states, vel, notes)
    assert list(c.notes.pitch) == [65, 70]
    assert np.allclose(c.notes.onset, [40 * FRAME_SECONDS, 60 * FRAME_SECONDS])
    assert c.margin[0] == pytest.approx(np.log(0.7 / 0.3), abs=2e-3)  # the run's best frame
    assert c.margin[1] == pytest.approx(np.log(0.8 / 0.2), abs=2e-3)
    assert list(c.notes.velocity) == [64, 64]
    # how many show: by extra sensitivity
    assert list(c.up_to(1.0)) == [0] and list(c.up_to(1.5)) == [0, 1] and len(c.up_to(0.5)) == 0
    # length: the median of the transcribed notes near the pitch (both 0.64 s here)
    assert np.allclose(c.notes.offset - c.notes.onset, 0.64)
    # the notes default to those the states decode to
    assert find_candidates(probs, states, vel).notes.equals(c.notes)
    # no transcribed notes near a pitch: the default length
    c0 = find_candidates(probs, states, vel, Notes())
    far = np.isin(c0.notes.pitch, [65, 70])
    assert far.sum() == 2 and np.allclose((c0.notes.offset - c0.notes.onset)[far], DEFAULT_LENGTH_S)


def test_a_candidate_ends_before_the_next_note_of_its_key():
    notes = Notes([1.0], [1.5], [65], [64])
    probs, states, vel = roll(notes, 80, extra=[(25, 65, 0.3)])  # 0.8 s, 200 ms before the note
    c = find_candidates(probs, states, vel, notes, guard_frames=2)
    assert len(c) == 1 and c.notes.offset[0] <= 1.0 - FRAME_SECONDS + 1e-9


def test_taken_or_added_notes_hide_candidates():
    cand = Notes([1.0, 2.0], [1.3, 2.3], [65, 70], [80, 80])
    assert list(not_in(cand, Notes())) == [True, True]
    assert list(not_in(cand, Notes([1.0], [1.3], [65], [80]))) == [False, True]
    assert list(not_in(cand, Notes([1.0], [1.3], [66], [80]))) == [True, True]  # another key


def test_no_probabilities_no_candidates():
    c = find_candidates(np.zeros((0, N_KEYS, 5), np.float16), np.zeros((0, N_KEYS), np.uint8),
                        np.zeros((0, N_KEYS), np.float32))
    assert len(c) == 0
    # a live result kept no probabilities: shapes disagree → none, no error
    c = find_candidates(np.zeros((0, N_KEYS, 5), np.float16), np.zeros((10, N_KEYS), np.uint8),
                        np.zeros((10, N_KEYS), np.float32))
    assert len(c) == 0


def test_candidates_are_what_a_higher_sensitivity_decodes():
    """On a real (random-init, rescaled) model: decode at sensitivity 0 and at s. On each key,
    the first note that only s finds starts where (or within a few frames after) the first
    candidate of margin ≤ s on that key starts: nothing was run again to find it."""
    import torch

    from par_studio.engine.offline import transcribe
    from par_studio.model.config import preset_config
    from par_studio.model.par import PARModel

    torch.manual_seed(3)
    m = PARModel(preset_config("par-compact", 192)).eval()
    with torch.no_grad():  # a head that hesitates: onset logits close to the others
        m.decoder.state_head.weight.mul_(40.0)
        m.decoder.state_head.bias.copy_(torch.tensor([0.5, -3.0, -0.4, 0.2, -3.0]))
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    audio = (0.2 * np.sin(2 * np.pi * 220 * t) * (rng.random(len(t)) > 0.0) +
             0.05 * rng.standard_normal(len(t))).astype(np.float32)
    base = transcribe(audio, m, sensitivity=0.0)
    s = 0.8
    more = transcribe(audio, m, sensitivity=s)
    c = find_candidates(base.probabilities, base.states, base.velocity, base.notes, guard_frames=0)
    shown = c.notes.take(c.up_to(s))
    checked = 0
    for k in np.unique(more.notes.pitch):
        new = more.notes.onset[(more.notes.pitch == k)]
        old = base.notes.onset[(base.notes.pitch == k)]
        first_new = [x for x in new if not np.any(np.abs(old - x) < 1e-6)]
        if not first_new or (len(old) and old.min() < first_new[0]):
            continue  # only keys whose first note is new: their context is the same until then
        mine = shown.onset[shown.pitch == k]
        assert len(mine), f"key {k}: s={s} adds a note at {first_new[0]:.3f} s but no candidate"
        assert 0 <= mine.min() - first_new[0] <= 4 * FRAME_SECONDS + 1e-9
        checked += 1
    assert checked >= 3


def test_a_near_miss_squeezed_against_the_next_note_is_not_a_candidate():
    """Two frames before a note of the same key there is no room for a note of its own: that is
    the note's onset wavering."""
    notes = Notes([1.0], [1.5], [65], [64])
    probs, states, vel = roll(notes, 80, extra=[(29, 65, 0.3)])  # 0.928 s: 72 ms before 1.0 s
    assert len(find_candidates(probs, states, vel, notes, guard_frames=1)) == 0
    probs, states, vel = roll(notes, 80, extra=[(26, 65, 0.3)])  # 0.832 s: room for 136 ms
    assert len(find_candidates(probs, states, vel, notes, guard_frames=1)) == 1
