"""Slowed-down listening: time-stretch audio without changing its pitch.

Transcribers slow a fast passage down to hear which notes are played; the pitch must stay
where it is so it can be compared with the roll. :func:`time_stretch` is a phase vocoder (the
algorithm of ``librosa.effects.time_stretch``: magnitudes interpolated between analysis
frames, phases advanced by each bin's measured frequency) run as a stream: the analysis
frames of one stretch of output at a time, one phase accumulator carried across, overlap-add
into the output. So a long recording needs neither a whole STFT in memory nor one
uninterruptible call, and there is no seam between pieces.

Time maps linearly: a sample at ``t`` seconds of the source lies at ``t / speed`` seconds of
the stretched audio (speed 0.5: twice as long).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..constants import SAMPLE_RATE

#: the speeds the app offers, as fractions of the original tempo
SPEEDS = (1.0, 0.75, 0.5)
MIN_SPEED = 0.25
N_FFT = 2048  #: 128 ms at 16 kHz: enough frequency resolution for piano partials
HOP = N_FFT // 4  #: synthesis hop (75 % overlap: Hann² sums to a constant 1.5)
CHUNK_SECONDS = 30.0  #: output seconds computed per piece (bounded memory, cancel points)


class StretchCancelled(Exception):
    """``should_cancel`` returned True."""


def stretched_length(n_samples: int, speed: float) -> int:
    """Length in samples of ``n_samples`` source samples played at ``speed``."""
    return int(round(n_samples / float(speed)))


def time_stretch(audio: np.ndarray, speed: float, sr: int = SAMPLE_RATE,
                 should_cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """``audio`` (n,) float32 played at ``speed`` (0.25..1) with its pitch kept.

    Returns (``stretched_length(n, speed)``,) float32 with its peak at most 1; ``speed == 1``
    returns ``audio`` itself. Raises :class:`StretchCancelled` when ``should_cancel()`` turns
    True between pieces of :data:`CHUNK_SECONDS`, ``ValueError`` for a speed out of range.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    speed = float(speed)
    if not MIN_SPEED <= speed <= 1.0:
        raise ValueError(f"speed must be between {MIN_SPEED} and 1, got {speed}")
    if speed == 1.0:
        return x  # a view of ``audio`` where it is float32 already
    n_out = stretched_length(len(x), speed)
    if len(x) == 0:
        return np.zeros(0, np.float32)
    pad = N_FFT // 2
    # centred frames as in librosa.stft (zero padding); two extra frames of zeros at the end so
    # every output step has the analysis frame after it
    xp = np.pad(x, (pad, pad + 2 * HOP + N_FFT))
    frames = np.lib.stride_tricks.sliding_window_view(xp, N_FFT)[::HOP]  # a view, (F, N_FFT)
    n_frames = 1 + len(x) // HOP
    steps = np.arange(0, n_frames, speed)  # (T,) analysis position of each output frame
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    expected = 2 * np.pi * HOP * np.arange(N_FFT // 2 + 1) / N_FFT  # phase advance per hop (rad)
    out = np.zeros((len(steps) + 4) * HOP, np.float32)
    blocks = out.reshape(-1, HOP)
    phase = None
    per = max(4, int(CHUNK_SECONDS * sr / HOP))
    for s0 in range(0, len(steps), per):
        if should_cancel is not None and should_cancel():
            raise StretchCancelled()
        st = steps[s0: s0 + per]
        i = st.astype(np.int64)
        alpha = (st - i)[:, None]
        j0 = int(i[0])
        spec = np.fft.rfft(frames[j0: int(i[-1]) + 2] * win, axis=1)  # (nf, bins) complex
        a, b = spec[i - j0], spec[i - j0 + 1]
        mag = (1.0 - alpha) * np.abs(a) + alpha * np.abs(b)
        dphase = np.angle(b) - np.angle(a) - expected
        dphase -= 2 * np.pi * np.round(dphase / (2 * np.pi))
        advance = expected + dphase  # (T, bins)
        if phase is None:
            phase = np.angle(spec[0])
        acc = np.cumsum(advance, axis=0)
        ph = phase + np.concatenate([np.zeros((1, acc.shape[1])), acc[:-1]], axis=0)
        phase = np.mod(phase + acc[-1], 2 * np.pi)
        y = np.fft.irfft(mag * np.exp(1j * ph), n=N_FFT, axis=1).astype(np.float32) * win
        y = y.reshape(len(st), 4, HOP)
        for q in range(4):  # overlap-add: output frame t covers blocks t..t+3
            blocks[s0 + q: s0 + q + len(st)] += y[:, q]
    out /= np.float32(1.5)  # sum of the squared Hann windows at 75 % overlap
    y = out[pad: pad + n_out]
    if len(y) < n_out:
        y = np.pad(y, (0, n_out - len(y)))
    peak = float(np.max(np.abs(y))) if n_out else 0.0
    if peak > 1.0:
        y /= np.float32(peak)
    return np.ascontiguousarray(y)
