"""Display spectrogram (no Qt): the engine's log-mel front end mapped to uint8 for an ImageItem.

Offline: :func:`display_spectrogram` over a whole signal, in chunks (bounded memory; a one-hour
file gives a 229 × 112 500 uint8 image, 26 MB). Live: :class:`SpectrogramStream` turns pushed
sample blocks into new columns as soon as each window is complete (so the display runs ahead of
the notes by the model's look-ahead, which is exactly what the user hears).

Behind the notes of the roll, :func:`pitch_spectrogram` draws a constant-Q spectrogram with one
row per piano key (MIDI 21..108) on the same 32 ms frame grid, so a note bar sits exactly on the
energy of its pitch and a missed or wrong note shows at a glance. Its rows can follow the piano's
tuning (``tuning_cents``): a piano 35 cents sharp then has each key's energy in that key's row
instead of split between two rows, as the transcription hears it once brought to A440.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..constants import HOP_LENGTH, MEL_FMAX, MEL_FMIN, N_FFT, WINDOW_HALF

DEFAULT_N_MELS = 229  # = features.DEFAULT_N_MELS; torch/librosa are imported lazily (fast start)

#: ln(mel power) mapped to 0 and 255 (fixed levels: the same scale for every file and live).
LN_LOW, LN_HIGH = -6.5, 8.0
CHUNK_FRAMES = 4096

_frontends: dict = {}


def frontend(n_mels: int = DEFAULT_N_MELS):
    from ..features import LogMel

    if n_mels not in _frontends:
        _frontends[n_mels] = LogMel(n_mels)
    return _frontends[n_mels]


def to_uint8(logmel) -> np.ndarray:
    """LogMel output ((ln + 7) / 7), shape (n_mels, k) → uint8 (n_mels, k), C-contiguous."""
    ln = logmel.numpy() * 7.0 - 7.0
    x = (ln - LN_LOW) * (255.0 / (LN_HIGH - LN_LOW))
    return np.ascontiguousarray(np.clip(x, 0, 255).astype(np.uint8))


def display_spectrogram(audio: np.ndarray, n_mels: int = DEFAULT_N_MELS,
                        should_cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """(n,) float32 16 kHz → uint8 (n_mels, n_frames(n)); frame t centred at t × 32 ms."""
    import torch

    from ..features import n_frames

    with torch.inference_mode():
        return _display_spectrogram(audio, n_mels, should_cancel)


def _display_spectrogram(audio, n_mels, should_cancel):
    import torch

    from ..features import n_frames

    fe = frontend(n_mels)
    x = torch.as_tensor(np.ascontiguousarray(audio, np.float32)).reshape(1, -1)
    T = n_frames(x.shape[-1])
    out = np.empty((n_mels, T), np.uint8)
    for a in range(0, T, CHUNK_FRAMES):
        if should_cancel is not None and should_cancel():
            break
        b = min(T, a + CHUNK_FRAMES)
        out[:, a:b] = to_uint8(fe.from_audio(x, a, b - a)[0])
    return out


#: Pitch spectrogram: dB below the file's loudest key-frame mapped to 0..255 over this range.
PITCH_DB_RANGE = 60.0
PITCH_CHUNK_FRAMES = 2048  #: frames per CQT call (bounded memory on long files)
PITCH_CONTEXT_FRAMES = 64  #: frames of audio either side of a chunk (2 s > the longest filter)


def _cqt_magnitude(seg: np.ndarray, tuning_cents: float = 0.0) -> np.ndarray:
    """|CQT| (88, frames) of 16 kHz samples: one bin per key from A0, hop 512, centred frames;
    every bin ``tuning_cents`` (1/100 semitone) above the key's A440 frequency (librosa's
    ``tuning`` is in fractions of a bin, here a semitone: cents / 100).
    librosa warns that its top octaves' FFT is longer than a short segment; harmless here."""
    import warnings

    import librosa

    from ..constants import SAMPLE_RATE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return np.abs(librosa.cqt(seg, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, fmin=27.5, n_bins=88,
                                  bins_per_octave=12, tuning=float(tuning_cents) / 100.0))


