"""Live audio sources feeding the streaming engine through a ring buffer.

Every source has the same interface, meant to be polled from one consumer thread (a Qt timer
in the GUI, a loop in the CLI): ``start()``, ``stop()``, ``read() -> float32 16 kHz mono
samples available now``, ``overflows`` (blocks that did not fit the ring buffer),
``status_flags`` (PortAudio input over/underflow reports), ``finished`` (no more samples will
come) and ``name``.

* :class:`MicrophoneSource`: a sounddevice ``InputStream`` whose callback only copies into the
  ring buffer and counts; resampling from the device rate to 16 kHz (``soxr.ResampleStream``)
  happens on the consumer side, in :meth:`read`.
* :class:`FileSource`: plays a file (or an array) through the same ring-buffer path, from a
  thread that pushes blocks at real-time pace, or as fast as the consumer drains it when
  ``realtime=False`` (then it waits for room instead of dropping).

Missing PortAudio or no input device raise :class:`AudioDeviceError` with a plain message.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ..constants import SAMPLE_RATE
from ..errors import AudioDeviceError
from .ringbuffer import RingBuffer

DEFAULT_BUFFER_SECONDS = 10.0


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library missing
        raise AudioDeviceError(
            f"Audio input is unavailable: the PortAudio library was not found ({exc}). "
            "Install it (Debian/Ubuntu: sudo apt install libportaudio2) or use --file.") from exc
    except ImportError as exc:
        raise AudioDeviceError("Audio input needs the 'sounddevice' package: pip install sounddevice") from exc
    return sd


def list_input_devices() -> list[dict]:
    """Input devices as dicts: index, name, channels, default_samplerate, hostapi, default."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0] if sd.default.device is not None else -1
        hostapis = sd.query_hostapis()
    except Exception as exc:
        raise AudioDeviceError(f"Cannot list audio devices: {exc}") from exc
    out = []
    for i, d in enumerate(devices):
        if d.get("max_input_channels", 0) > 0:
            out.append({
                "index": i, "name": d["name"], "channels": int(d["max_input_channels"]),
                "default_samplerate": float(d["default_samplerate"]),
                "hostapi": hostapis[d["hostapi"]]["name"] if hostapis else "",
                "default": i == default_in,
            })
    return out


class AudioSource:
    """Common interface; subclasses fill ``self.ring`` from their producer."""

    name = "audio"
    sample_rate = SAMPLE_RATE  #: rate of what read() returns

    def __init__(self, buffer_seconds: float = DEFAULT_BUFFER_SECONDS, device_rate: int = SAMPLE_RATE):
        self.ring = RingBuffer(int(buffer_seconds * device_rate))
        self.device_rate = int(device_rate)
        self.status_flags = 0  #: PortAudio status reports (input overflow etc.)
        self._resampler = None
        if self.device_rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(self.device_rate, SAMPLE_RATE, 1, dtype="float32")
        self._producer_done = False

    @property
    def overflows(self) -> int:
        return self.ring.overflows

    @property
    def dropped_samples(self) -> int:
        return self.ring.dropped_samples

    @property
    def finished(self) -> bool:
        """True once the producer has ended and everything was read."""
        return self._producer_done and self.ring.available() == 0

    def read(self, max_samples: int | None = None) -> np.ndarray:
        """Samples available now, float32 mono at 16 kHz (resampled here, consumer side)."""
        x = self.ring.read(max_samples)
        if self._resampler is not None:
            last = self._producer_done and self.ring.available() == 0
            if len(x) or last:
                x = self._resampler.resample_chunk(x, last=last)
                if last:
                    self._resampler = None  # flushed
        return x

    def start(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class MicrophoneSource(AudioSource):
    """A sound-card input. ``device``: index or name substring (None: the default input)."""

    def __init__(self, device: int | str | None = None, buffer_seconds: float = DEFAULT_BUFFER_SECONDS,
                 blocksize: int = 0):
        sd = _sounddevice()
        try:
            info = sd.query_devices(device, "input")
        except Exception as exc:
            try:
                have = list_input_devices()
            except AudioDeviceError:
                have = []
            listing = "; ".join(f"{d['index']}: {d['name']}" for d in have) or "none found"
            what = "default input device" if device is None else f"input device {device!r}"
            raise AudioDeviceError(f"No usable {what} ({exc}). Input devices: {listing}. "
                                   "Use --list-devices, --device ID, or --file AUDIO.") from exc
        self.device_info = dict(info)
        self.device = info.get("index", device)
        self.name = str(info["name"])
        rate = int(round(info["default_samplerate"]))
        super().__init__(buffer_seconds, rate)
        self._blocksize = blocksize
        self._sd = sd
        self._stream = None

    def _callback(self, indata, frames, time_info, status):  # audio thread: copy and count only
        if status:
            self.status_flags += 1
        self.ring.write(indata[:, 0])

    def start(self) -> None:
        if self._stream is not None:
            return
        try:
            self._stream = self._sd.InputStream(
                device=self.device, channels=1, samplerate=self.device_rate, dtype="float32",
                blocksize=self._blocksize, callback=self._callback)
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise AudioDeviceError(f"Cannot open input device {self.name!r}: {exc}") from exc

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
                self._producer_done = True


class FileSource(AudioSource):
    """Plays a file (path) or a 16 kHz float32 array as live input through the ring buffer.

    ``realtime=True`` pushes ``block`` samples at the pace of the audio clock (like a sound
    card: if the consumer falls behind, blocks are dropped and counted); ``realtime=False``
    pushes as fast as the consumer drains, waiting for room (nothing is dropped).
    ``loop_seconds``: repeat the audio until that much has been played (soak tests).
    """

    def __init__(self, source, realtime: bool = True, block: int = 512,
                 buffer_seconds: float = DEFAULT_BUFFER_SECONDS, loop_seconds: float | None = None):
        if isinstance(source, np.ndarray):
            self.audio = np.ascontiguousarray(source, np.float32).reshape(-1)
            self.name = "array"
        else:
            from .io import load_audio

            self.audio = load_audio(source)
            self.name = str(source)
        super().__init__(buffer_seconds, SAMPLE_RATE)
        self.realtime = realtime
        self.block = int(block)
        self.total = int(loop_seconds * SAMPLE_RATE) if loop_seconds else len(self.audio)
        self.position = 0  #: samples produced so far
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _chunk(self, pos: int, n: int) -> np.ndarray:
        L = len(self.audio)
        if L == 0:
            return np.zeros(0, np.float32)
        i = pos % L
        if i + n <= L:
            return self.audio[i: i + n]
        return np.concatenate([self.audio[i:], self._chunk(pos + L - i, n - (L - i))])

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            while self.position < self.total and not self._stop.is_set():
                n = min(self.block, self.total - self.position)
                if self.realtime:
                    due = t0 + (self.position + n) / SAMPLE_RATE  # the block is "recorded" then
                    delay = due - time.perf_counter()
                    if delay > 0:
                        self._stop.wait(delay)
                        if self._stop.is_set():
                            break
                else:
                    while self.ring.free() < n and not self._stop.is_set():
                        time.sleep(0.001)
                self.ring.write(self._chunk(self.position, n))
                self.position += n
        finally:
            self._producer_done = True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="par-file-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._producer_done = True
