"""The NumPy beat tracker places exactly the beats librosa 0.11's DP tracker places (the one
tempo.py used before), on random onset trains, leading silence, tiny envelopes, tempo drift,
note envelopes from par_studio.tempo and real performances; and it never imports numba."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from par_studio.beat_tracking import _fast_len, beat_track, frames_per_beat, mean_tempogram
from par_studio.notes import Notes
from par_studio.tempo import ENVELOPE_RATE, _candidates, accent_envelope, onset_envelope

RATE = ENVELOPE_RATE


def librosa_beats(env, bpm, tightness=400.0, trim=False):
    librosa_beat = pytest.importorskip("librosa.beat")  # slow first import (numba kernels)
    _, frames = librosa_beat.beat_track(onset_envelope=env, sr=RATE, hop_length=1, start_bpm=bpm,
                                        bpm=bpm, tightness=tightness, trim=trim)
    return np.asarray(frames)


def assert_same(env, bpm, tightness=400.0, trim=False):
    ours = beat_track(env, bpm, RATE, tightness=tightness, trim=trim)
    ref = librosa_beats(env, bpm, tightness, trim)
    assert ours.dtype.kind == "i"
    np.testing.assert_array_equal(ours, ref, err_msg=f"bpm={bpm} n={len(env)} trim={trim}")
    return ours


def onset_train(rng, n, period, lead=0, jitter=2.0, keep=0.8, noise=0.0):
    """(n,) float32 envelope: onsets every ``period`` frames (some subdivided, some missing)
    after ``lead`` silent frames, jittered, smoothed like tempo.accent_envelope."""
    sub = int(rng.choice([1, 2, 3, 4]))
    t = np.arange(lead, n, period / sub)
    t = t + rng.normal(0, jitter, len(t))
    t = t[(t >= 0) & (t < n)]
    t = t[rng.random(len(t)) < keep]
    env = np.zeros(n, np.float64)
    np.add.at(env, np.round(t).astype(int).clip(0, n - 1), rng.uniform(0.2, 1.0, len(t)))
    if noise:
        env += noise * rng.random(n) * (rng.random(n) < 0.2)
    return np.convolve(env, [0.5, 1.0, 0.5], mode="same").astype(np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_random_onset_trains_at_several_tempi(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([300, 1500, 6000]))
    period = rng.uniform(30, 150)  # 40-200 BPM
    env = onset_train(rng, n, period, lead=int(rng.integers(0, 200)), jitter=rng.uniform(0, 5),
                      keep=rng.uniform(0.4, 1.0), noise=0.05 * (seed % 2))
    for bpm in (6000 / period, 6000 / period * rng.uniform(0.8, 1.25), 2 * 6000 / period):
        bpm = float(np.clip(bpm, 40, 200))
        beats = assert_same(env, bpm)
        assert len(beats) > 0
        assert_same(env, bpm, tightness=100.0)
        assert_same(env, bpm, trim=True)


@pytest.mark.parametrize("bpm", [40.0, 60.0, 80.0, 100.0, 120.0, 133.3, 150.0, 200.0])
def test_odd_and_even_beat_periods(bpm):
    """Periods of odd and even frame counts (the half-period step is rounded half to even)."""
    rng = np.random.default_rng(int(bpm))
    env = onset_train(rng, 2000, 6000 / bpm * 1.03, lead=37)
    assert_same(env, bpm)


def test_leading_and_trailing_silence():
    rng = np.random.default_rng(5)
    env = onset_train(rng, 3000, 50.0)
    env[:900] = 0
    env[2400:] = 0
    beats = assert_same(env, 120.0)
    # trim=False drops beats only where the smoothed score is exactly zero: none in the long
    # silences at either end
    assert beats.min() > 800 and beats.max() < 2500
    assert_same(env, 120.0, trim=True)


def test_faint_noise_before_the_first_onset_starts_no_chain():
    """Frames before the first local score of 1 % of the maximum get no back-link: faint noise
    before the music yields at most one beat there, not a chain of beats from frame 0."""
    rng = np.random.default_rng(0)
    env = np.zeros(1500, np.float32)
    env[:600] = 0.003 * rng.random(600)
    env[600::50] = 1.0
    beats = assert_same(env, 120.0)
    assert beats[0] >= 500 and np.sum(beats < 600) <= 1


def test_first_frame_onset_and_very_short_envelopes():
    env = np.zeros(20, np.float32)
    env[[0, 10, 19]] = 1.0  # frame 0 is ignored by librosa's local score; so it is here
    assert_same(env, 120.0)
    rng = np.random.default_rng(0)
    env = (rng.random(173) * (rng.random(173) < 0.1)).astype(np.float32)
    env[0] = 15.0  # a loud frame 0 changes nothing
    beats = assert_same(env, 115.2)
    assert beats[0] > 0
    for n in (2, 3, 5, 9, 17, 60):
        rng = np.random.default_rng(n)
        env = (rng.random(n) * (rng.random(n) < 0.3)).astype(np.float32)
        env[n // 2] = 1.0
        assert_same(env, 90.0)
        assert_same(env, 180.0)


def test_silence_gives_no_beats_and_bad_tempo_is_refused():
    assert len(beat_track(np.zeros(500, np.float32), 120.0, RATE)) == 0
    assert len(librosa_beats(np.zeros(500, np.float32), 120.0)) == 0
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError):
            beat_track(np.ones(100), bad, RATE)
    with pytest.raises(ValueError):
        beat_track(np.ones((2, 100)), 120.0, RATE)


def test_tempo_drift_is_followed():
    """A performance slowing from 120 to 96 BPM: the tracker (tight, at 110) follows it,
    like librosa's."""
    rng = np.random.default_rng(3)
    ibi = np.linspace(0.5, 0.625, 60)
    t = 0.4 + np.concatenate([[0], np.cumsum(ibi)])
    env = accent_envelope(t + rng.normal(0, 0.01, len(t)), rng.uniform(0.5, 1, len(t)))
    beats = assert_same(env, 110.0) / RATE
    hit = np.abs(beats[:, None] - t[None, :]).min(axis=1)
    assert np.median(hit) < 0.03
    assert frames_per_beat(110.0, RATE) == 55


