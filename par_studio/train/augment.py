"""Audio augmentation for the rendered training corpus (numpy/scipy only).

All functions take and return mono float32 audio of shape ``(n_samples,)`` at
``SAMPLE_RATE`` (16 kHz); the output always has the input's shape. Nothing here shifts the
audio in time, because the labels are time-aligned to the samples:

* the room impulse response starts with its direct impulse (value 1.0) at sample 0, and the
  convolution output is cut to the input length (the tail beyond the end is dropped);
* EQ and band limiting use zero-phase filtering (``sosfiltfilt``), so they add no delay.

Every random choice comes from a ``numpy.random.Generator`` and :func:`augment` returns the
parameters as a JSON-serialisable dict (stored in the corpus manifest).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from par_studio.constants import SAMPLE_RATE

PEAK_LIMIT = 0.97  #: the output never exceeds this absolute sample value


# --- room reverb --------------------------------------------------------------------


def make_room_ir(
    rng: np.random.Generator, rt60: float, sr: int = SAMPLE_RATE
) -> tuple[np.ndarray, dict]:
    """A synthetic room impulse response of shape ``(n,)``; ``ir[0] == 1`` is the direct path.

    Early reflections (3-8 sparse taps in 2-40 ms, amplitude < 0.6) followed by an exponentially
    decaying noise tail (-60 dB after ``rt60`` s), low-passed progressively so high frequencies
    die faster. The tail is scaled to ``wet`` relative energy; returns (ir, params).
    """
    n = max(int(sr * min(rt60 * 1.1, 2.0)), 64)
    t = np.arange(n) / sr
    ir = np.zeros(n, dtype=np.float64)
    # diffuse tail, starting after a short pre-delay
    predelay = float(rng.uniform(0.005, 0.025))
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(predelay * sr)] = 0.0
    damp_hz = float(rng.uniform(2500, 7500))
    sos = signal.butter(2, damp_hz, btype="low", fs=sr, output="sos")
    tail = signal.sosfilt(sos, tail)  # causal: tail stays after the pre-delay
    tail /= np.sqrt(np.sum(tail**2)) + 1e-12
    wet = float(rng.uniform(0.05, 0.6))  # wet energy relative to the direct path
    ir += np.sqrt(wet) * tail
    # early reflections
    n_refl = int(rng.integers(3, 9))
    refl_t = np.sort(rng.uniform(0.002, 0.040, size=n_refl))
    refl_a = rng.uniform(0.05, 0.6, size=n_refl) * rng.choice([-1.0, 1.0], size=n_refl)
    for rt, ra in zip(refl_t, refl_a):
        i = int(rt * sr)
        if 0 < i < n:
            ir[i] += ra
    ir[0] = 1.0
    params = {
        "rt60": round(float(rt60), 4),
        "wet": round(wet, 4),
        "predelay_s": round(predelay, 4),
        "damp_hz": round(damp_hz, 1),
        "n_reflections": n_refl,
    }
    return ir.astype(np.float32), params


def apply_ir(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve (n,) audio with a causal IR and keep the first n samples: no time shift."""
    y = signal.fftconvolve(x.astype(np.float64), ir.astype(np.float64), mode="full")[: len(x)]
    return y.astype(np.float32)


# --- EQ / microphone colouring ------------------------------------------------------


def _biquad_sos(kind: str, f0: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook biquad as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cw, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cw, 1 - alpha / a]
    elif kind == "lowshelf":
        sa = 2 * np.sqrt(a) * alpha
        b = [a * ((a + 1) - (a - 1) * cw + sa), 2 * a * ((a - 1) - (a + 1) * cw),
             a * ((a + 1) - (a - 1) * cw - sa)]
        den = [(a + 1) + (a - 1) * cw + sa, -2 * ((a - 1) + (a + 1) * cw),
               (a + 1) + (a - 1) * cw - sa]
    elif kind == "highshelf":
        sa = 2 * np.sqrt(a) * alpha
        b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw),
             a * ((a + 1) + (a - 1) * cw - sa)]
        den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw),
               (a + 1) - (a - 1) * cw - sa]
    else:
        raise ValueError(kind)
    b = np.array(b) / den[0]
    den = np.array(den) / den[0]
    return np.concatenate([b, den])[None, :]


def random_eq(rng: np.random.Generator, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, list[dict]]:
    """Random microphone/room colouring: low shelf, high shelf and 1-3 peaks.

    Returns (sos of shape (k, 6), band list). Gains are the *total* gains; the sections are
    designed at half the gain because they are applied forward and backward (zero phase).
    """
    bands = [
        {"type": "lowshelf", "f0": float(rng.uniform(80, 400)), "gain_db": float(rng.uniform(-9, 6)),
         "q": 0.707},
        {"type": "highshelf", "f0": float(rng.uniform(2000, 6000)),
         "gain_db": float(rng.uniform(-12, 6)), "q": 0.707},
    ]
    for _ in range(int(rng.integers(1, 4))):
        bands.append({"type": "peak", "f0": float(np.exp(rng.uniform(np.log(100), np.log(6500)))),
                      "gain_db": float(rng.uniform(-8, 8)), "q": float(rng.uniform(0.5, 4.0))})
    sos = np.concatenate(
        [_biquad_sos(b["type"], b["f0"], b["gain_db"] / 2, b["q"], sr) for b in bands]
    )
    for b in bands:
        for k in ("f0", "gain_db", "q"):
            b[k] = round(b[k], 3)
    return sos, bands


