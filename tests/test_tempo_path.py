"""The smooth-tempo beat tracker (par_studio.tempo_path)."""

import numpy as np
import pytest

from par_studio.beat_tracking import beat_track
from par_studio.tempo import ENVELOPE_RATE, accent_envelope
from par_studio.tempo_path import track_tempo_path


def _performance(ibi, seed=0):
    """Envelope (100 frames/s) of beats with inter-beat intervals ``ibi`` (s), an accented
    note on each beat and a weaker 8th between, timing jitter of 8 ms; and the beat times."""
    rng = np.random.default_rng(seed)
    beats = 1.0 + np.concatenate([[0], np.cumsum(ibi)])
    times = np.concatenate([beats, beats[:-1] + np.asarray(ibi) / 2])
    acc = np.concatenate([np.full(len(beats), 2.0), np.ones(len(beats) - 1)])
    order = np.argsort(times)
    env = accent_envelope(times[order] + rng.normal(0, 0.008, len(times)), acc[order])
    return env, beats


def test_steady_clicks_give_their_frames():
    env = np.zeros(1000)
    env[50:1000:50] = 1.0  # a click every 0.5 s
    got = track_tempo_path(env, 120.0, ENVELOPE_RATE)
    assert np.array_equal(got, np.arange(50, 1000, 50))


def test_follows_a_ritardando_that_the_steady_tracker_breaks_on():
    """A performance slowing from 120 to 80 BPM over 40 beats: every tracked beat lies within
    40 ms of a played one and none is inserted; the fixed-period tracker (tightness 400, at the
    median tempo) cannot stay on the beats throughout."""
    ibi = np.concatenate([np.full(10, 0.5), np.linspace(0.5, 0.75, 40), np.full(10, 0.75)])
    env, beats = _performance(ibi)
    bpm = 60.0 / np.median(ibi)
    got = track_tempo_path(env, bpm, ENVELOPE_RATE) / ENVELOPE_RATE
    inner = got[(got > beats[1]) & (got < beats[-2])]
    assert np.abs(inner[:, None] - beats[None, :]).min(axis=1).max() < 0.04
    assert abs(len(inner) - int(np.sum((beats > beats[1]) & (beats < beats[-2])))) <= 1
    steady = beat_track(env, bpm, ENVELOPE_RATE, tightness=400) / ENVELOPE_RATE
    inner_s = steady[(steady > beats[1]) & (steady < beats[-2])]
    assert np.abs(inner_s[:, None] - beats[None, :]).min(axis=1).max() > 0.04


def test_keeps_the_beat_level_not_the_eighths():
    """On a steady performance the path keeps the beat (accented) level it was asked for."""
    env, beats = _performance(np.full(40, 0.6), seed=3)
    got = track_tempo_path(env, 100.0, ENVELOPE_RATE) / ENVELOPE_RATE
    assert np.median(np.diff(got)) == pytest.approx(0.6, abs=0.02)
    assert np.abs(got[:, None] - beats[None, :]).min(axis=1).max() < 0.03


def test_no_onsets_no_beats_and_bad_arguments():
    assert len(track_tempo_path(np.zeros(500), 100.0, ENVELOPE_RATE)) == 0
    assert len(track_tempo_path(np.zeros(1), 100.0, ENVELOPE_RATE)) == 0
    with pytest.raises(ValueError):
        track_tempo_path(np.ones((3, 3)), 100.0, ENVELOPE_RATE)
    with pytest.raises(ValueError):
        track_tempo_path(np.ones(100), 0.0, ENVELOPE_RATE)
