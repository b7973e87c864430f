"""Piano tuning: how far a recording's piano is from A440, and the same audio heard at A440.

Few pianos sit at A = 440 Hz: orchestras tune to 442–443, old uprights sag 20–50 cents flat,
and a piano that is 35 cents off puts every partial a third of a semitone between two keys,
where the models (trained mostly near A440) lose a quarter of the notes. So the recording's
tuning is measured (:func:`estimate_tuning`: librosa's peak-picking estimate over the
spectrogram's partials — librosa.estimate_tuning's method, written out with torch's STFT to
spare librosa's slow import — in 1-cent steps within ±50 cents, i.e. relative to the nearest
semitone grid) and the audio is played ``r = 2 ** (cents / 1200)`` times slower
(:meth:`Tuning.to_a440`: soxr resampling), which lowers every frequency by ``r`` and makes the
piano sound at A440. The model then sees a signal ``r`` times longer: a time ``t'`` in it is
``t' / r`` seconds into the recording (:attr:`Tuning.time_scale`), which is how the notes and
frame arrays are put back on the recording's clock (see ``engine.offline.Transcription``).

Measured on the held-out renders of ASAP test pieces (``benchmarks/bench_tuning.py``):
the estimate is within 5 cents of the true offset, and PARcompact 320 ms note F1 on the Splendid
grand tuned 35 cents sharp goes from 0.64 to 0.84 (its in-tune figure).

numpy, torch (STFT) and soxr; no Qt. Units: cents (1/100 semitone), Hz, seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .constants import SAMPLE_RATE

#: a tuning further than this from A440 is the next semitone's: a piano 60 cents flat sounds
#: like one 40 cents sharp a semitone lower, and is transcribed as what it sounds
MAX_CENTS = 50.0
#: corrections smaller than this are not applied (the models were trained on pianos a few
#: cents either side of A440, and the estimate's own spread is about a cent)
MIN_CORRECTION_CENTS = 2.0
#: the estimate reads at most this much audio, as evenly spread excerpts of EXCERPT_SECONDS
MAX_ANALYSIS_SECONDS = 240.0
EXCERPT_SECONDS = 10.0
N_FFT = 4096  #: 3.9 Hz bins at 16 kHz: the partials of the lowest octaves are resolved
HOP = 1024


@dataclass(frozen=True)
class Tuning:
    """A piano's tuning: ``cents`` from A440 (−50..+50), and where it came from
    (``source``: "measured" from the recording, "set" by the user, or "off")."""

    cents: float = 0.0
    source: str = "off"

    def __post_init__(self):
        c = float(self.cents)
        if not math.isfinite(c) or abs(c) > MAX_CENTS:
            raise ValueError(f"a tuning must be within ±{MAX_CENTS:.0f} cents of A440, got {self.cents}")
        object.__setattr__(self, "cents", c)

    @property
    def ratio(self) -> float:
        """Frequency ratio of this piano to one at A440 (> 1: sharp)."""
        return 2.0 ** (self.cents / 1200.0)

    @property
    def a4_hz(self) -> float:
        return 440.0 * self.ratio

    @property
    def corrects(self) -> bool:
        """Whether :meth:`to_a440` changes the audio."""
        return abs(self.cents) >= MIN_CORRECTION_CENTS

    @property
    def applied_cents(self) -> float:
        """The cents the audio is actually moved by: :attr:`cents` when :attr:`corrects`, else 0
        (what a pitch display of the corrected audio follows)."""
        return self.cents if self.corrects else 0.0

    @property
    def time_scale(self) -> float:
        """Seconds of the recording per second of the corrected audio (1 when not corrected)."""
        return 1.0 / self.ratio if self.corrects else 1.0

    def to_a440(self, audio: np.ndarray) -> np.ndarray:
        """(n,) float32 16 kHz audio of this piano → (≈ n·ratio,) float32, the same music with
        every frequency divided by ``ratio`` (so its A4 is 440 Hz), ``ratio`` times longer.
        The audio itself when :attr:`corrects` is False."""
        audio = np.asarray(audio, np.float32)
        if not self.corrects or len(audio) == 0:
            return audio
        import soxr

        return soxr.resample(audio, SAMPLE_RATE, SAMPLE_RATE * self.ratio, quality="HQ").astype(np.float32)

    def describe(self) -> str:
        """For people: "A4 = 449.0 Hz (+35 cents, measured; corrected)"."""
        if self.source == "off":
            return "A4 = 440 Hz (tuning correction off)"
        what = "corrected" if self.corrects else "close enough to A440, not corrected"
        return f"A4 = {self.a4_hz:.1f} Hz ({self.cents:+.0f} cents, {self.source}; {what})"


def _excerpts(audio: np.ndarray) -> np.ndarray:
    """At most MAX_ANALYSIS_SECONDS of ``audio``: all of it, or evenly spread excerpts."""
    n_max = int(MAX_ANALYSIS_SECONDS * SAMPLE_RATE)
    if len(audio) <= n_max:
        return audio
    n_ex = int(EXCERPT_SECONDS * SAMPLE_RATE)
    k = n_max // n_ex
    starts = np.linspace(0, len(audio) - n_ex, k).astype(int)
    return np.concatenate([audio[s:s + n_ex] for s in starts])


#: librosa.piptrack's defaults, which librosa.estimate_tuning uses
PEAK_FMIN, PEAK_FMAX, PEAK_THRESHOLD = 150.0, 4000.0, 0.1
RESOLUTION = 0.01  #: of a semitone: the estimate is in whole cents


def _magnitude(y: np.ndarray) -> np.ndarray:
    """|STFT| (1 + N_FFT/2, frames) of 16 kHz ``y``: periodic Hann window, centred frames with
    zero padding (librosa.stft's defaults), by torch (already loaded for the model)."""
    import torch

    x = torch.as_tensor(np.ascontiguousarray(y, np.float32))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, pad_mode="constant",
                      return_complex=True)
    return spec.abs().numpy()


