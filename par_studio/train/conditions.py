"""The recording conditions of one corpus-v2 item: how the piano is tuned and played, the room,
the microphone, the noise and the codec, drawn per item and applied to the rendered audio.

:func:`draw_conditions` turns a ``numpy.random.Generator`` into a JSON-serialisable dict (stored
with the item); everything random in :func:`apply_conditions` comes from the dict's own
``seed``, so the same dict always gives the same audio. Audio is mono float32 ``(n,)`` at
16 kHz and keeps its length; nothing moves it in time (the room's direct path is at sample 0,
filters are zero-phase, codec output is re-aligned to its input by cross-correlation), because
the labels are the MIDI's times.

Tuning and touch act on the rendering (:mod:`par_studio.train.sampled_pianos` per key, or a
pitch bend for SoundFont renderers); the labels never change: the pitch label is the key, the
velocity label the performance's velocity.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy import signal

from par_studio.constants import N_KEYS, SAMPLE_RATE
from par_studio.train import augment as aug

#: share of training items with each condition (the rest: as sampled / dry / clean)
P_DETUNE, P_STRETCH, P_UNEVEN, P_TOUCH = 0.85, 0.5, 0.3, 0.5
P_ROOM, P_EQ, P_NOISE, P_CODEC, P_PHONE = 0.85, 0.8, 0.75, 0.3, 0.08
DETUNE_CENTS = 50.0  #: whole piano: uniform in -50..+50 cents
STRETCH_CENTS = (0.0, 25.0)  #: at C8 (about -0.6x at A0)
UNEVEN_CENTS = (1.0, 6.0)  #: standard deviation of the per-key deviation
TOUCH_GAMMA = (0.7, 1.45)  #: velocity curve exponent (log-uniform)
RT60 = (0.15, 2.5)  #: seconds, log-uniform
SNR_DB = (10.0, 50.0)
NOISES = ("room", "hum", "fan", "babble")
CODECS = {"mp3": ("libmp3lame", "mp3"), "aac": ("aac", "adts"), "opus": ("libopus", "ogg")}
BITRATES = (32, 48, 64, 96, 128)  #: kb/s
GAIN_DB = (-20.0, 3.0)
PEAK_BEFORE_GAIN = 0.5  #: the render is scaled to this peak before the gain is applied


#: What a user's recording usually is (the decoder is calibrated on it; training stays "full"):
#: tuning, touch, room and microphone as in training, but noise only in half of the items and at
#: 30-50 dB SNR, codecs only at 96-128 kb/s, no phone band.
RECORDING = {"p_noise": 0.5, "snr_db": (30.0, 50.0), "p_codec": 0.25, "bitrates": (96, 128), "p_phone": 0.0}
FULL = {"p_noise": P_NOISE, "snr_db": SNR_DB, "p_codec": P_CODEC, "bitrates": BITRATES, "p_phone": P_PHONE}
LEVELS = ("full", "recording", "none")


def draw_conditions(rng: np.random.Generator, level: str = "full") -> dict:
    """Conditions of one item. ``level``: "full" (training and validation), "recording" (as
    "full" but with the milder noise and codecs of :data:`RECORDING`: the calibration set) or
    "none" (the instrument as sampled, in tune, dry, clean). "full" draws what it always drew,
    so existing items stay what they were."""
    if level not in LEVELS:
        raise ValueError(f"unknown conditions level {level!r}")
    c: dict = {"seed": int(rng.integers(2**31 - 1))}
    if level == "none":
        return c
    k = RECORDING if level == "recording" else FULL
    if rng.random() < P_DETUNE:
        c["detune_cents"] = round(float(rng.uniform(-DETUNE_CENTS, DETUNE_CENTS)), 2)
    if rng.random() < P_STRETCH:
        c["stretch_cents"] = round(float(rng.uniform(*STRETCH_CENTS)), 2)
    if rng.random() < P_UNEVEN:
        c["uneven_cents"] = round(float(rng.uniform(*UNEVEN_CENTS)), 2)
    if rng.random() < P_TOUCH:
        c["touch_gamma"] = round(float(np.exp(rng.uniform(*np.log(TOUCH_GAMMA)))), 3)
    if rng.random() < P_ROOM:
        rt60 = float(np.exp(rng.uniform(*np.log(RT60))))
        distant = bool(rng.random() < 0.4)
        c["room"] = {
            "rt60": round(rt60, 3),
            "predelay_s": round(float(rng.uniform(0.002, 0.01 + 0.02 * min(rt60, 2.0))), 4),
            # reverberant energy relative to the direct sound: close mics low, distant ones high
            "wet": round(float(rng.uniform(0.6, 3.0) if distant else rng.uniform(0.03, 0.5)), 3),
            "n_reflections": int(rng.integers(3, 11)),
            "damp_hz": round(float(rng.uniform(2500, 7500)), 1),
        }
    if rng.random() < P_EQ:
        c["eq"] = True  # bands drawn from the seed (mic and room colour, augment.random_eq)
    if rng.random() < k["p_phone"]:
        c["band"] = [round(float(rng.uniform(200, 400)), 1), round(float(rng.uniform(3200, 4000)), 1)]
    if rng.random() < k["p_noise"]:
        c["noise"] = {"type": str(rng.choice(NOISES)), "snr_db": round(float(rng.uniform(*k["snr_db"])), 2)}
    c["gain_db"] = round(float(rng.uniform(*GAIN_DB)), 2)
    if rng.random() < k["p_codec"]:
        c["codec"] = {"name": str(rng.choice(list(CODECS))), "kbps": int(rng.choice(k["bitrates"]))}
    return c


def key_cents(c: dict) -> np.ndarray:
    """(88,) cents per key (MIDI 21..108) of conditions ``c``."""
    from .sampled_pianos import key_cents_array

    uneven = None
    if c.get("uneven_cents"):
        uneven = np.random.default_rng([c["seed"], 1]).normal(0.0, c["uneven_cents"], N_KEYS)
    return key_cents_array(c.get("detune_cents", 0.0), c.get("stretch_cents", 0.0), uneven)


def touch(velocity: np.ndarray, c: dict) -> np.ndarray:
    """MIDI velocities (1..127) as the piano is struck under the touch curve of ``c``:
    ``127 * (v / 127) ** gamma`` (labels keep the original velocity)."""
    v = np.asarray(velocity, np.float64)
    g = c.get("touch_gamma")
    if not g:
        return np.clip(np.round(v), 1, 127).astype(np.int16)
    return np.clip(np.round(127.0 * (v / 127.0) ** g), 1, 127).astype(np.int16)


# --- rooms ----------------------------------------------------------------------------


def room_ir(room: dict, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) impulse response: the direct path 1.0 at sample 0, early reflections within the
    pre-delay .. pre-delay + 60 ms, then an exponentially decaying noise tail (-60 dB after
    ``rt60`` s, low-passed at ``damp_hz``) of energy ``wet`` relative to the direct path."""
    rt60 = float(room["rt60"])
    n = max(int(sr * min(rt60 * 1.2, 3.0)), 64)
    t = np.arange(n) / sr
    pre = float(room["predelay_s"])
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(pre * sr)] = 0.0
    sos = signal.butter(2, float(room["damp_hz"]), btype="low", fs=sr, output="sos")
    tail = signal.sosfilt(sos, tail)
    tail /= np.sqrt(np.sum(tail ** 2)) + 1e-12
    ir = np.sqrt(float(room["wet"])) * tail
    k = int(room["n_reflections"])
    for rt, ra in zip(pre + np.sort(rng.uniform(0.001, 0.06, k)),
                      rng.uniform(0.1, 0.7, k) * rng.choice([-1.0, 1.0], k)):
        i = int(rt * sr)
        if 0 < i < n:
            ir[i] += ra
    ir[0] = 1.0
    return ir.astype(np.float32)


