"""Audio in: formats, rates and channels → 16 kHz mono float32; every bad file → AudioLoadError."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from par_studio.audio.io import load_audio
from par_studio.constants import SAMPLE_RATE
from par_studio.errors import AudioLoadError

DUR = 1.0
FREQ = 1000.0


def sine(sr, seconds=DUR, freq=FREQ, amp=0.5):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1 / SAMPLE_RATE)[spec.argmax()]


def mp3(tmp_path, wav, name="x.mp3"):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    out = tmp_path / name
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-b:a", "128k", str(out)], check=True)
    return out


@pytest.mark.parametrize("sr", [44100, 48000, 8000, 22050, 16000])
@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_formats_and_rates_to_16k_mono(tmp_path, fmt, sr):
    stereo = np.stack([sine(sr), np.zeros(int(round(DUR * sr)), np.float32)], axis=1)  # left only
    path = tmp_path / f"x.{fmt}"
    sf.write(path, stereo, sr)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1 and y.flags.c_contiguous
    assert abs(len(y) - DUR * SAMPLE_RATE) <= 2, len(y)  # the right duration
    assert abs(peak_hz(y) - FREQ) <= 2.0  # a sine keeps its frequency
    mid = y[len(y) // 4 : 3 * len(y) // 4]
    assert np.sqrt(np.mean(mid ** 2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.05)  # (L+R)/2


@pytest.mark.parametrize("sr", [44100, 22050])
def test_mp3(tmp_path, sr):
    wav = tmp_path / "src.wav"
    sf.write(wav, np.stack([sine(sr, 2.0)] * 2, axis=1), sr)
    y = load_audio(mp3(tmp_path, wav))
    assert abs(len(y) / SAMPLE_RATE - 2.0) < 0.06  # encoder padding is all MP3 adds
    assert abs(peak_hz(y) - FREQ) <= 2.0


def test_multichannel_and_integer_wav(tmp_path):
    x = np.zeros((24000, 6), np.int16)
    x[:, 3] = (sine(48000, 0.5) * 32767).astype(np.int16)
    path = tmp_path / "six.wav"
    sf.write(path, x, 48000, subtype="PCM_16")
    y = load_audio(path)
    assert len(y) == 8000 and abs(peak_hz(y) - FREQ) <= 2.0
    assert np.abs(y).max() == pytest.approx(0.5 / 6, rel=0.05)


def test_long_file_is_read_in_blocks_without_seams(tmp_path, monkeypatch):
    import par_studio.audio.io as aio

    monkeypatch.setattr(aio, "BLOCK_SECONDS", 0.1)  # many blocks through the streaming resampler
    path = tmp_path / "long.wav"
    sf.write(path, sine(44100, 1.5, freq=440.0), 44100)
    y = load_audio(path)
    ref = sine(SAMPLE_RATE, 1.5, freq=440.0)
    assert abs(len(y) - len(ref)) <= 2
    n = min(len(y), len(ref))
    assert np.abs(y[200 : n - 200] - ref[200 : n - 200]).max() < 1e-3


def _errors(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, sine(44100), 44100, subtype="PCM_16")
    data = good.read_bytes()
    cases = {}
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    cases["empty file"] = p
    p = tmp_path / "zero-length.wav"
    sf.write(p, np.zeros((0, 1), np.float32), 44100)
    cases["zero-length WAV"] = p
    p = tmp_path / "cut-data.wav"
    p.write_bytes(data[: len(data) // 2])
    cases["WAV cut in its data"] = p
    p = tmp_path / "cut-header.wav"
    p.write_bytes(data[:30])
    cases["WAV cut in its header"] = p
    flac = tmp_path / "whole.flac"
    sf.write(flac, sine(44100), 44100)
    p = tmp_path / "cut.flac"
    p.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    cases["FLAC cut in half"] = p
    p = tmp_path / "notes.wav"
    p.write_text("these are my notes, not audio\n" * 20)
    cases["text renamed .wav"] = p
    p = tmp_path / "noise.mp3"
    p.write_bytes(np.random.RandomState(1).bytes(3000))
    cases["random bytes .mp3"] = p
    cases["missing file"] = tmp_path / "missing.wav"
    d = tmp_path / "folder.wav"
    d.mkdir()
    cases["folder"] = d
    return cases


def test_bad_files_raise_one_line_audio_load_error_naming_the_file(tmp_path):
    for kind, path in _errors(tmp_path).items():
        with pytest.raises(AudioLoadError) as info:
            load_audio(path)
        msg = str(info.value)
        assert path.name in msg and "\n" not in msg, (kind, msg)


def test_nan_samples_are_rejected(tmp_path):
    x = sine(16000)
    x[100] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="nan.wav"):
        load_audio(p)


def test_write_audio_is_lossless_16_bit_and_names_the_format(tmp_path):
    import soundfile as sf

    from par_studio.audio.io import write_audio

    y = (0.5 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    flac = write_audio(y, tmp_path / "a.flac")
    assert sf.info(flac).format == "FLAC" and np.allclose(sf.read(flac, dtype="float32")[0], y, atol=4e-5)
    wav = write_audio(np.full(100, 2.0, np.float32), tmp_path / "b")  # clipped, .wav added
    assert wav.name == "b.wav" and sf.info(wav).format == "WAV"
    assert np.allclose(sf.read(wav, dtype="float32")[0], 32767 / 32768, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac", "b.wav"]


def test_a_live_recording_survives_a_crash_minus_at_most_a_second(tmp_path, monkeypatch):
    """Written block by block; the process dies without closing: the WAV reads back with all
    but the last second. Closed normally, it holds every sample."""
    import soundfile as sf

    from par_studio.audio import recorder
    from par_studio.audio.recorder import RecordingWriter, new_recording_path

    monkeypatch.setattr(recorder.time, "strftime", lambda fmt: "live-20261125-101500")  # one second
    path = new_recording_path(tmp_path / "rec")
    assert path.name.startswith("live-") and path.suffix == ".wav"
    assert new_recording_path(tmp_path / "rec") == path  # nothing written yet: same name is free
    code = f"""
import os, numpy as np
from par_studio.audio.recorder import RecordingWriter
w = RecordingWriter({str(path)!r})
for i in range(55):  # 55 blocks of 0.1 s
    w.write(np.full(1600, 0.25, np.float32))
os._exit(3)
"""
    assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    y, sr = sf.read(path, dtype="float32")
    assert sr == 16000 and 4.5 * sr <= len(y) <= 5.5 * sr and np.allclose(y, 0.25, atol=1e-4)
    assert new_recording_path(tmp_path / "rec").name == path.stem + "-2.wav"
    w = RecordingWriter(tmp_path / "b.wav")
    blocks = [np.random.default_rng(i).uniform(-1, 1, 777).astype(np.float32) for i in range(9)]
    for b in blocks:
        w.write(b)
    w.close()
    assert w.closed and w.samples == 9 * 777
    assert np.allclose(sf.read(tmp_path / "b.wav", dtype="float32")[0], np.concatenate(blocks), atol=1 / 32768 + 1e-7)
