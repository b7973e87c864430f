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
MAX_CHANNELS = 2  #: a microphone is opened with its own channel count, up to stereo
#: a file played as live input is held as stored (rate, channels) up to this many samples
#: (1 GiB of float32: 1 h of 48 kHz stereo); beyond, as 16 kHz mono
MAX_NATIVE_SAMPLES = 256 * 2**20


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
    """Common interface; subclasses fill ``self.ring`` from their producer.

    The ring holds the input as the device delivers it: ``device_rate`` Hz, ``channels``
    interleaved float32 channels (whole frames only: see :meth:`_produce`). :meth:`read` mixes
    it to mono and resamples it to 16 kHz for the model; the frames it consumed, untouched,
    are kept for :meth:`take_raw` (to record the session at full quality) when ``keep_raw``.
    """

    name = "audio"
    sample_rate = SAMPLE_RATE  #: rate of what read() returns

    def __init__(self, buffer_seconds: float = DEFAULT_BUFFER_SECONDS, device_rate: int = SAMPLE_RATE,
                 channels: int = 1):
        self.channels = max(1, int(channels))
        self.ring = RingBuffer(int(buffer_seconds * device_rate) * self.channels)
        self.device_rate = int(device_rate)
        self.keep_raw = False  #: keep what read() consumed, for take_raw()
        self._raw: list[np.ndarray] = []
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

    def _produce(self, frames: np.ndarray) -> None:
        """Producer side: (n, channels) or (n,) float32 frames into the ring, whole frames only
        (what does not fit is dropped and counted, as RingBuffer.write does)."""
        x = np.asarray(frames, np.float32).reshape(-1)
        ch = self.channels
        if ch > 1:
            room = self.ring.free() // ch * ch
            if len(x) > room:
                self.ring.overflows += 1
                self.ring.dropped_samples += len(x) - room
                x = x[:room]
        self.ring.write(x)

    def take_raw(self) -> np.ndarray:
        """(n, channels) float32 frames at ``device_rate`` that :meth:`read` consumed since the
        last call (empty unless ``keep_raw``)."""
        parts, self._raw = self._raw, []
        if not parts:
            return np.zeros((0, self.channels), np.float32)
        return np.concatenate(parts).reshape(-1, self.channels)

    def read(self, max_samples: int | None = None) -> np.ndarray:
        """Samples available now, float32 mono at 16 kHz (mixed down and resampled here,
        consumer side). ``max_samples``: about this many 16 kHz samples at most."""
        ch = self.channels
        avail = self.ring.available() // ch
        if max_samples is not None:
            avail = min(avail, int(np.ceil(int(max_samples) * self.device_rate / SAMPLE_RATE)))
        x = self.ring.read(avail * ch)
        if self.keep_raw and len(x):
            self._raw.append(x)
        if ch > 1:
            x = x.reshape(-1, ch).mean(axis=1, dtype=np.float32)
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
        # the device's own rate and channels (up to stereo): a session is recorded as it was heard
        channels = max(1, min(MAX_CHANNELS, int(info.get("max_input_channels", 1) or 1)))
        super().__init__(buffer_seconds, rate, channels)
        self._blocksize = blocksize
        self._sd = sd
        self._stream = None

    def _callback(self, indata, frames, time_info, status):  # audio thread: copy and count only
        if status:
            self.status_flags += 1
        self._produce(indata)

    def start(self) -> None:
        if self._stream is not None:
            return
        try:
            self._stream = self._sd.InputStream(
                device=self.device, channels=self.channels, samplerate=self.device_rate, dtype="float32",
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
    """Plays a file (path) or an array as live input through the ring buffer.

    A path is read at its own sample rate and channels (as a sound card would deliver it; a
    format soundfile cannot read is decoded to 16 kHz mono by :func:`load_audio`); an array is
    16 kHz mono unless ``sample_rate`` is given (then (n,) or (n, channels) at that rate).
    ``realtime=True`` pushes ``block`` (16 kHz) samples' worth of frames at the pace of the
    audio clock (like a sound card: if the consumer falls behind, blocks are dropped and
    counted); ``realtime=False`` pushes as fast as the consumer drains, waiting for room
    (nothing is dropped). ``loop_seconds``: repeat the audio until that much has been played
    (soak tests).
    """

    def __init__(self, source, realtime: bool = True, block: int = 512,
                 buffer_seconds: float = DEFAULT_BUFFER_SECONDS, loop_seconds: float | None = None,
                 sample_rate: int | None = None):
        rate = int(sample_rate or SAMPLE_RATE)
        if isinstance(source, np.ndarray):
            frames = np.asarray(source, np.float32)
            self.name = "array"
        else:
            frames, rate = _read_native(source)
            self.name = str(source)
        frames = frames.reshape(len(frames), -1) if frames.ndim > 1 else frames.reshape(-1, 1)
        super().__init__(buffer_seconds, rate, frames.shape[1])
        self.frames = np.ascontiguousarray(frames)  #: (n, channels) at device_rate
        self.audio = self.frames[:, 0] if self.channels == 1 else self.frames.mean(axis=1)
        self.realtime = realtime
        self.block = max(1, int(round(int(block) * rate / SAMPLE_RATE)))  #: frames per push
        self.total = int(loop_seconds * rate) if loop_seconds else len(self.frames)  #: frames
        self.position = 0  #: frames produced so far
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _chunk(self, pos: int, n: int) -> np.ndarray:
        L = len(self.frames)
        if L == 0:
            return np.zeros((0, self.channels), np.float32)
        i = pos % L
        if i + n <= L:
            return self.frames[i: i + n]
        return np.concatenate([self.frames[i:], self._chunk(pos + L - i, n - (L - i))])

    def _run(self) -> None:
        t0 = time.perf_counter()
        ch = self.channels
        try:
            while self.position < self.total and not self._stop.is_set():
                n = min(self.block, self.total - self.position)
                if self.realtime:
                    due = t0 + (self.position + n) / self.device_rate  # the block is "recorded" then
                    delay = due - time.perf_counter()
                    if delay > 0:
                        self._stop.wait(delay)
                        if self._stop.is_set():
                            break
                else:
                    while self.ring.free() < n * ch and not self._stop.is_set():
                        time.sleep(0.001)
                self._produce(self._chunk(self.position, n))
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


def _read_native(path) -> tuple[np.ndarray, int]:
    """(frames (n, channels) float32, rate) of an audio file as stored; formats soundfile does
    not read, and files too big to hold that way (over MAX_NATIVE_SAMPLES), come as 16 kHz mono
    from :func:`load_audio` (which gives the plain error for a bad file)."""
    try:
        import soundfile as sf

        info = sf.info(str(path))
        if 0 < info.frames * info.channels <= MAX_NATIVE_SAMPLES and 1000 <= info.samplerate <= 768_000:
            frames, rate = sf.read(str(path), dtype="float32", always_2d=True)
            if len(frames):
                return frames, int(rate)
    except Exception:
        pass
    from .io import load_audio

    return load_audio(path).reshape(-1, 1), SAMPLE_RATE