@pytest.mark.parametrize("seed", range(8))
def test_time_varying_tempo_equals_librosas(seed):
    """A tempo per frame (librosa 0.11's dynamic mode, ``bpm`` an (N,) array): the same beats
    as librosa, on onset trains that follow a tempo curve swinging ±25 %."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.choice([300, 1500, 4000]))
    base = rng.uniform(50, 180)
    curve = base * (1 + 0.25 * np.sin(np.linspace(0, rng.uniform(1, 8), n) + rng.uniform(0, 6)))
    phase = np.cumsum(curve / (60.0 * RATE))
    t = np.searchsorted(phase, np.arange(0, phase[-1], 1 / int(rng.choice([1, 2, 3, 4]))))
    t = np.clip(t + np.round(rng.normal(0, 2, len(t))).astype(int), 0, n - 1)
    env = np.zeros(n)
    np.add.at(env, t, rng.uniform(0.2, 1.0, len(t)))
    env = np.convolve(env, [0.5, 1.0, 0.5], mode="same").astype(np.float32)
    for tightness in (100.0, 400.0):
        ours = beat_track(env, curve, RATE, tightness=tightness)
        ref = librosa_beats(env, curve, tightness)
        np.testing.assert_array_equal(ours, ref, err_msg=f"seed={seed} n={n} tightness={tightness}")
    with pytest.raises(ValueError):
        beat_track(env, curve[:-1], RATE)
    with pytest.raises(ValueError):
        beat_track(env, np.where(np.arange(n) == 5, -1.0, curve), RATE)


def test_time_varying_tempo_follows_a_slowing_performance():
    """Slowing by a fifth: a tempo curve that follows it keeps every beat on an onset where
    one steady tempo at the start's cannot."""
    rng = np.random.default_rng(4)
    ibi = np.linspace(0.5, 0.6, 80)
    t = 0.4 + np.concatenate([[0], np.cumsum(ibi)])
    env = accent_envelope(t + rng.normal(0, 0.008, len(t)), rng.uniform(0.5, 1, len(t)))
    curve = 60.0 / np.interp(np.arange(len(env)) / RATE, t[1:], ibi)
    beats = beat_track(env, curve, RATE, tightness=400.0) / RATE
    hit = np.abs(beats[:, None] - t[None, :]).min(axis=1)
    # (the chain's first beats lead into the first onset, as in librosa)
    assert np.max(hit[2:]) < 0.03 and len(beats) >= len(t) - 2
    steady = beat_track(env, 60.0 / ibi[0], RATE, tightness=400.0) / RATE
    assert np.abs(steady[:, None] - t[None, :]).min(axis=1)[2:].max() > 0.1


