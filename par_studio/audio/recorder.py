"""Live input recorded to disk as it arrives, so a live session's audio survives a crash.

:class:`RecordingWriter` streams float32 blocks into a WAV at the input's own sample rate and
channels (the GUI records what the sound card delivers; the CLI its 16 kHz mono). libsndfile
rewrites the WAV header on every flush, and the writer flushes once per :data:`FLUSH_S`
seconds of audio, so after a crash (or power loss after the OS wrote it out) the file is a
valid WAV holding everything but the last second. When the session ends normally,
:meth:`RecordingWriter.finish_as_flac` turns it into a lossless FLAC (about half the size).
FLAC is not written directly because libsndfile's FLAC encoder keeps its data until the file
is closed: a crash would leave an unreadable file. No Qt: the GUI's live worker and the CLI
use it alike.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..constants import SAMPLE_RATE

FLUSH_S = 1.0  #: seconds of audio between header updates
CONVERT_BLOCK = 1 << 16  #: frames per step when converting to FLAC (bounded memory)


def new_recording_path(folder, suffix: str = ".wav") -> Path:
    """``folder/live-YYYYmmdd-HHMMSS.wav`` (``-2``, ``-3``… if taken, also by a finished
    ``.flac`` of the same name); the folder is created."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("live-%Y%m%d-%H%M%S")
    path, k = folder / f"{stem}{suffix}", 2
    while path.exists() or path.with_suffix(".flac").exists():
        path, k = folder / f"{stem}-{k}{suffix}", k + 1
    return path


class RecordingWriter:
    """A WAV being written block by block (see the module doc).

    ``sample_rate`` (Hz) and ``channels``: of the blocks written, (n,) or (n, channels)
    float32 in −1..1; ``subtype``: "PCM_16" (default) or "PCM_24" for a full-quality take.
    """

    def __init__(self, path, sample_rate: int = SAMPLE_RATE, channels: int = 1, subtype: str = "PCM_16"):
        import soundfile as sf

        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.subtype = subtype
        self.samples = 0  #: frames written
        self._since_flush = 0
        self._file = sf.SoundFile(str(self.path), "w", self.sample_rate, self.channels, subtype, format="WAV")

    def write(self, block: np.ndarray) -> None:
        block = np.clip(np.asarray(block, np.float32), -1.0, 1.0).reshape(-1, self.channels)
        if self.channels == 1:
            block = block[:, 0]
        self._file.write(block)
        self.samples += len(block)
        self._since_flush += len(block)
        if self._since_flush >= FLUSH_S * self.sample_rate:
            self._file.flush()
            self._since_flush = 0

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def finish_as_flac(self) -> Path:
        """Close, and replace the WAV by a FLAC of the same audio (same name, ``.flac``),
        written to a temporary file first and renamed: the WAV goes only once the FLAC is
        complete. Returns the FLAC's path (the WAV's if the conversion failed: nothing is lost)."""
        import soundfile as sf

        self.close()
        flac = self.path.with_suffix(".flac")
        tmp = flac.with_name(f".{flac.name}.part")
        try:
            with sf.SoundFile(str(self.path)) as src, \
                    sf.SoundFile(str(tmp), "w", src.samplerate, src.channels, self.subtype, format="FLAC") as dst:
                for block in src.blocks(blocksize=CONVERT_BLOCK, dtype="float32", always_2d=True):
                    dst.write(block)
            os.replace(tmp, flac)
        except Exception:
            tmp.unlink(missing_ok=True)
            return self.path
        self.path.unlink(missing_ok=True)
        self.path = flac
        return flac


def copy_recording(src, dst) -> Path:
    """Write the recording ``src`` to ``dst`` at its full quality (its own rate, channels and
    bit depth): ``.wav`` → WAV, anything else → FLAC (``.flac`` added when the name has no
    audio suffix). Atomic: a temporary file beside ``dst`` is renamed over it when complete.
    Raises OSError / RuntimeError (soundfile) on failure, leaving ``dst`` as it was."""
    import soundfile as sf

    dst = Path(dst)
    if dst.suffix.lower() not in (".wav", ".flac"):
        dst = dst.with_name(dst.name + ".flac")
    fmt = "WAV" if dst.suffix.lower() == ".wav" else "FLAC"
    tmp = dst.with_name(f".{dst.name}.part")
    try:
        with sf.SoundFile(str(src)) as s:
            subtype = s.subtype if s.subtype in ("PCM_16", "PCM_24") else "PCM_24"
            with sf.SoundFile(str(tmp), "w", s.samplerate, s.channels, subtype, format=fmt) as d:
                for block in s.blocks(blocksize=CONVERT_BLOCK, dtype="float32", always_2d=True):
                    d.write(block)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst
