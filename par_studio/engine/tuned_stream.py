"""Live input from a piano away from A440, heard at A440 (the streaming side of
:mod:`par_studio.tuning`).

Offline, a recording is measured and then resampled whole; live input cannot be measured ahead,
so its tuning is given (the app's Tuning picker set to a value, ``par-studio live --tuning``).
:class:`TunedStream` wraps a :class:`~.streaming.StreamingEngine`: every pushed block goes
through soxr's streaming resampler, which plays it ``ratio`` times slower (so the piano sounds at
A440), and everything that comes out is put back on the input's clock (times × ``time_scale``).
It answers the engine's calls the callers use (push, finish, notes, result, frames_emitted,
samples_pushed, latency_ms), so they need not know. The resampler adds a few milliseconds of
delay. Units: float32 mono 16 kHz blocks, seconds, frames of 32 ms on the input's clock.
"""

from __future__ import annotations

import numpy as np

from ..constants import SAMPLE_RATE
from ..notes import Notes
from ..tuning import Tuning
from .streaming import StreamingEngine, StreamUpdate


def _rescaled(notes: Notes, scale: float) -> Notes:
    return Notes(notes.onset * scale, notes.offset * scale, notes.pitch, notes.velocity) if len(notes) else notes


class TunedStream:
    """``engine`` hearing a piano ``tuning`` away from A440 at A440 (see the module)."""

    def __init__(self, engine: StreamingEngine, tuning: Tuning):
        import soxr

        self.engine, self.tuning = engine, tuning
        self.scale = tuning.time_scale  #: seconds of input per second of the engine's audio
        self._resampler = (soxr.ResampleStream(SAMPLE_RATE, SAMPLE_RATE * tuning.ratio, 1, dtype="float32",
                                               quality="HQ") if tuning.corrects else None)
        self.samples_pushed = 0  #: input samples, on the input's clock

    @property
    def latency_ms(self) -> int:
        return self.engine.latency_ms

    @property
    def frames_emitted(self) -> int:
        """Frames decided so far, counted in 32 ms frames of the input's clock."""
        return int(self.engine.frames_emitted * self.scale + 1e-9)

    def _out(self, upd: StreamUpdate) -> StreamUpdate:
        upd.finished = _rescaled(upd.finished, self.scale)
        upd.sounding = _rescaled(upd.sounding, self.scale)
        return upd

    def push(self, block) -> StreamUpdate:
        x = np.asarray(block, np.float32).reshape(-1)
        self.samples_pushed += len(x)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        return self._out(self.engine.push(x))

    def finish(self) -> StreamUpdate:
        if self._resampler is not None and not self.engine.finished:
            tail = self._out(self.engine.push(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)))
            end = self._out(self.engine.finish())
            end.finished = Notes.concat([tail.finished, end.finished])
            return end
        return self._out(self.engine.finish())

    def notes(self, include_open: bool = True) -> Notes:
        return _rescaled(self.engine.notes(include_open), self.scale)

    def result(self):
        """The engine's :class:`~.offline.Transcription`, with this tuning: its frames are the
        engine's (``frame_seconds`` = 32 ms × ``time_scale``), its notes on the input's clock."""
        tr = self.engine.result()
        tr.tuning = self.tuning
        tr.notes = _rescaled(tr.notes, self.scale)
        tr.duration = self.samples_pushed / SAMPLE_RATE
        return tr
