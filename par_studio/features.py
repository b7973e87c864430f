"""The log-mel front end, shared by offline, chunked and streaming paths.

Frame ``t`` is centred on sample ``t * HOP_LENGTH`` of the input; samples outside the signal
are zeros (constant padding, never reflection), so a frame depends only on the samples in
``[t*HOP - N_FFT/2, t*HOP + N_FFT/2)`` and chunked or streaming computation reproduces a
single pass exactly. ``n_frames(n_samples) = n_samples // HOP_LENGTH + 1``.

Output: ``(ln(max(mel_power, 1e-9)) + 7) / 7`` of shape (..., n_mels, n_frames), float32.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .constants import HOP_LENGTH, MEL_FMAX, MEL_FMIN, N_FFT, SAMPLE_RATE, WINDOW_HALF

DEFAULT_N_MELS = 229


def n_frames(n_samples: int) -> int:
    """Number of frames a signal of ``n_samples`` samples yields."""
    return n_samples // HOP_LENGTH + 1


#: The 229-bin filterbank as librosa computes it, shipped so that loading a model does not
#: import librosa (with numba and scipy: ~2 s and ~200 MB before the first frame). Rebuilt by
#: ``python -m par_studio.features``; tests/test_features.py checks it equals librosa's.
SHIPPED_FILTERBANK = Path(__file__).with_name("mel_filterbank.npz")


def librosa_filterbank(n_mels: int) -> np.ndarray:
    """Slaney-style mel filterbank from librosa, shape (n_mels, N_FFT // 2 + 1), float32."""
    import librosa

    fb = librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels, fmin=MEL_FMIN, fmax=MEL_FMAX
    )
    return fb.astype(np.float32)


@functools.lru_cache(maxsize=8)
def mel_filterbank(n_mels: int) -> np.ndarray:
    """Slaney-style mel filterbank, shape (n_mels, N_FFT // 2 + 1), float32: the shipped copy
    for the grid it was made for, else librosa's."""
    try:
        with np.load(SHIPPED_FILTERBANK) as z:
            if f"n{n_mels}" in z and tuple(z["params"]) == (SAMPLE_RATE, N_FFT, MEL_FMIN, MEL_FMAX):
                return z[f"n{n_mels}"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        pass
    return librosa_filterbank(n_mels)


class LogMel(nn.Module):
    """Log-mel spectrogram of 16 kHz mono audio.

    ``forward(frames)`` takes already framed audio (B, T, N_FFT) and returns (B, n_mels, T);
    :meth:`from_audio` frames a waveform first. Keeping framing apart lets the streaming
    engine feed exactly the windows it has.
    """

    def __init__(self, n_mels: int = DEFAULT_N_MELS):
        super().__init__()
        self.n_mels = n_mels
        # computed on the CPU even inside a ``torch.device("meta")`` block (a model built only
        # to count its parameters): a meta hann_window goes through torch's decompositions,
        # which import sympy and cost seconds
        with torch.device("cpu"):
            window = torch.hann_window(N_FFT, periodic=True)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(n_mels)), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, N_FFT) float32 → log-mel (B, n_mels, T)."""
        spec = torch.fft.rfft(frames * self.window, dim=-1)
        power = spec.real.square() + spec.imag.square()  # (B, T, N_FFT/2+1)
        mel = torch.matmul(power, self.fb.T)  # (B, T, n_mels)
        out = (torch.log(torch.clamp(mel, min=1e-9)) + 7.0) / 7.0
        return out.transpose(1, 2).contiguous()

    def from_audio(self, audio: torch.Tensor, first_frame: int = 0, count: int | None = None) -> torch.Tensor:
        """Log-mel of frames ``first_frame .. first_frame+count-1`` of a whole signal.

        audio (B, n_samples) float32 → (B, n_mels, count). ``count`` defaults to every frame
        from ``first_frame`` to the end. Only the samples those frames need are framed.
        """
        n = audio.shape[-1]
        total = n_frames(n)
        if count is None:
            count = total - first_frame
        start = first_frame * HOP_LENGTH - WINDOW_HALF
        stop = (first_frame + count - 1) * HOP_LENGTH + WINDOW_HALF
        left = max(0, -start)
        right = max(0, stop - n)
        seg = audio[..., max(0, start): min(n, stop)]
        if left or right:
            seg = torch.nn.functional.pad(seg, (left, right))
        frames = seg.unfold(-1, N_FFT, HOP_LENGTH)  # (B, count, N_FFT)
        return self.forward(frames)


if __name__ == "__main__":  # rebuild the shipped filterbank
    np.savez_compressed(SHIPPED_FILTERBANK, n229=librosa_filterbank(DEFAULT_N_MELS),
                        params=np.array([SAMPLE_RATE, N_FFT, MEL_FMIN, MEL_FMAX]))
