"""Onset velocities re-ranked from the recording by a small trained network (the velocity refiner).

The PAR decoder predicts each note's velocity from one key's features alone, so it cannot
compare a note's loudness with the rest of the recording: on the corpus-v2 calibration set its
velocities correlate 0.53 (median per file) with the performances'. The refiner looks at the
sound of every decoded onset — the attack level and rise of the note's first six partials in a
2048-point spectrum (128 ms window, 16 ms hop), each also against the file's typical level — with the
note's pitch, chord size and the decoder's own velocity, and predicts how loud the note was
*within its recording* (a per-file z-score: a recording's absolute level says nothing about the
touch, since microphones and gains differ). The recording's velocities are then spread like the
decoder's (same median and spread), ordered by the refiner.

It works on a whole recording's notes at once (file statistics), so it runs on files and on a
live take once it stops (:mod:`par_studio.engine.take`), not while it is played. Weights: ``models/velocity-refiner.pt`` (:func:`load_refiner`), trained by
:mod:`par_studio.train.velocity_fit`.

Arrays: audio (n,) float32 mono 16 kHz heard at A440 (the frames' clock); states (T, 88) uint8;
velocity (T, 88) float32 velocity/128, as the decoder writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .constants import FRAME_SECONDS, MIN_MIDI, ONSET_STATES, SAMPLE_RATE, VELOCITY_SCALE

N_FFT = 2048  #: samples (128 ms) of the attack spectrum
HOP = 256  #: samples (16 ms) between its frames
N_PARTIALS = 6
ATTACK = (-2, 6)  #: frames of the attack window around the onset: -32 ms .. +96 ms
BEFORE = (-7, -3)  #: frames of the level before it: -112 .. -48 ms
INHARMONICITY = 0.0004  #: partial h at h·f0·sqrt(1 + B·h²)
MIN_NOTES = 8  #: fewer notes in a recording: the decoder's velocities are kept
CHUNK = 512  #: notes whose spectra are taken at once
N_FEATURES = 3 * N_PARTIALS + N_PARTIALS + 8
REFINER_FILE = "velocity-refiner.pt"


def _spectra(audio: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(len(frames), N_FFT/2+1) power in dB of the Hann-windowed frames centred at
    ``frames`` × HOP samples (zero outside the signal)."""
    x = np.pad(np.asarray(audio, np.float32), (N_FFT // 2, N_FFT // 2))
    idx = frames[:, None] * HOP + np.arange(N_FFT)[None, :]
    ok = (idx >= 0) & (idx < len(x))
    seg = np.where(ok, x[np.clip(idx, 0, len(x) - 1)], 0.0).astype(np.float32)
    spec = np.fft.rfft(seg * np.hanning(N_FFT).astype(np.float32), axis=1)
    return 10.0 * np.log10(spec.real ** 2 + spec.imag ** 2 + 1e-10)


def onset_features(audio: np.ndarray, onset_s: np.ndarray, pitch: np.ndarray,
                   model_velocity: np.ndarray, tick: Callable[[], None] | None = None) -> np.ndarray:
    """(N, N_FEATURES) float32 features of N notes: onset_s (N,) seconds of ``audio`` (at A440),
    pitch (N,) MIDI, model_velocity (N,) the decoder's MIDI velocity. Partials above 7.8 kHz
    are 0 with a 0 in their 'present' column. Spectra are taken CHUNK notes at a time (memory
    stays small for long recordings); ``tick()`` is called after each chunk (it may raise to
    cancel)."""
    onset_s, pitch = np.asarray(onset_s, np.float64), np.asarray(pitch, np.float64)
    v = np.asarray(model_velocity, np.float64)
    n = len(onset_s)
    if n == 0:
        return np.zeros((0, N_FEATURES), np.float32)
    k = np.round(onset_s * SAMPLE_RATE / HOP).astype(np.int64)
    att = np.full((n, N_PARTIALS), np.nan)
    pre = np.full((n, N_PARTIALS), np.nan)
    f0 = 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)
    for c0 in range(0, n, CHUNK):
        _partial_levels(audio, k[c0:c0 + CHUNK], f0[c0:c0 + CHUNK], att[c0:c0 + CHUNK], pre[c0:c0 + CHUNK])
        if tick is not None:
            tick()
    present = np.isfinite(att)
    level = np.nanmedian(np.where(present, att, np.nan), axis=0) if present.any() else np.zeros(N_PARTIALS)
    level = np.where(np.isfinite(level), level, 0.0)
    rel = att - level
    # the fundamental's attack against the file's typical attack within half an octave
    a1 = att[:, 0]
    near_of = {p: np.nanmedian(np.where(np.abs(pitch - p) <= 6, a1, np.nan)) for p in np.unique(pitch)}
    near = np.array([near_of[p] for p in pitch])
    srt = np.sort(onset_s)  # notes starting within ±35 ms: the chord
    chord = (np.searchsorted(srt, onset_s + 0.035, "left") - np.searchsorted(srt, onset_s - 0.035, "right")
             ).astype(np.float64)
    med_v = float(np.median(v))
    with np.errstate(all="ignore"):
        X = np.column_stack([
            np.nan_to_num(att), np.nan_to_num(att - pre), np.nan_to_num(rel), present.astype(np.float64),
            (pitch - MIN_MIDI) / 87.0, v / VELOCITY_SCALE, (v - med_v) / VELOCITY_SCALE,
            np.full(n, med_v / VELOCITY_SCALE), np.nan_to_num(np.nanmax(np.where(present, rel, np.nan), axis=1)),
            np.nan_to_num(a1 - near), chord, np.full(n, np.log(n)),
        ])
    return X.astype(np.float32)


def spread_like(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,) int16 velocities ordered as the z-scores ``z`` and spread like the MIDI velocities
    ``v`` (same median and standard deviation); ``v`` itself when either has no spread."""
    z, v = np.asarray(z, np.float64), np.asarray(v, np.float64)
    sz, sv = float(z.std()), float(v.std())
    out = v if sz < 1e-6 or sv < 1e-6 else np.median(v) + (z - np.median(z)) * (sv / sz)
    return np.clip(np.round(out), 1, 127).astype(np.int16)


def _partial_levels(audio, k, f0, att, pre) -> None:
    """Fill att / pre (m, N_PARTIALS) with the peak dB of each partial of m notes (onset frames
    ``k`` of the HOP grid, fundamentals ``f0`` Hz) in the attack and the before windows."""
    offsets = np.arange(BEFORE[0], ATTACK[1])
    need = np.unique((k[:, None] + offsets[None, :]).ravel())
    need = need[(need >= 0) & (need * HOP < len(audio) + N_FFT // 2)]
    row = {int(f): i for i, f in enumerate(need)}
    S = _spectra(audio, need) if len(need) else np.zeros((0, N_FFT // 2 + 1), np.float32)
    for i in range(len(k)):
        a = [row[f] for f in range(k[i] + ATTACK[0], k[i] + ATTACK[1]) if f in row]
        b = [row[f] for f in range(k[i] + BEFORE[0], k[i] + BEFORE[1]) if f in row]
        for h in range(1, N_PARTIALS + 1):
            fh = h * f0[i] * np.sqrt(1.0 + INHARMONICITY * h * h)
            if fh > 7800.0:
                continue
            c = fh * N_FFT / SAMPLE_RATE
            w = max(2, int(c * (0.015 if h < 3 else 0.03)))
            lo, hi = max(1, int(c) - w), int(c) + w + 1
            if a:
                att[i, h - 1] = S[a, lo:hi].max()
            pre[i, h - 1] = S[b, lo:hi].max() if b else att[i, h - 1] - 60.0


class RefinerNet(nn.Module):
    """Standardised features → per-file velocity z-score: an MLP (N_FEATURES → 32 → 16 → 1)."""

    def __init__(self, hidden=(32, 16)):
        super().__init__()
        self.register_buffer("mean", torch.zeros(N_FEATURES))
        self.register_buffer("std", torch.ones(N_FEATURES))
        layers, d = [], N_FEATURES
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)
        self.hidden = tuple(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, N_FEATURES) → (N,) z-scores."""
        return self.net((x - self.mean) / self.std).squeeze(-1)


@dataclass
class VelocityRefiner:
    net: RefinerNet
    metadata: dict

    @torch.inference_mode()
    def velocities(self, audio: np.ndarray, onset_s, pitch, model_velocity,
                   tick: Callable[[], None] | None = None) -> np.ndarray:
        """(N,) int16 MIDI velocities of N notes, ordered by the refiner and spread like
        ``model_velocity`` (same median and standard deviation); ``model_velocity`` itself
        when the recording has fewer than MIN_NOTES notes."""
        v = np.asarray(model_velocity, np.float64)
        if len(v) < MIN_NOTES:
            return np.clip(np.round(v), 1, 127).astype(np.int16)
        return spread_like(self.net(torch.from_numpy(onset_features(audio, onset_s, pitch, v, tick))).numpy(), v)

    def refine_frames(self, states: np.ndarray, velocity: np.ndarray, audio: np.ndarray,
                      tick: Callable[[], None] | None = None) -> np.ndarray:
        """(T, 88) velocity/128 with the value at every onset and re-onset frame replaced by the
        refined one (what :func:`par_studio.notes.decode` reads as the note's velocity)."""
        t, k = np.nonzero(np.isin(states, ONSET_STATES))
        out = np.array(velocity, np.float32, copy=True)
        if len(t) < MIN_NOTES:
            return out
        v = self.velocities(audio, t * FRAME_SECONDS, k + MIN_MIDI, velocity[t, k] * VELOCITY_SCALE, tick)
        out[t, k] = v.astype(np.float32) / VELOCITY_SCALE
        return out


def save_refiner(path, net: RefinerNet, metadata: dict) -> None:
    from .midi_io import atomic_write_bytes
    import io

    buf = io.BytesIO()
    torch.save({"format": "par-velocity-refiner", "version": 1, "hidden": list(net.hidden),
                "state_dict": net.state_dict(), "metadata": metadata}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


@lru_cache(maxsize=4)
def load_refiner(path=None) -> VelocityRefiner | None:
    """The shipped refiner (``models/velocity-refiner.pt``, or ``path``); None when the file
    is missing or unreadable (the decoder's velocities are used then)."""
    from .model.checkpoint import MODELS_DIR

    p = Path(path) if path is not None else MODELS_DIR / REFINER_FILE
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
        if blob.get("format") != "par-velocity-refiner":
            return None
        net = RefinerNet(tuple(blob["hidden"]))
        net.load_state_dict(blob["state_dict"])
        net.eval()
        return VelocityRefiner(net, dict(blob.get("metadata", {})))
    except FileNotFoundError:
        return None
    except Exception as e:  # noqa: BLE001 - a damaged file must not stop a transcription
        logging.getLogger(__name__).warning("velocity refiner %s is unreadable (%s: %s); the decoder's "
                                            "velocities are used. Reinstall the models folder to fix it.",
                                            p.name, type(e).__name__, e)
        return None
