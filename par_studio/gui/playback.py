"""Playback of the loaded audio through a sounddevice OutputStream.

The PortAudio callback only copies samples from the (read-only) signals; the playhead comes from
the stream's own clock on the GUI side. A second, optional track (the synthesised notes) is mixed
in with gains; the GUI changes the mix by swapping one immutable tuple (an atomic assignment),
so the audio thread never sees a half-updated state. Short audition clips (a note being
edited) are mixed into the running playback the same way, or played on a stream of their own
when nothing plays.
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


def loop_segments(i: int, frames: int, loop: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Where the next ``frames`` output samples come from, as (first source sample, count)
    pieces: straight on from sample ``i``, or, with ``loop`` = (lo, hi) samples, wrapping from
    ``hi`` back to ``lo`` as often as needed."""
    if loop is None:
        return [(i, frames)]
    lo, hi = loop
    out = []
    while frames > 0:
        if i >= hi:
            i = lo + (i - hi) % (hi - lo)
        n = min(frames, hi - i)
        out.append((i, n))
        i += n
        frames -= n
    return out


def loop_position(t: float, loop: tuple[float, float] | None) -> float:
    """Source position (s) heard after ``t`` s of straight playback, with ``loop`` = (lo, hi) s."""
    if loop is None or t < loop[1]:
        return t
    lo, hi = loop
    return lo + (t - hi) % (hi - lo)


