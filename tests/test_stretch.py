"""Slowed-down listening: the stretched audio keeps pitch, timing maps by 1/speed, no seams."""

from __future__ import annotations

import numpy as np
import pytest

import par_studio.audio.stretch as stretch
from par_studio.audio.stretch import StretchCancelled, stretched_length, time_stretch
from par_studio.constants import SAMPLE_RATE as SR


def tone(seconds: float, hz: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    seg = x[: SR] * np.hanning(min(len(x), SR))
    return float(np.fft.rfftfreq(len(seg), 1 / SR)[np.argmax(np.abs(np.fft.rfft(seg)))])


def envelope(x: np.ndarray, hop: int = 160) -> np.ndarray:
    n = len(x) // hop
    return np.abs(x[: n * hop]).reshape(n, hop).max(1)


@pytest.mark.parametrize("speed", [0.75, 0.5])
def test_length_dtype_and_pitch_kept(speed):
    x = tone(4.0, 523.25)
    y = time_stretch(x, speed)
    assert y.dtype == np.float32 and len(y) == stretched_length(len(x), speed) == round(len(x) / speed)
    assert abs(peak_hz(y[len(y) // 2:]) - 523.25) < 2.0  # same pitch, one-Hz bins
    same = time_stretch(x, 1.0)
    assert np.shares_memory(same, x) and np.array_equal(same, x)  # speed 1: no work, no copy


@pytest.mark.parametrize("speed", [0.75, 0.5])
def test_an_onset_at_t_lies_at_t_over_speed(speed):
    x = np.zeros(int(6 * SR), np.float32)
    x[2 * SR: 3 * SR] = tone(1.0, 660.0)
    y = time_stretch(x, speed)
    env = envelope(y)
    first = np.nonzero(env > 0.5 * env.max())[0][0] / 100  # seconds (10 ms hops)
    last = np.nonzero(env > 0.5 * env.max())[0][-1] / 100
    # the 128 ms analysis window smears an edge by up to half a window, stretched
    tol = 0.5 * stretch.N_FFT / SR / speed + 0.01
    assert abs(first - 2.0 / speed) < tol and abs(last - 3.0 / speed) < tol


def test_a_steady_tone_stays_steady_across_pieces(monkeypatch):
    """Pieces are computed one at a time with one phase track: no dip or click where they meet,
    and the result is the same as in one piece."""
    x = tone(9.0, 440.0) + tone(9.0, 1318.5, 0.1)
    steady = tone(9.0, 440.0)
    whole, steady_whole = time_stretch(x, 0.75), time_stretch(steady, 0.75)
    monkeypatch.setattr(stretch, "CHUNK_SECONDS", 1.0)  # many seams
    pieces = time_stretch(x, 0.75)
    np.testing.assert_allclose(pieces, whole, atol=1e-5)
    steady_pieces = time_stretch(steady, 0.75)
    np.testing.assert_allclose(steady_pieces, steady_whole, atol=1e-5)
    env = envelope(steady_pieces)[50:-50]  # away from the ends
    assert env.min() > 0.9 * env.max()


def test_same_loudness_as_librosas_phase_vocoder():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    x = tone(5.0, 392.0) * (1 + 0.5 * np.sin(np.arange(5 * SR) / SR * 3)).astype(np.float32)
    x += 0.01 * rng.standard_normal(len(x)).astype(np.float32)
    ours = time_stretch(x, 0.5)
    ref = librosa.effects.time_stretch(x, rate=0.5, n_fft=stretch.N_FFT, hop_length=stretch.HOP)
    assert len(ours) == len(ref)
    assert abs(np.sqrt(np.mean(ours ** 2) / np.mean(ref ** 2)) - 1) < 0.02


def test_cancel_bad_speed_and_empty():
    x = tone(70.0)
    with pytest.raises(StretchCancelled):
        time_stretch(x, 0.5, should_cancel=lambda: True)
    for bad in (0.1, 1.5, 0.0):
        with pytest.raises(ValueError):
            time_stretch(x[:100], bad)
    assert len(time_stretch(np.zeros(0, np.float32), 0.5)) == 0
    assert len(time_stretch(x[:300], 0.5)) == 600  # shorter than one frame
