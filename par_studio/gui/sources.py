"""Live input sources for the GUI, on top of :mod:`par_studio.audio.live` when present.

Every source has ``start()``, ``stop()``, ``read(max_samples=None) -> float32 16 kHz block``
(possibly empty; at most ``max_samples``), ``dropped`` (blocks lost to a full ring buffer),
``raw_format()`` ((rate, channels) of the device's own frames, or None), ``keep_raw()`` and
``take_raw()`` (those frames, for recording a session at full quality),
``backlog`` (samples waiting to be read) and ``exhausted`` (a file source has delivered
everything). The GUI reads only as much as the live worker can take (see
``MainWindow._drain_live``): what it leaves waits in the source's ring buffer, and a ring
that overflows counts dropped blocks, as a sound card that is not read in time would.
:class:`ArraySource` plays an in-memory signal, either paced by the clock (real time) or as
fast as it is read (``realtime=False``, for tests and benchmarks).
"""

from __future__ import annotations

import time

import numpy as np

from ..constants import SAMPLE_RATE


class ArraySource:
    """A decoded signal played as live input."""

    def __init__(self, audio: np.ndarray, realtime: bool = True, block: int = 1024, name: str = "file"):
        self.audio = np.ascontiguousarray(audio, np.float32)
        self.realtime = realtime
        self.block = block
        self.name = name
        self.pos = 0
        self.dropped = 0
        self._t0 = None

    def raw_format(self):  # an in-memory 16 kHz signal: nothing finer to record
        return None

    def start(self) -> None:
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self._t0 = None

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.audio)

    def _due(self) -> int:
        if self._t0 is None:
            return self.pos
        if self.realtime:
            return min(len(self.audio), int((time.monotonic() - self._t0) * SAMPLE_RATE))
        return min(len(self.audio), self.pos + 8 * self.block)

    @property
    def backlog(self) -> int:
        return max(0, self._due() - self.pos) if self.realtime else 0

    def read(self, max_samples: int | None = None) -> np.ndarray:
        if self._t0 is None:
            return np.zeros(0, np.float32)
        end = self._due()
        if max_samples is not None:
            end = min(end, self.pos + int(max_samples))
        out = self.audio[self.pos:end]
        self.pos = max(self.pos, end)
        return out


class EngineSource:
    """Adapter around a :mod:`par_studio.audio.live` source (MicrophoneSource / FileSource):
    ``overflows`` → ``dropped``, ``finished`` → ``exhausted``."""

    def __init__(self, src, name: str | None = None):
        self.src = src
        self.name = name or getattr(src, "name", "input")

    def start(self) -> None:
        self.src.start()

    def stop(self) -> None:
        self.src.stop()

    def read(self, max_samples: int | None = None) -> np.ndarray:
        if max_samples is None:
            x = self.src.read()
        else:
            try:
                x = self.src.read(max_samples)
            except TypeError:  # a source whose read() takes no limit
                x = self.src.read()
        return np.zeros(0, np.float32) if x is None else np.asarray(x, np.float32).reshape(-1)

    @property
    def dropped(self) -> int:
        return int(getattr(self.src, "overflows", 0) or 0)

    @property
    def exhausted(self) -> bool:
        return bool(getattr(self.src, "finished", False))

    def raw_format(self) -> tuple[int, int] | None:
        """(sample rate, channels) the device delivers, when the source can hand its frames
        over as they are (:meth:`take_raw`); None otherwise."""
        if not hasattr(self.src, "take_raw"):
            return None
        return int(getattr(self.src, "device_rate", SAMPLE_RATE)), int(getattr(self.src, "channels", 1))

    def keep_raw(self) -> None:
        """From now on keep the device's frames that read() consumes, for take_raw()."""
        self.src.keep_raw = True

    def take_raw(self) -> np.ndarray | None:
        """(n, channels) frames at the device's rate consumed since the last call."""
        return self.src.take_raw() if hasattr(self.src, "take_raw") else None

    @property
    def backlog(self) -> int:
        ring = getattr(self.src, "ring", None)
        try:
            return int(ring.available()) if ring is not None else 0
        except Exception:
            return 0


def as_source(src):
    """Accept our sources and :mod:`par_studio.audio.live` ones alike."""
    return src if isinstance(src, (ArraySource, EngineSource)) else EngineSource(src)


def input_devices() -> list[tuple[object, str]]:
    """(device index, name) of the microphones; [] where there are none or no PortAudio."""
    try:
        from ..audio.live import list_input_devices

        return [(d["index"], str(d["name"])) for d in list_input_devices()]
    except Exception:
        return []


def microphone_source(device=None) -> EngineSource:
    from ..audio.live import MicrophoneSource

    return EngineSource(MicrophoneSource(device=device), "microphone")


def file_source(audio_or_path, realtime: bool = True) -> EngineSource:
    """A file (path or decoded 16 kHz array) played as live input through the engine's ring
    buffer: at the audio clock's pace, or as fast as it is drained (``realtime=False``)."""
    from ..audio.live import FileSource

    return EngineSource(FileSource(audio_or_path, realtime=realtime), "file")
