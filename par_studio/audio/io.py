"""Decoding audio files to 16 kHz mono float32, with bounded memory and plain errors.

soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...) is read block by block,
down-mixed and resampled with soxr's streaming resampler, so a long file never needs its
full native-rate, multichannel copy in memory. Formats libsndfile cannot read (AAC/M4A, ...)
fall back to ffmpeg, streamed through a pipe. Headers are checked first (:mod:`.probe`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import SAMPLE_RATE
from ..errors import AudioLoadError
from .probe import MAX_SECONDS, check_source, check_stream, ogg_truncated, shown, wav_problem

BLOCK_SECONDS = 30.0
#: at most this many samples (all channels) are decoded per block: 32 MB of float32
BLOCK_SAMPLES = 1 << 23


class TruncatedAudioWarning(UserWarning):
    """The file ends early (cut short); what is there was decoded."""


@dataclass
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path) -> AudioInfo:
    """Sample rate, channels and length of an audio file without decoding it all."""
    import soundfile as sf

    path = Path(path)
    check_source(path)
    try:
        i = sf.info(os.fsencode(path))
        return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames))
    except Exception:
        y = load_audio(path)
        return AudioInfo(str(path), SAMPLE_RATE, 1, len(y))


def _resampler(sr: int):
    import soxr

    return soxr.ResampleStream(sr, SAMPLE_RATE, 1, dtype="float32", quality="HQ")


def load_audio(path, max_seconds: float | None = None) -> np.ndarray:
    """Decode ``path`` to (n_samples,) float32 mono at 16 kHz.

    Raises :class:`AudioLoadError` with the file name and the reason for missing, empty,
    unreadable, special (pipe, device, /proc), truncated, corrupt or non-audio files, for
    impossible headers (see :mod:`par_studio.audio.probe`) and for files with no samples.
    A compressed file that ends early (MP3, Ogg) is decoded as far as it goes and a
    :class:`TruncatedAudioWarning` naming it is issued. Memory: one block of at most
    :data:`BLOCK_SAMPLES` native samples at a time, plus the 16 kHz result.
    """
    import soundfile as sf

    path = Path(path)
    check_source(path)
    name = shown(path)
    problem = wav_problem(path)
    if problem:
        raise AudioLoadError(problem)
    try:
        f = sf.SoundFile(os.fsencode(path))
    except Exception as exc:
        return _load_fallback(path, exc, max_seconds)
    try:
        with f:
            sr, ch = int(f.samplerate), int(f.channels)
            check_stream(name, sr, ch, int(f.frames) if f.seekable() else None)
            block = max(1, min(int(BLOCK_SECONDS * sr), BLOCK_SAMPLES // ch))
            limit = int(MAX_SECONDS * sr) + 1 if max_seconds is None else int(max_seconds * sr)
            rs = None if sr == SAMPLE_RATE else _resampler(sr)
            parts: list[np.ndarray] = []
            read = 0
            while True:
                n = min(block, limit - read)
                if n <= 0:
                    break
                x = f.read(n, dtype="float32", always_2d=True)
                if len(x) == 0:
                    break
                read += len(x)
                mono = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
                del x
                parts.append(rs.resample_chunk(mono) if rs else mono.copy())
            if max_seconds is None:
                check_stream(name, sr, ch, read)
            if rs is not None:
                parts.append(rs.resample_chunk(np.zeros(0, np.float32), last=True))
            declared = int(f.frames)
            fmt = f.format
    except AudioLoadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise AudioLoadError(f"{name}: the file is truncated or corrupt ({exc}).") from exc
    if max_seconds is None and (fmt == "MP3" and read < 0.99 * declared or fmt == "OGG" and ogg_truncated(path)):
        warnings.warn(TruncatedAudioWarning(
            f"{name}: the file is truncated (it ends early); only the first "
            f"{read / sr:.1f} s could be decoded."), stacklevel=2)
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if y.size == 0 and fmt == "OGG" and ogg_truncated(path):
        raise AudioLoadError(f"{name}: the file is truncated (cut short before its first audio).")
    return _finish(name, y)


def _load_fallback(path: Path, first_exc: Exception, max_seconds: float | None) -> np.ndarray:
    """Formats libsndfile cannot read (AAC/M4A, WMA, ...): ffmpeg decodes and resamples to
    16 kHz mono float32, streamed through a pipe in bounded blocks."""
    import shutil
    import subprocess

    name = shown(path)
    ffmpeg = shutil.which("ffmpeg")
    not_audio = (f"{name}: not an audio file PAR Studio can read (its contents are not a known "
                 "audio format). Use WAV, FLAC, OGG or MP3.")
    if ffmpeg is None:
        raise AudioLoadError(not_audio[:-1] + " (ffmpeg, which reads further formats, is not "
                             "installed).") from first_exc
    seconds = MAX_SECONDS if max_seconds is None else max_seconds
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", os.fsencode(path), "-t", f"{seconds + 1:.3f}",
           "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    chunk = 4 * SAMPLE_RATE * 30
    parts: list[np.ndarray] = []
    total = 0
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            while True:
                buf = proc.stdout.read(chunk)
                if not buf:
                    break
                buf = buf[: len(buf) // 4 * 4]
                parts.append(np.frombuffer(buf, np.float32).copy())
                total += len(parts[-1])
                if max_seconds is None and total > MAX_SECONDS * SAMPLE_RATE:
                    proc.kill()
                    check_stream(name, SAMPLE_RATE, 1, total)
            err = proc.stderr.read().decode("utf-8", "replace").strip()
            code = proc.wait()
    except OSError as exc:
        raise AudioLoadError(f"{name}: ffmpeg could not be run ({exc.strerror or exc}).") from exc
    if code != 0 and not parts:
        raise AudioLoadError(not_audio) from first_exc
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if max_seconds is not None:
        y = y[: int(max_seconds * SAMPLE_RATE)]
    if code != 0 and err:
        warnings.warn(TruncatedAudioWarning(
            f"{name}: the file is damaged or truncated; only the first {len(y) / SAMPLE_RATE:.1f} s "
            "could be decoded."), stacklevel=3)
    return _finish(name, y)


def _finish(name: str, y: np.ndarray) -> np.ndarray:
    if y.size == 0:
        raise AudioLoadError(f"{name}: the file holds no audio samples.")
    if not np.all(np.isfinite(y)):
        raise AudioLoadError(f"{name}: the file holds invalid (NaN or infinite) samples.")
    return np.ascontiguousarray(y, dtype=np.float32)


def write_audio(audio: np.ndarray, path) -> Path:
    """Write (n,) float32 16 kHz mono ``audio`` to ``path`` atomically: FLAC (16-bit, lossless
    for what a sound card records) for ``.flac``, else 16-bit WAV (``.wav`` is added when the
    name has neither suffix). Returns the path written."""
    import io

    import soundfile as sf

    from ..midi_io import atomic_write_bytes

    path = Path(path)
    if path.suffix.lower() not in (".flac", ".wav"):
        path = path.with_name(path.name + ".wav")
    buf = io.BytesIO()
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    sf.write(buf, np.clip(np.asarray(audio, np.float32), -1.0, 1.0), SAMPLE_RATE, format=fmt, subtype="PCM_16")
    return atomic_write_bytes(path, buf.getvalue())
