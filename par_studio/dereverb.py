"""Room reverberation: the late reverb of a hall taken out before the model hears the audio.

In a reverberant room a piano's notes ring on after the key is released, and the models (trained
mostly on dry to mid-sized rooms) hold the notes until the reverb has died away: on the held-out
Steinway in a hall (RT60 2 s) PARcompact's note ends were 0.12 s late in the median and short
notes came out 2.5 times too long. WPE (weighted prediction error; Nakatani et al., IEEE TASLP
2010; Yoshioka & Nakatani 2012) predicts each STFT frame's late reverberation from the frames
``DELAY`` and more before it and subtracts it, keeping the direct sound and early reflections.
It is blind (no room measurement) and barely changes a dry recording. The implementation is
nara_wpe's (Drude et al., 2018, MIT licence); this module only cuts long recordings into
overlapping blocks, so memory stays bounded, and cross-fades them.

Units: (n,) float32 mono audio at 16 kHz in, the same length out.
Pure numpy/nara_wpe: no torch, no Qt.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .constants import SAMPLE_RATE

N_FFT = 2048  #: 128 ms windows: the reverb tail is predicted per 7.8 Hz band
HOP = 512  #: 32 ms, the model's frame
TAPS = 40  #: the prediction reaches 40 frames (1.3 s) back: most of a hall's tail
DELAY = 2  #: frames (64 ms) left alone: direct sound and early reflections are kept
ITERATIONS = 1  #: WPE's re-weighting passes: three gave +0.02 note F1 in the hall at three times the cost
#: audio dereverberated per block, each with its own filter. Longer blocks estimate it from more
#: audio: on the corpus-v2 validation set (PARcompact 320 ms, note+offset F1 0.406 without)
#: 30 s blocks gave 0.414, 15 s blocks 0.379; the price is memory, about 600 MiB at 30 s
#: (the STFT stacked TAPS times), 300 MiB at 15 s
BLOCK_SECONDS = 30.0
OVERLAP_SECONDS = 1.0  #: blocks overlap this much and are cross-faded
#: history given to a block before its first kept sample, so its first frames have a tail to
#: predict from: (TAPS + DELAY) frames and one window
CONTEXT_SAMPLES = (TAPS + DELAY) * HOP + N_FFT


def _wpe(y: np.ndarray) -> np.ndarray:
    """One segment (m,) → (m,) dereverberated (STFT, WPE per frequency, inverse STFT)."""
    import librosa
    from nara_wpe.wpe import wpe

    spec = librosa.stft(y, n_fft=N_FFT, hop_length=HOP)  # (F, T) complex
    if spec.shape[1] <= TAPS + DELAY:
        return y
    out = wpe(spec[:, None, :], taps=TAPS, delay=DELAY, iterations=ITERATIONS,
              statistics_mode="full")[:, 0, :]
    return librosa.istft(out, hop_length=HOP, length=len(y)).astype(np.float32)


def reduce_reverb(audio: np.ndarray, progress: Callable[[float], None] | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """(n,) float32 16 kHz audio → (n,) float32 with the late reverberation removed.

    Blocks of BLOCK_SECONDS (each also reading CONTEXT_SAMPLES before it) are dereverberated on
    their own and cross-faded over OVERLAP_SECONDS, so a long recording needs memory for one
    block only. ``progress(fraction)`` after each block; ``should_cancel()`` is polled between
    blocks and, when True, the function returns None. Cost: about 4–8 s per minute of audio
    on one core (``benchmarks/bench_dereverb.py``)."""
    y = np.asarray(audio, np.float32)
    n = len(y)
    block, overlap = int(BLOCK_SECONDS * SAMPLE_RATE), int(OVERLAP_SECONDS * SAMPLE_RATE)
    if n == 0 or not np.isfinite(y).all():
        return y
    out = np.zeros(n, np.float32)
    starts = list(range(0, max(1, n - overlap), block))
    fade_in = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
    for i, a in enumerate(starts):
        if should_cancel is not None and should_cancel():
            return None
        b = n if i == len(starts) - 1 else min(n, a + block + overlap)
        lo = max(0, a - CONTEXT_SAMPLES)
        seg = _wpe(y[lo:b])[a - lo:]
        if i > 0:  # cross-fade the first `overlap` samples against the previous block's tail
            k = min(overlap, len(seg))
            seg[:k] *= fade_in[:k]
            out[a:a + k] *= 1.0 - fade_in[:k]
        out[a:b] += seg
        if progress is not None:
            progress((i + 1) / len(starts))
    return out