def pitch_spectrogram(audio: np.ndarray, should_cancel: Callable[[], bool] | None = None,
                      chunk_frames: int = PITCH_CHUNK_FRAMES, tuning_cents: float = 0.0) -> np.ndarray:
    """(n,) float32 16 kHz → uint8 (88, n_frames(n)): constant-Q magnitude (librosa.cqt, one
    bin per semitone from A0 = 27.5 Hz), row k = MIDI pitch 21 + k, column t centred at t × 32 ms;
    255 = the loudest bin of the file, 0 = 60 dB below it or less. Computed in chunks with 2 s
    of audio context either side, which matches one pass to 1e-6 of the peak.

    ``tuning_cents``: the piano's tuning in cents (1/100 semitone) from A440, as
    :class:`par_studio.tuning.Tuning` gives it (+35: A4 = 449.0 Hz). Every row is centred that
    far above its key's A440 frequency (row k at 27.5 Hz × 2^((k + cents/100) / 12); passed to
    librosa.cqt as ``tuning = cents / 100``, fractions of a one-semitone bin), so each key's
    energy lies in its own row on a piano that is not at A440. 0: the A440 rows."""
    from ..features import n_frames

    y = np.ascontiguousarray(audio, np.float32).reshape(-1)
    T = n_frames(len(y))
    mag = np.zeros((88, T), np.float32)
    ctx = PITCH_CONTEXT_FRAMES
    for a in range(0, T, chunk_frames):
        if should_cancel is not None and should_cancel():
            break
        b = min(T, a + chunk_frames)
        lo = max(0, a - ctx)
        seg = y[lo * HOP_LENGTH: min(len(y), (b + ctx) * HOP_LENGTH)]
        want = (b + ctx - lo) * HOP_LENGTH  # zeros past the end, as the front end assumes
        if len(seg) < want:
            seg = np.concatenate([seg, np.zeros(want - len(seg), np.float32)])
        mag[:, a:b] = _cqt_magnitude(seg, tuning_cents)[:, a - lo: a - lo + (b - a)]
    peak = float(mag.max()) if mag.size else 0.0
    if peak <= 0.0:
        return np.zeros((88, T), np.uint8)
    return _cqt_uint8(mag, peak)


def _cqt_uint8(mag: np.ndarray, peak: float) -> np.ndarray:
    db = 20.0 * np.log10(np.maximum(mag, peak * 1e-6) / peak)
    return np.ascontiguousarray(np.clip((db + PITCH_DB_RANGE) * (255.0 / PITCH_DB_RANGE), 0, 255).astype(np.uint8))