def zero_phase(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Filter (n,) audio forward and backward: magnitude squared, phase zero, no delay."""
    if len(x) <= 3 * 2 * len(sos) + 1:
        return x.astype(np.float32)
    return signal.sosfiltfilt(sos, x.astype(np.float64)).astype(np.float32)


def band_limit(x: np.ndarray, cutoff_hz: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Codec-like low-pass (Butterworth order 4 applied zero-phase => order 8 magnitude)."""
    sos = signal.butter(4, cutoff_hz, btype="low", fs=sr, output="sos")
    return zero_phase(x, sos)


# --- noise --------------------------------------------------------------------------


def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """(n,) unit-RMS noise: 'white', 'pink' (1/f power) or 'brown' (1/f^2 power)."""
    w = rng.standard_normal(n)
    if colour != "white":
        spec = np.fft.rfft(w)
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1] if n > 1 else 1.0
        f = np.maximum(f, 20.0)  # no runaway sub-sonic drift
        spec /= f ** (0.5 if colour == "pink" else 1.0)
        w = np.fft.irfft(spec, n)
    return (w / (np.sqrt(np.mean(w**2)) + 1e-12)).astype(np.float32)


def hum(rng: np.random.Generator, n: int, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, dict]:
    """(n,) unit-RMS mains hum (50 or 60 Hz) with decaying harmonics."""
    f0 = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / sr
    y = np.zeros(n)
    n_h = int(rng.integers(2, 8))
    for h in range(1, n_h + 1):
        y += rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    y /= np.sqrt(np.mean(y**2)) + 1e-12
    return y.astype(np.float32), {"hum_hz": f0, "hum_harmonics": n_h}


def add_noise(
    x: np.ndarray, noise: np.ndarray, snr_db: float
) -> np.ndarray:
    """Mix unit-RMS ``noise`` into ``x`` at ``snr_db`` relative to the RMS of x's active part."""
    a = np.abs(x)
    active = x[a > 0.01 * (a.max() + 1e-12)] if a.max() > 0 else x
    sig_rms = float(np.sqrt(np.mean(active.astype(np.float64) ** 2))) if active.size else 0.0
    if sig_rms <= 0:
        return x
    return (x + noise * sig_rms * 10 ** (-snr_db / 20)).astype(np.float32)


# --- gain ---------------------------------------------------------------------------


def peak_safe(x: np.ndarray, limit: float = PEAK_LIMIT) -> tuple[np.ndarray, float]:
    """Scale down (never up) so |x| <= limit; returns (audio, applied gain)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > limit:
        g = limit / peak
        return (x * g).astype(np.float32), g
    return x.astype(np.float32), 1.0


def normalize_peak(x: np.ndarray, target: float = 0.5) -> np.ndarray:
    """Scale (n,) audio so its peak is ``target`` (silence stays silence)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (target / peak)).astype(np.float32) if peak > 0 else x.astype(np.float32)


# --- the whole chain ----------------------------------------------------------------


def augment(x: np.ndarray, rng: np.random.Generator, level: str = "full") -> tuple[np.ndarray, dict]:
    """Randomly augment (n,) float32 16 kHz audio; returns ((n,) float32, params dict).

    ``level``: "full" (training), "light" (gain and mild EQ only) or "none" (peak safety only).
    The chain: reverb (80 %) -> EQ (85 %) -> band limit (15 %) -> noise (70 %) -> gain -> peak
    safety. The output is never shifted in time and never exceeds ``PEAK_LIMIT``.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"augment expects mono (n_samples,) audio, got shape {x.shape}")
    n = len(x)
    params: dict = {"level": level}
    y = x.copy()
    if level == "none":
        y, g = peak_safe(y)
        params["peak_safety_gain"] = round(g, 5)
        return y, params
    full = level == "full"
    if full and rng.random() < 0.8:
        rt60 = float(np.exp(rng.uniform(np.log(0.1), np.log(1.5))))
        ir, rp = make_room_ir(rng, rt60)
        y = apply_ir(y, ir)
        params["reverb"] = rp
    if rng.random() < (0.85 if full else 0.5):
        sos, bands = random_eq(rng)
        if not full:
            sos = np.concatenate(
                [_biquad_sos(b["type"], b["f0"], b["gain_db"] / 4, b["q"], SAMPLE_RATE) for b in bands]
            )
            for b in bands:
                b["gain_db"] = round(b["gain_db"] / 2, 3)
        y = zero_phase(y, sos)
        params["eq"] = bands
    if full and rng.random() < 0.15:
        cutoff = float(rng.uniform(4000, 7500))
        y = band_limit(y, cutoff)
        params["lowpass_hz"] = round(cutoff, 1)
    if full and rng.random() < 0.7:
        kind = str(rng.choice(["white", "pink", "brown", "hum"]))
        snr = float(rng.uniform(15, 50))
        if kind == "hum":
            noise, hp = hum(rng, n)
            params["noise"] = {"type": "hum", "snr_db": round(snr, 2), **hp}
        else:
            noise = coloured_noise(rng, n, kind)
            params["noise"] = {"type": kind, "snr_db": round(snr, 2)}
        y = add_noise(y, noise, snr)
    gain_db = float(rng.uniform(-20, 6)) if full else float(rng.uniform(-6, 0))
    y = (y * 10 ** (gain_db / 20)).astype(np.float32)
    params["gain_db"] = round(gain_db, 3)
    y, g = peak_safe(y)
    params["peak_safety_gain"] = round(g, 5)
    assert y.shape == x.shape
    return y, params
