"""Live input recorded to disk as it arrives, so a live session's audio survives a crash.

:class:`RecordingWriter` streams (n,) float32 16 kHz blocks into a 16-bit mono WAV. libsndfile
rewrites the WAV header on every flush, and the writer flushes once per :data:`FLUSH_S` seconds
of audio, so after a crash (or power loss after the OS wrote it out) the file is a valid WAV
holding everything but the last second. No Qt: the GUI's live worker and the CLI use it alike.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..constants import SAMPLE_RATE

FLUSH_S = 1.0  #: seconds of audio between header updates


def new_recording_path(folder) -> Path:
    """``folder/live-YYYYmmdd-HHMMSS.wav`` (``-2``, ``-3``… if taken); the folder is created."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("live-%Y%m%d-%H%M%S")
    path, k = folder / f"{stem}.wav", 2
    while path.exists():
        path, k = folder / f"{stem}-{k}.wav", k + 1
    return path


class RecordingWriter:
    """A 16-bit WAV being written block by block (see the module doc)."""

    def __init__(self, path):
        import soundfile as sf

        self.path = Path(path)
        self.samples = 0
        self._since_flush = 0
        self._file = sf.SoundFile(str(self.path), "w", SAMPLE_RATE, 1, "PCM_16")

    def write(self, block: np.ndarray) -> None:
        block = np.clip(np.asarray(block, np.float32).reshape(-1), -1.0, 1.0)
        self._file.write(block)
        self.samples += len(block)
        self._since_flush += len(block)
        if self._since_flush >= FLUSH_S * SAMPLE_RATE:
            self._file.flush()
            self._since_flush = 0

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
