"""Decoding audio files to 16 kHz mono float32, with bounded memory and plain errors.

soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...) is read block by block,
down-mixed and resampled with soxr's streaming resampler, so a long file never needs its
full native-rate, multichannel copy in memory. Formats libsndfile cannot read (AAC/M4A, ...)
fall back to librosa's audioread/ffmpeg path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import SAMPLE_RATE
from ..errors import AudioLoadError

BLOCK_SECONDS = 30.0


@dataclass
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioLoadError(f"{path}: file not found.")
    if path.is_dir():
        raise AudioLoadError(f"{path}: is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"{path}: file is empty (0 bytes).")


def _wav_truncation(path: Path) -> str | None:
    """A message if ``path`` is a RIFF/WAVE file whose data chunk is shorter than its header
    says (libsndfile silently reads what is there), else None."""
    import struct

    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                cid, n = struct.unpack("<4sI", fh.read(8))
                if cid == b"data":
                    have = size - pos - 8
                    if n not in (0, 0xFFFFFFFF) and n > have:
                        return (f"{path}: the file is truncated (its header promises {n} bytes of "
                                f"audio, only {have} are there).")
                    return None
                pos += 8 + n + (n & 1)
    except OSError:
        return None
    return None


def audio_info(path) -> AudioInfo:
    """Sample rate, channels and length of an audio file without decoding it all."""
    import soundfile as sf

    path = Path(path)
    _check_path(path)
    try:
        i = sf.info(str(path))
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
    truncated, corrupt or non-audio files, and for files with no samples.
    """
    import soundfile as sf

    path = Path(path)
    _check_path(path)
    try:
        f = sf.SoundFile(str(path))
    except Exception as exc:
        return _load_fallback(path, exc, max_seconds)
    try:
        with f:
            problem = _wav_truncation(path) if f.format == "WAV" else None
            if problem:
                raise AudioLoadError(problem)
            sr = int(f.samplerate)
            if sr <= 0:
                raise AudioLoadError(f"{path}: invalid sample rate {sr}.")
            block = int(BLOCK_SECONDS * sr)
            limit = None if max_seconds is None else int(max_seconds * sr)
            rs = None if sr == SAMPLE_RATE else _resampler(sr)
            parts: list[np.ndarray] = []
            read = 0
            while True:
                n = block if limit is None else min(block, limit - read)
                if n <= 0:
                    break
                x = f.read(n, dtype="float32", always_2d=True)
                if len(x) == 0:
                    break
                read += len(x)
                mono = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
                parts.append(rs.resample_chunk(mono) if rs else mono.copy())
            if rs is not None:
                parts.append(rs.resample_chunk(np.zeros(0, np.float32), last=True))
    except AudioLoadError:
        raise
    except Exception as exc:
        raise AudioLoadError(f"{path}: the file is truncated or corrupt ({exc}).") from exc
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return _finish(path, y)


def _load_fallback(path: Path, first_exc: Exception, max_seconds: float | None) -> np.ndarray:
    import warnings

    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True, duration=max_seconds)
    except Exception as exc:
        raise AudioLoadError(
            f"{path}: not a readable audio file ({first_exc}). Use WAV, FLAC, OGG or MP3."
        ) from exc
    return _finish(path, np.asarray(y, np.float32))


def _finish(path: Path, y: np.ndarray) -> np.ndarray:
    if y.size == 0:
        raise AudioLoadError(f"{path}: the file holds no audio samples.")
    if not np.all(np.isfinite(y)):
        raise AudioLoadError(f"{path}: the file holds invalid (NaN or infinite) samples.")
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