HALL = {"rt60": 2.0, "predelay_s": 0.03, "wet": 1.5, "n_reflections": 8, "damp_hz": 5000.0}
"""The fixed hall of the held-out evaluation sets (RT60 2 s, a distant pair)."""


# --- noise ----------------------------------------------------------------------------


def make_noise(kind: str, n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) unit-RMS background noise: "room" (pink/brown room tone), "hum" (mains hum with
    harmonics), "fan" (brown noise, a band of rushing air and a blade tone) or "babble"
    (speech-like: 4-8 band-passed noise voices, each amplitude-modulated at a syllable rate)."""
    t = np.arange(n) / sr
    if kind == "room":
        y = aug.coloured_noise(rng, n, str(rng.choice(["pink", "brown"])))
    elif kind == "hum":
        y = aug.hum(rng, n, sr)[0]
    elif kind == "fan":
        air = aug.coloured_noise(rng, n, "white")
        lo, hi = float(rng.uniform(200, 600)), float(rng.uniform(1500, 4000))
        air = signal.sosfilt(signal.butter(2, [lo, hi], btype="band", fs=sr, output="sos"), air)
        air /= np.sqrt(np.mean(air ** 2)) + 1e-12
        f = float(rng.uniform(60, 240))
        y = aug.coloured_noise(rng, n, "brown") + air + 0.3 * np.sin(2 * np.pi * f * t)
    elif kind == "babble":
        y = np.zeros(n)
        for _ in range(int(rng.integers(4, 9))):
            v = rng.standard_normal(n)
            f0 = float(rng.uniform(300, 1200))
            v = signal.sosfilt(signal.butter(2, [f0 * 0.6, min(f0 * 3.0, sr / 2 - 100)], btype="band",
                                             fs=sr, output="sos"), v)
            rate = float(rng.uniform(3.0, 6.0))
            env = np.maximum(0.0, np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))) ** 2
            y += v * env * rng.uniform(0.5, 1.0)
    else:
        raise ValueError(f"unknown noise {kind!r}")
    y = np.asarray(y, np.float64)
    return (y / (np.sqrt(np.mean(y ** 2)) + 1e-12)).astype(np.float32)


# --- codecs ---------------------------------------------------------------------------


def align_to(y: np.ndarray, ref: np.ndarray, max_lag: int = 4000) -> np.ndarray:
    """``y`` shifted so it lines up with ``ref`` (lag by cross-correlation of the first 10 s
    within ±``max_lag`` samples), cut or padded to ``len(ref)``."""
    m = min(len(ref), len(y), 10 * SAMPLE_RATE)
    a, b = ref[:m].astype(np.float64), y[:m].astype(np.float64)
    cc = signal.correlate(b, a, mode="full", method="fft")
    mid = m - 1
    lo, hi = max(0, mid - max_lag), min(len(cc), mid + max_lag + 1)
    lag = int(np.argmax(cc[lo:hi])) + lo - mid  # y[i + lag] ~ ref[i]
    out = np.zeros(len(ref), np.float32)
    src = y[max(0, lag):]
    dst0 = max(0, -lag)
    k = min(len(src), len(ref) - dst0)
    out[dst0:dst0 + k] = src[:k]
    return out


def codec(x: np.ndarray, name: str, kbps: int) -> np.ndarray:
    """(n,) audio through a lossy encoder and back with ffmpeg (MP3, AAC or Opus at ``kbps``),
    re-aligned to the input (encoder delay removed) and of the same length."""
    import soundfile as sf

    enc, fmt = CODECS[name]
    with tempfile.TemporaryDirectory(prefix="parcodec_") as td:
        src, mid, dst = Path(td) / "in.wav", Path(td) / f"mid.{fmt}", Path(td) / "out.wav"
        sf.write(src, x, SAMPLE_RATE, subtype="FLOAT")
        extra = ["-ar", "48000"] if name == "opus" else []
        for cmd in (["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:a", enc, "-b:a", f"{kbps}k",
                     *extra, "-f", fmt, str(mid)],
                    ["ffmpeg", "-v", "error", "-y", "-i", str(mid), "-ac", "1", "-ar", str(SAMPLE_RATE),
                     "-c:a", "pcm_f32le", str(dst)]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
            if r.returncode != 0:
                raise RuntimeError(f"ffmpeg {name} failed: {r.stderr[-300:]}")
        y, _ = sf.read(dst, dtype="float32", always_2d=True)
    return align_to(y.mean(axis=1), x)


# --- the chain ------------------------------------------------------------------------


def apply_conditions(x: np.ndarray, c: dict) -> tuple[np.ndarray, dict]:
    """Apply the room, microphone colour, phone band, noise, gain and codec of ``c`` to the
    rendered (n,) audio; returns ((n,) float32 peaking at most ``augment.PEAK_LIMIT``, the
    drawn details: EQ bands). Deterministic in ``c``."""
    rng = np.random.default_rng([c["seed"], 2])
    x = np.asarray(x, np.float32)
    n = len(x)
    details: dict = {}
    y = aug.normalize_peak(x, PEAK_BEFORE_GAIN)
    if c.get("room"):
        y = aug.apply_ir(y, room_ir(c["room"], rng))
    if c.get("eq"):
        sos, bands = aug.random_eq(rng)
        y = aug.zero_phase(y, sos)
        details["eq"] = bands
    if c.get("band"):
        lo, hi = c["band"]
        y = aug.zero_phase(y, signal.butter(3, [lo, hi], btype="band", fs=SAMPLE_RATE, output="sos"))
    if c.get("noise"):
        y = aug.add_noise(y, make_noise(c["noise"]["type"], n, rng), float(c["noise"]["snr_db"]))
    y = aug.normalize_peak(y, PEAK_BEFORE_GAIN)
    y = (y * 10 ** (float(c.get("gain_db", 0.0)) / 20)).astype(np.float32)
    y, _ = aug.peak_safe(y)
    if c.get("codec"):
        y = codec(y, c["codec"]["name"], int(c["codec"]["kbps"]))
        y, _ = aug.peak_safe(y)
    assert y.shape == (n,)
    return y.astype(np.float32), details