class PitchSpectrogramStream:
    """Live pitch-spectrogram columns (as :func:`pitch_spectrogram`, one row per key).

    Push samples; column t comes out once ``lag`` frames of audio after its centre have been
    heard (320 ms, the longest look-ahead, so the energy appears with the notes' decisions; it
    also covers half of the longest filter, A0's 0.62 s). Columns are computed every ``step``
    frames over ``left`` frames of earlier context, to bound the cost per second of audio
    (one CQT call over 1.3 s of audio every 320 ms: about 7 % of a core of this 2-core machine
    while it trained). Live there is no file-wide peak: 255 is the
    loudest column so far, but never less than :data:`LIVE_FLOOR` (an A4 sine at −26 dBFS), so
    room noise before the first note stays dark."""

    LIVE_FLOOR = 0.63  #: CQT magnitude of a 0.05-amplitude 440 Hz sine (measured with librosa 0.11)

    def __init__(self, lag: int = 10, left: int = 16, step: int = 10, tuning_cents: float = 0.0):
        self.lag, self.left, self.step = lag, left, step
        self.tuning_cents = float(tuning_cents)  #: rows follow a piano this far from A440
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0  #: absolute sample index of buf[0]
        self.next_frame = 0
        self.peak = self.LIVE_FLOOR

    def push(self, x: np.ndarray, final: bool = False) -> tuple[int, np.ndarray]:
        """→ (index of the first new column, uint8 (88, k)); ``final``: the input has ended,
        emit every remaining column (zeros after the end, as offline)."""
        self.buf = np.concatenate([self.buf, np.asarray(x, np.float32).reshape(-1)])
        total = self.buf_start + len(self.buf)
        if final:
            from ..features import n_frames

            ready = n_frames(total)
            self.buf = np.concatenate([self.buf, np.zeros(self.lag * HOP_LENGTH, np.float32)])
        else:
            ready = max(0, (total - self.lag * HOP_LENGTH) // HOP_LENGTH + 1)
        a, b = self.next_frame, ready
        if b - a < (1 if final else self.step):
            return a, np.zeros((88, 0), np.uint8)
        lo = max(0, a - self.left)
        start = lo * HOP_LENGTH - self.buf_start
        seg = self.buf[start: (b - 1 + self.lag) * HOP_LENGTH - self.buf_start + 1]
        mag = _cqt_magnitude(seg, self.tuning_cents)[:, a - lo: b - lo]
        self.peak = max(self.peak, float(mag.max()) if mag.size else 0.0)
        self.next_frame = b
        drop = (b - self.left) * HOP_LENGTH - self.buf_start
        if drop > 0:
            self.buf = self.buf[drop:]
            self.buf_start += drop
        return a, _cqt_uint8(mag, self.peak)


def mel_frequencies(n_mels: int = DEFAULT_N_MELS) -> np.ndarray:
    """Centre frequency (Hz) of each mel bin (Slaney scale, as librosa's filterbank)."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f):
        return f / f_sp if f < min_log_hz else min_log_mel + np.log(f / min_log_hz) / logstep

    mels = np.linspace(hz_to_mel(MEL_FMIN), hz_to_mel(MEL_FMAX), n_mels + 2)
    hz = np.where(mels < min_log_mel, mels * f_sp, min_log_hz * np.exp(logstep * (mels - min_log_mel)))
    return hz[1:-1]


class SpectrogramStream:
    """Incremental display columns: push samples, get the uint8 columns whose window is complete."""

    def __init__(self, n_mels: int = DEFAULT_N_MELS):
        self.n_mels = n_mels
        self.fe = frontend(n_mels)
        self.buf = np.zeros(WINDOW_HALF, np.float32)  # start padding
        self.buf_start = -WINDOW_HALF  # absolute sample index of buf[0]
        self.next_frame = 0

    def push(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        """→ (index of the first new column, uint8 (n_mels, k))."""
        import torch

        with torch.inference_mode():
            return self._push(x, torch)

    def _push(self, x, torch):
        self.buf = np.concatenate([self.buf, np.asarray(x, np.float32).reshape(-1)])
        end = self.buf_start + len(self.buf)
        ready = 0 if end < WINDOW_HALF else (end - WINDOW_HALF) // HOP_LENGTH + 1
        k = ready - self.next_frame
        t0 = self.next_frame
        if k <= 0:
            return t0, np.zeros((self.n_mels, 0), np.uint8)
        start = t0 * HOP_LENGTH - WINDOW_HALF - self.buf_start
        seg = self.buf[start: start + (k - 1) * HOP_LENGTH + N_FFT]
        frames = np.lib.stride_tricks.sliding_window_view(seg, N_FFT)[::HOP_LENGTH]
        cols = to_uint8(self.fe(torch.from_numpy(np.array(frames, np.float32))[None])[0])
        self.next_frame = ready
        drop = self.next_frame * HOP_LENGTH - WINDOW_HALF - self.buf_start
        if drop > 0:
            self.buf = self.buf[drop:]
            self.buf_start += drop
        return t0, cols
