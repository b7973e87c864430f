"""Playback of the loaded audio through a sounddevice OutputStream.

The PortAudio callback only copies samples from the (read-only) signal; the playhead comes from
the stream's own clock on the GUI side, so nothing mutable is shared with the audio thread.
"""

from __future__ import annotations

import numpy as np

from ..constants import SAMPLE_RATE
from ..errors import AudioDeviceError


def output_device_name() -> str | None:
    """Name of the default output device, or None where there is none."""
    try:
        import sounddevice as sd

        info = sd.query_devices(kind="output")
        return str(info["name"]) if info and info.get("max_output_channels", 0) > 0 else None
    except Exception:
        return None


class Player:
    """Play ``audio`` (float32 16 kHz mono) from a position; ``position()`` follows the device clock."""

    def __init__(self):
        self.stream = None
        self.audio = np.zeros(0, np.float32)
        self._start_sample = 0
        self._t0 = 0.0

    @property
    def playing(self) -> bool:
        return self.stream is not None and self.stream.active

    def play(self, audio: np.ndarray, start_s: float) -> None:
        import sounddevice as sd

        self.stop()
        if output_device_name() is None:
            raise AudioDeviceError("No audio output device was found, so playback is unavailable. "
                                   "Connect headphones or speakers and try again.")
        self.audio = audio
        start = int(max(0.0, start_s) * SAMPLE_RATE)
        self._start_sample = start
        state = {"i": start}  # private to the callback

        def callback(outdata, frames, time_info, status):
            i = state["i"]
            chunk = audio[i: i + frames]
            outdata[: len(chunk), 0] = chunk
            outdata[len(chunk):, 0] = 0
            state["i"] = i + frames
            if len(chunk) < frames:
                raise sd.CallbackStop()

        try:
            self.stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                          callback=callback)
            self.stream.start()
            self._t0 = self.stream.time + float(self.stream.latency or 0.0)
        except Exception as exc:
            self.stream = None
            raise AudioDeviceError(f"Cannot play audio on the output device: {exc}") from exc

    def position(self) -> float:
        """Seconds into the audio being heard now."""
        if self.stream is None:
            return self._start_sample / SAMPLE_RATE
        elapsed = max(0.0, self.stream.time - self._t0)
        return min(self._start_sample / SAMPLE_RATE + elapsed, len(self.audio) / SAMPLE_RATE)

    def stop(self) -> float:
        pos = self.position()
        if self.stream is not None:
            try:
                self.stream.abort()
                self.stream.close()
            except Exception:
                pass
            self.stream = None
        self._start_sample = int(pos * SAMPLE_RATE)
        return pos