def _synthetic_piece(seed: int) -> Notes:
    """Arpeggiated 16ths over a bass on each beat (BWV 846 style) with human timing."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / rng.uniform(60, 140)
    on, pitch, vel = [], [], []
    for b in range(64):
        t0 = 0.5 + b * beat * (1 + 0.03 * np.sin(b / 9))
        on.append(t0); pitch.append(36 + b % 12); vel.append(90)
        for k in range(4):
            on.append(t0 + k * beat / 4 + rng.normal(0, 0.012))
            pitch.append(60 + (3 * k + b) % 12); vel.append(int(rng.integers(40, 90)))
    on = np.array(on)
    return Notes(on, on + 0.3, np.array(pitch), np.array(vel)).sorted()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_note_envelopes_at_every_candidate_tempo(seed):
    """What tempo.py feeds the tracker: a note list's onset envelope, at each tempogram
    candidate."""
    env = onset_envelope(_synthetic_piece(seed))
    cands = _candidates(env)
    assert cands
    for bpm in cands:
        assert_same(env, bpm)


def test_real_performances(asap_root):
    """Human performances (ASAP MIDI, three composers), first minute, at each candidate tempo."""
    from par_studio.midi_io import read_midi

    files = sorted(asap_root.glob("*/*/*/*.mid"))[::150][:3] or sorted(asap_root.rglob("*.mid"))[:3]
    assert files
    for path in files:
        notes = read_midi(path)
        notes = notes.take(notes.onset < 60.0)
        env = onset_envelope(notes)
        for bpm in _candidates(env):
            assert_same(env, bpm)


@pytest.mark.parametrize("n, win", [(10, 16), (16, 16), (333, 333), (2500, 800), (9000, 800)])
def test_mean_tempogram_equals_librosas(n, win):
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(n)
    env = onset_train(rng, n, rng.uniform(30, 150), lead=int(rng.integers(0, 50)), noise=0.05)
    ref = librosa.feature.tempogram(onset_envelope=env, sr=RATE, hop_length=1,
                                    win_length=win).mean(axis=1)
    ours = mean_tempogram(env, win, chunk=700)
    assert ours.shape == (win,)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_fast_fft_length():
    fft = pytest.importorskip("scipy.fft")
    for k in range(1, 3000):
        assert _fast_len(k) == fft.next_fast_len(k, real=True), k


def test_tempo_path_does_not_import_librosa_or_numba():
    """Estimating tempo and meter uses this module, not librosa.beat / librosa.feature (whose
    imports compile numba kernels in every process)."""
    code = (
        "import sys, numpy as np\n"
        "from par_studio.tempo import _track, onset_envelope\n"
        "from par_studio.notes import Notes\n"
        "on = np.arange(40) * 0.5\n"
        "env = onset_envelope(Notes(on, on + 0.2, np.full(40, 60), np.full(40, 80)))\n"
        "b = _track(env, 120.0)\n"
        "assert len(b) > 30, b\n"
        "from par_studio.tempo import estimate_meter\n"
        "assert abs(estimate_meter(Notes(on, on + 0.2, on * 0 + 60, on * 0 + 80)).quarter_bpm - 120) < 3\n"
        "print(sorted(m for m in sys.modules if m.startswith(('librosa', 'numba'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