class Player:
    """Play ``audio`` (float32 16 kHz mono) from a position, optionally looping a span;
    ``position()`` follows the device clock.

    At a ``speed`` below 1 the caller passes the source already time-stretched (and the notes
    track rendered on that time axis); positions in and out (``start_s``, ``loop``,
    ``position()``) stay in *source* seconds, the player converts with ``t / speed``.
    """

    def __init__(self):
        self.stream = None
        self.audio = np.zeros(0, np.float32)
        self._start_sample = 0  #: in samples of the audio being played (stretched at speed < 1)
        self._t0 = 0.0
        self.speed = 1.0  #: source seconds per second of playback
        self.loop: tuple[float, float] | None = None  #: (start, end) playback s while a loop plays
        self._mix = (np.zeros(0, np.float32), None, 1.0, 0.0)  #: (audio, notes audio, g_audio, g_notes)
        self._overlay: tuple[np.ndarray, int] | None = None  #: (audition clip, serial) to mix in
        self._serial = 0
        self.audition_stream = None  #: the stream of an audition while nothing plays

    @property
    def playing(self) -> bool:
        return self.stream is not None and self.stream.active

    def set_mix(self, notes_audio: np.ndarray | None, gains: tuple[float, float]) -> None:
        """Change the notes track and the gains (also while playing)."""
        self._mix = (self.audio, notes_audio, float(gains[0]), float(gains[1]))

    def play(self, audio: np.ndarray, start_s: float, notes_audio: np.ndarray | None = None,
             gains: tuple[float, float] = (1.0, 0.0), loop: tuple[float, float] | None = None,
             speed: float = 1.0) -> None:
        """Play from ``start_s``; with ``loop`` = (lo, hi) s, play ``lo``..``hi`` over and over
        (starting at ``start_s`` when it lies inside, else at ``lo``) until :meth:`stop`.

        ``speed`` < 1: ``audio`` and ``notes_audio`` are the stretched tracks; ``start_s`` and
        ``loop`` are source seconds all the same."""
        import sounddevice as sd

        self.stop()
        self.stop_audition()
        self._overlay = None
        if output_device_name() is None:
            raise AudioDeviceError("No audio output device was found, so playback is unavailable. "
                                   "Connect headphones or speakers and try again.")
        self.audio = audio
        self.speed = float(speed)
        self.set_mix(notes_audio, gains)
        start_s = start_s / self.speed
        loop_samples = None
        if loop is not None:
            loop = (loop[0] / self.speed, loop[1] / self.speed)
            lo = int(np.clip(loop[0], 0.0, len(audio) / SAMPLE_RATE) * SAMPLE_RATE)
            hi = int(np.clip(loop[1], 0.0, len(audio) / SAMPLE_RATE) * SAMPLE_RATE)
            if hi - lo >= SAMPLE_RATE // 10:  # at least 100 ms, else play straight on
                loop_samples = (lo, hi)
                if not lo <= int(start_s * SAMPLE_RATE) < hi:
                    start_s = lo / SAMPLE_RATE
        self.loop = None if loop_samples is None else (loop_samples[0] / SAMPLE_RATE, loop_samples[1] / SAMPLE_RATE)
        start = int(max(0.0, start_s) * SAMPLE_RATE)
        self._start_sample = start
        state = {"i": start}  # private to the callback

        def callback(outdata, frames, time_info, status):
            src, notes, g_src, g_notes = self._mix
            k = 0
            for a, n in loop_segments(state["i"], frames, loop_samples):
                chunk = render_block(src, notes, g_src, g_notes, a, n)
                outdata[k: k + len(chunk), 0] = chunk
                k += len(chunk)
                state["i"] = a + n
                if len(chunk) < n:
                    break
            outdata[k:, 0] = 0
            overlay = self._overlay
            if overlay is not None:
                if state.get("overlay") != overlay[1]:
                    state["overlay"], state["overlay_at"] = overlay[1], 0
                state["overlay_at"] = mix_clip(outdata[:, 0], overlay[0], state["overlay_at"])
            if k < frames:
                raise sd.CallbackStop()

        try:
            self.stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                          callback=callback)
            self.stream.start()
            self._t0 = self.stream.time + float(self.stream.latency or 0.0)
        except Exception as exc:
            self.stream = None
            raise AudioDeviceError(f"Cannot play audio on the output device: {exc}") from exc

    def audition(self, clip: np.ndarray) -> bool:
        """Play a short clip now: mixed into the running playback, or on a stream of its own
        (replacing an audition still sounding). Returns False where no output device can play
        it (auditions are a convenience: no error is raised)."""
        import sounddevice as sd

        self._serial += 1
        if self.playing:
            self._overlay = (clip, self._serial)
            return True
        self.stop_audition()
        if output_device_name() is None:
            return False
        at = {"i": 0}

        def callback(outdata, frames, time_info, status):
            outdata[:, 0] = 0
            at["i"] = mix_clip(outdata[:, 0], clip, at["i"])
            if at["i"] >= len(clip):
                raise sd.CallbackStop()

        try:
            self.audition_stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                                   callback=callback)
            self.audition_stream.start()
        except Exception:
            self.audition_stream = None
            return False
        return True

    def stop_audition(self) -> None:
        _close(self.audition_stream)
        self.audition_stream = None

    def position(self) -> float:
        """Source seconds being heard now."""
        if self.stream is None:
            return self._start_sample / SAMPLE_RATE * self.speed
        elapsed = max(0.0, self.stream.time - self._t0)
        t = loop_position(self._start_sample / SAMPLE_RATE + elapsed, self.loop)
        return min(t, len(self.audio) / SAMPLE_RATE) * self.speed

    def stop(self) -> float:
        pos = self.position()
        _close(self.stream)
        self.stream = None
        self._start_sample = int(round(pos / self.speed * SAMPLE_RATE))
        self.loop = None
        return pos


def _close(stream) -> None:
    """Stop and close a PortAudio stream now (None: nothing); a failing device is let go."""
    if stream is not None:
        try:
            stream.abort()
            stream.close()
        except Exception:
            pass


def mix_clip(out: np.ndarray, clip: np.ndarray, at: int) -> int:
    """Add ``clip[at:]`` into ``out`` (as much as fits, clipped to ±1); return the new ``at``."""
    n = min(len(out), len(clip) - at)
    if n > 0:
        out[:n] += clip[at: at + n]
        np.clip(out[:n], -1.0, 1.0, out=out[:n])
        return at + n
    return at


def render_block(audio: np.ndarray, notes_audio: np.ndarray | None, g_audio: float, g_notes: float,
                 i: int, frames: int) -> np.ndarray:
    """Samples ``i`` to ``i + frames`` of ``g_audio·audio + g_notes·notes_audio``, clipped to ±1
    (as long as ``audio``; shorter only at its end)."""
    chunk = audio[i: i + frames]
    if notes_audio is None or g_notes <= 0.0:
        return chunk if g_audio == 1.0 else chunk * np.float32(g_audio)
    out = chunk * np.float32(g_audio)
    extra = notes_audio[i: i + len(out)]
    out[: len(extra)] += np.float32(g_notes) * extra
    return np.clip(out, -1.0, 1.0, out=out)
