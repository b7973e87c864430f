"""A live take's velocities refined when it stops, as an offline transcription refines them.

The velocity refiner (:mod:`par_studio.velocity`) compares every note with the rest of the
recording, so live input cannot use it while it plays: the notes are drawn (and sent, printed)
with the decoder's velocities as they are found. When the take stops, :func:`refine_take` makes
the very call the offline engine makes (``refiner.refine_frames(states, velocity, heard)``,
see ``offline._decode_chunks``) on the streaming result's frames and the take's audio as the
model heard it; the streaming frames being the offline ones, the take ends with the velocities a
transcription of the same audio gives.

Audio. The caller keeps the take's input, float32 mono 16 kHz on the input's clock: the app
already keeps it for the take's playback and saving (``live["blocks"]``); ``par-studio live -o``
keeps it in a :class:`TakeAudio` (64 KB per second, 230 MB per hour, up to
:data:`MAX_TAKE_SECONDS`). Float32 rather than int16 (half the memory) or the recording written
to disk (24-bit at the device's rate in the app, 16-bit with ``--record``), so that the refiner
reads the very samples the model heard and the result is exactly the offline one (int16 changed
none of the 195 refined velocities of the bundled example, but is not exact). A piano tuned away from
A440 was heard resampled to A440 by :class:`~.tuned_stream.TunedStream`; :func:`heard_at_a440`
resamples the kept input again with the same streaming resampler, in pieces (bit-identical to
the stream's and to :meth:`~par_studio.tuning.Tuning.to_a440`, which offline uses), so that a
cancel is not kept waiting.

No Qt; the app runs :func:`refine_take` in its live worker's thread.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np

from ..constants import SAMPLE_RATE
from ..features import n_frames
from ..tuning import Tuning
from ..velocity import load_refiner
from .offline import Cancelled, Transcription

log = logging.getLogger(__name__)

#: longest take whose audio :class:`TakeAudio` keeps by default: 2 hours (460 MB of float32);
#: a longer take keeps the decoder's velocities
MAX_TAKE_SECONDS = 2 * 3600.0
_CHUNK = 1 << 20  #: samples (65.5 s) per stored chunk of a TakeAudio
_RESAMPLE_PIECE = 1 << 20  #: samples resampled between two polls of ``tick``


class TakeAudio:
    """The input of a live take, kept as it arrives: float32 mono 16 kHz blocks copied into
    fixed chunks of ``_CHUNK`` samples (no quadratic copying, no per-block arrays kept). Past
    ``max_seconds`` it lets go of everything (:attr:`overflowed`; :meth:`array` is then None),
    so an endless session does not grow without bound."""

    def __init__(self, max_seconds: float = MAX_TAKE_SECONDS):
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self._chunks: list[np.ndarray] = []
        self._fill = _CHUNK
        self.n = 0  #: samples appended (counted on after an overflow too)
        self.overflowed = False

    def append(self, block) -> None:
        x = np.asarray(block, np.float32).reshape(-1)
        self.n += len(x)
        if self.overflowed:
            return
        if self.n > self.max_samples:
            self.overflowed, self._chunks = True, []
            return
        i = 0
        while i < len(x):
            if self._fill == _CHUNK:
                self._chunks.append(np.empty(_CHUNK, np.float32))
                self._fill = 0
            k = min(len(x) - i, _CHUNK - self._fill)
            self._chunks[-1][self._fill:self._fill + k] = x[i:i + k]
            self._fill += k
            i += k

    def array(self) -> np.ndarray | None:
        """(n,) float32 everything appended, or None after an overflow."""
        if self.overflowed:
            return None
        if not self._chunks:
            return np.zeros(0, np.float32)
        return np.concatenate(self._chunks[:-1] + [self._chunks[-1][:self._fill]])


def refiner_available() -> bool:
    """Whether the velocity refiner is installed (:func:`refine_take` can refine)."""
    return load_refiner() is not None


def heard_at_a440(audio: np.ndarray, tuning: Tuning, tick: Callable[[], None] | None = None) -> np.ndarray:
    """(n,) float32 input of a piano at ``tuning`` → the (≈ n·ratio,) float32 audio the model
    heard at A440 (``audio`` itself when the tuning is not corrected): soxr's streaming
    resampler over pieces of ``_RESAMPLE_PIECE`` samples, ``tick()`` after each (it may raise)."""
    audio = np.asarray(audio, np.float32)
    if not tuning.corrects or len(audio) == 0:
        return audio
    import soxr

    rs = soxr.ResampleStream(SAMPLE_RATE, SAMPLE_RATE * tuning.ratio, 1, dtype="float32", quality="HQ")
    parts = []
    for a in range(0, len(audio), _RESAMPLE_PIECE):
        parts.append(rs.resample_chunk(audio[a:a + _RESAMPLE_PIECE]))
        if tick is not None:
            tick()
    parts.append(rs.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.concatenate(parts).astype(np.float32, copy=False)


def refine_take(tr: Transcription | None, audio: np.ndarray | None,
                should_cancel: Callable[[], bool] | None = None) -> Transcription | None:
    """The streaming result ``tr`` (states (T, 88) uint8, velocity (T, 88) float32
    velocity/128, at ``tr.tuning``) with its onset velocities refined from ``audio`` ((n,)
    float32 mono 16 kHz, the take's input on its own clock) and its notes decoded again from
    them; ``velocity_refined`` is then True. ``tr`` itself (the decoder's velocities) when there
    is no audio, the refiner is not installed, the audio does not span the frames, or the
    refiner fails (logged, no traceback). ``should_cancel()`` is polled while it works (every
    65 s of audio resampled, every 512 notes refined) and raises :class:`~.offline.Cancelled`."""
    if tr is None or audio is None or len(audio) == 0 or tr.n_frames == 0 or tr.velocity_refined:
        return tr
    refiner = load_refiner()
    if refiner is None:
        log.info("no velocity refiner installed: the live take keeps the decoder's velocities")
        return tr

    def tick() -> None:
        if should_cancel is not None and should_cancel():
            raise Cancelled()

    try:
        heard = heard_at_a440(audio, tr.tuning, tick)
        if n_frames(len(heard)) != tr.n_frames:
            log.warning("the live take's audio (%d samples) does not span its %d frames: the decoder's "
                        "velocities are kept", len(audio), tr.n_frames)
            return tr
        velocity = refiner.refine_frames(tr.states, tr.velocity, heard, tick=tick)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the take keeps its notes whatever the refiner does
        log.warning("refining the live take's velocities failed (%s: %s): the decoder's velocities are kept",
                    type(exc).__name__, exc)
        return tr
    out = dataclasses.replace(tr, velocity=velocity, velocity_refined=True, info=dict(tr.info))
    out.notes = out.redecode()
    return out
