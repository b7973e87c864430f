"""The log-mel front end: grid, zero padding, locality (what chunking relies on), librosa parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from par_studio.constants import HOP_LENGTH, MEL_FMAX, MEL_FMIN, N_FFT, SAMPLE_RATE, WINDOW_HALF
from par_studio.features import LogMel, n_frames

from conftest import piano_like


@pytest.fixture(scope="module")
def logmel():
    return LogMel(229)


def test_frame_grid():
    assert HOP_LENGTH / SAMPLE_RATE == pytest.approx(0.032)
    assert WINDOW_HALF / SAMPLE_RATE == pytest.approx(0.128)
    assert [n_frames(n) for n in (1, 511, 512, 513, 16000)] == [1, 1, 2, 2, 32]


def test_shapes_and_window_slices(logmel):
    audio = torch.from_numpy(piano_like(1.0))[None]
    full = logmel.from_audio(audio)
    assert full.shape == (1, 229, n_frames(16000)) and full.dtype == torch.float32
    part = logmel.from_audio(audio, 7, 5)
    torch.testing.assert_close(part, full[..., 7:12], rtol=0, atol=1e-5)
    torch.testing.assert_close(logmel.from_audio(audio, 20), full[..., 20:], rtol=0, atol=1e-5)


def test_frames_are_centred_with_zero_padding(logmel):
    audio = torch.from_numpy(piano_like(0.5))
    padded = torch.nn.functional.pad(audio, (WINDOW_HALF, WINDOW_HALF))  # zeros, not reflection
    frames = padded.unfold(0, N_FFT, HOP_LENGTH)[None]
    torch.testing.assert_close(logmel.from_audio(audio[None]), logmel(frames), rtol=0, atol=1e-5)


def test_frame_depends_only_on_its_window(logmel):
    audio = torch.from_numpy(piano_like(1.0))[None]
    base = logmel.from_audio(audio)
    t = 15
    lo, hi = t * HOP_LENGTH - WINDOW_HALF, t * HOP_LENGTH + WINDOW_HALF  # [lo, hi)
    # the periodic Hann window is 0 at its first sample and tiny at the ends
    for s, inside in ((lo - 1, False), (lo, False), (lo + 64, True), (hi - 64, True), (hi, False)):
        x = audio.clone()
        x[0, s] += 0.9
        changed = (logmel.from_audio(x) - base)[0, :, t].abs().max().item()
        assert (changed > 1e-4) if inside else (changed == 0), (s - t * HOP_LENGTH, changed)


def test_matches_a_float64_reference(logmel):
    """Independent numpy float64 reference: zero-padded centred frames, periodic Hann, power
    spectrum, the Slaney mel filterbank of librosa, (ln(max(mel, 1e-9)) + 7) / 7."""
    import librosa

    y = piano_like(1.0).astype(np.float64)
    padded = np.pad(y, (N_FFT // 2, N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=229, fmin=MEL_FMIN, fmax=MEL_FMAX)
    ref = (np.log(np.maximum(power @ fb.T, 1e-9)) + 7) / 7
    ours = logmel.from_audio(torch.from_numpy(y.astype(np.float32))[None])[0].numpy().T
    assert ours.shape == ref.shape == (n_frames(len(y)), 229)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_sine_peaks_in_the_right_band_and_silence_is_the_floor(logmel):
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for f in (110.0, 880.0, 3520.0):
        y = torch.from_numpy((0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32))[None]
        col = logmel.from_audio(y)[0, :, 15].numpy()
        centres = librosa_centres()
        assert abs(np.log2(centres[col.argmax()] / f)) < 0.1, f
    silence = logmel.from_audio(torch.zeros(1, 4000))
    torch.testing.assert_close(silence, torch.full_like(silence, (np.log(1e-9) + 7) / 7))


def librosa_centres():
    import librosa

    return librosa.mel_frequencies(229 + 2, fmin=MEL_FMIN, fmax=MEL_FMAX)[1:-1]


def test_shipped_filterbank_equals_librosas():
    # the model loads this copy (no librosa import at start-up); it must be librosa's exactly
    from par_studio.features import SHIPPED_FILTERBANK, librosa_filterbank, mel_filterbank

    assert SHIPPED_FILTERBANK.is_file()
    mel_filterbank.cache_clear()
    np.testing.assert_array_equal(mel_filterbank(229), librosa_filterbank(229))
    # another bin count falls back to librosa
    np.testing.assert_array_equal(mel_filterbank(64), librosa_filterbank(64))