def _peaks(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spectral peaks of a magnitude spectrogram (bins, frames): their frequencies (Hz) and
    magnitudes, as librosa.piptrack finds them (local maxima above 0.1 of the frame's maximum
    within 150–4000 Hz, refined by parabolic interpolation)."""
    freqs = np.arange(S.shape[0]) * SAMPLE_RATE / N_FFT
    curve = S[2:] + S[:-2] - 2.0 * S[1:-1]
    slope = (S[2:] - S[:-2]) / 2.0
    shift = np.zeros_like(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift[1:-1] = np.where(np.abs(slope) >= np.abs(curve), 0.0, -slope / curve)
    dskew = 0.5 * np.gradient(S, axis=0) * shift
    above = S * (S > PEAK_THRESHOLD * S.max(axis=0, keepdims=True))
    peak = np.zeros_like(S, bool)
    peak[1:-1] = (above[1:-1] > above[:-2]) & (above[1:-1] >= above[2:])
    peak[-1] = above[-1] > above[-2]
    peak &= ((PEAK_FMIN <= freqs) & (freqs < PEAK_FMAX))[:, None]
    k, t = np.nonzero(peak)
    return (k + shift[k, t]) * SAMPLE_RATE / N_FFT, S[k, t] + dskew[k, t]


def estimate_tuning(audio: np.ndarray) -> Tuning | None:
    """The tuning of the piano in (n,) float32 16 kHz ``audio``, or None when there is too
    little pitched sound to tell (silence, a few clicks).

    librosa.estimate_tuning's method (Ellis): the spectral peaks louder than their median,
    each one's distance from the nearest equal-tempered semitone at A440, and the most common
    distance (histogram of 1-cent bins). Written out here with torch's STFT because importing
    librosa's pitch module costs about 3 s per process (numba stencils), more than the
    transcription of a short file; ``tests/test_tuning.py`` checks it gives librosa's value.
    Cost: about 0.1 s per minute of audio, at most ≈ 0.4 s (see MAX_ANALYSIS_SECONDS)."""
    y = _excerpts(np.asarray(audio, np.float32))
    if len(y) < N_FFT or not np.isfinite(y).all() or float(np.max(np.abs(y))) < 1e-4:
        return None
    freqs, mags = _peaks(_magnitude(y))
    freqs, mags = freqs[freqs > 0], mags[freqs > 0]
    if len(freqs) == 0:
        return None
    freqs = freqs[mags >= np.median(mags)]
    residual = np.mod(12.0 * np.log2(freqs / (440.0 / 16.0)), 1.0)
    residual[residual >= 0.5] -= 1.0
    counts, edges = np.histogram(residual, np.linspace(-0.5, 0.5, int(np.ceil(1.0 / RESOLUTION)) + 1))
    cents = float(np.clip(100.0 * edges[np.argmax(counts)], -MAX_CENTS, MAX_CENTS))
    return Tuning(round(cents, 1), "measured")


def parse_tuning(text: str) -> Tuning | None:
    """A user's tuning setting: "auto" → None (measure it), "off"/"a440" → A440 (off), a signed
    number of cents ("+35", "-20", "−20", "12c") or a concert pitch in Hz ("442", "435hz").
    Raises ValueError with a sentence for people when it is none of these."""
    t = str(text).strip().lower().replace("\u2212", "-")  # a typographic minus (−20) too
    if t in ("auto", "measure", ""):
        return None
    if t in ("off", "none", "a440"):
        return Tuning(0.0, "off")
    num = t.removesuffix("hz").removesuffix("cents").removesuffix("c").strip()
    try:
        value = float(num)
    except ValueError:
        raise ValueError(f"tuning {text!r} is not 'auto', 'off', cents (e.g. +35) or A4 in Hz "
                         "(e.g. 442)") from None
    if t.endswith("hz") or 400.0 <= value <= 480.0:
        if not 400.0 <= value <= 480.0:
            raise ValueError(f"A4 = {value:g} Hz is not a piano tuning (400–480 Hz)")
        hz, value = value, 1200.0 * math.log2(value / 440.0)
        if abs(value) > MAX_CENTS:
            raise ValueError(f"A4 = {hz:g} Hz is {value:+.0f} cents from 440 Hz: give a tuning within "
                             f"±{MAX_CENTS:.0f} cents (427.5–452.9 Hz); a piano further off is heard as the "
                             "next semitone's")
    if not math.isfinite(value) or abs(value) > MAX_CENTS:
        raise ValueError(f"tuning {text!r}: give cents within ±{MAX_CENTS:.0f} of A440 "
                         "(a piano further off is heard as the next semitone's)")
    return Tuning(value, "set")


def resolve_tuning(audio: np.ndarray, setting: Tuning | None) -> Tuning:
    """The tuning to transcribe ``audio`` with: ``setting``, or the measured one when it is
    None ("auto"; A440 when nothing pitched is heard)."""
    if setting is not None:
        return setting
    return estimate_tuning(audio) or Tuning(0.0, "measured")
