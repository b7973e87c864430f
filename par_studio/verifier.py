"""Note verification: the decoder proposes notes at a looser sensitivity, a trained classifier
keeps the real ones (the note verifier).

At its calibrated sensitivity the PAR decoder misses notes it nearly found (on the corpus-v2
calibration set PARcompact 320 ms finds about 70 % of the notes at 0.88 precision); decoding
with a looser onset bias finds more of them but many more ghosts too (partials of louder notes,
re-strikes heard in the reverberation). The verifier looks at every proposed onset — the
decoder's own onset and sustain probabilities around it, the note's length, onsets proposed at
the same time an octave, a twelfth, two octaves… below or above, the key's previous onset, and
the sound of the attack (the velocity refiner's partial features, :func:`onset_features`) — and
gives the probability that a real note starts there. Proposals below a threshold are removed:
a dropped re-strike of a sounding key continues the previous note, a dropped onset is silenced.

The classifier is a gradient-boosted tree ensemble (scikit-learn's HistGradientBoosting, trained
by :mod:`par_studio.train.verifier_fit`) stored as plain arrays (``.npz``, read with
``allow_pickle=False``) and evaluated here with numpy, so no pickled object is ever loaded.
Each verifier belongs to one set of model weights (a fingerprint of the weights and their
calibration): ``models/<model>.verifier.npz``; a model without one decodes as calibrated.

It needs whole-recording statistics (the attack features), so it runs on files, not on live
input. Arrays: states (T, 88) uint8 decoder states; probabilities (T, 88, 5) state
probabilities; velocity (T, 88) float32 velocity/128; audio (n,) float32 mono 16 kHz at A440
(the frames' clock); frame t is centred at t × FRAME_SECONDS.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d

from .constants import (FRAME_SECONDS, MIN_MIDI, N_KEYS, ONSET_STATES, SOUNDING_STATES, STATE_OFF,
                        STATE_OFFSET, STATE_ONSET, STATE_REONSET, STATE_SUSTAIN, VELOCITY_SCALE)
from .velocity import N_FEATURES as N_ACOUSTIC, onset_features

#: semitones from a proposed note to the keys whose simultaneous onsets are looked at
#: (positive: below it, whose partials may be what was heard)
INTERVALS = (12, 19, 24, 28, 31, -12, -19)
NEAR_FRAMES = 2  #: "simultaneous": within ±2 frames (±64 ms)
NONE_LOGIT = -20.0  #: the onset logit written where no onset was proposed
N_FEATURES = 5 + 2 * len(INTERVALS) + 3 + N_ACOUSTIC
ROWS = 4096  #: proposals whose trees are walked at once
SUFFIX = ".verifier.npz"
FORMAT = "par-note-verifier"


def model_fingerprint(model) -> str:
    """sha256 (hex, 16 characters) of a model's weights and decoding calibration: a verifier
    is used only with the very weights and biases it was trained and calibrated on."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    cfg = model.cfg
    h.update(repr((tuple(float(x) for x in cfg.state_bias), float(cfg.offset_shift_s))).encode())
    return h.hexdigest()[:16]


def candidates(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, k): frame and key index of every proposed onset (onset or re-onset state), by frame."""
    return np.nonzero(np.isin(states, ONSET_STATES))


def _run_ends(states: np.ndarray, t: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(N,) the first frame after t that does not continue the note starting at (t, k)."""
    T = states.shape[0]
    ends = np.empty(len(t), np.int64)
    for key in np.unique(k):
        breaks = np.nonzero(states[:, key] != STATE_SUSTAIN)[0]
        sel = k == key
        i = np.searchsorted(breaks, t[sel], "right")
        ends[sel] = np.where(i < len(breaks), breaks[np.minimum(i, len(breaks) - 1)], T)
    return ends


def candidate_features(states: np.ndarray, probs: np.ndarray, velocity: np.ndarray, audio: np.ndarray,
                       tick: Callable[[], None] | None = None) -> np.ndarray:
    """(N, N_FEATURES) float32 features of the N proposed onsets, in :func:`candidates` order."""
    t, k = candidates(states)
    n, T = len(t), states.shape[0]
    if n == 0:
        return np.zeros((0, N_FEATURES), np.float32)
    P = probs  # (T, 88, 5), float16 as kept: only the values needed are taken (and widened)

    def p_onset(dt: int) -> np.ndarray:
        tt = np.clip(t + dt, 0, T - 1)
        return P[tt, k, STATE_ONSET].astype(np.float32) + P[tt, k, STATE_REONSET]

    p0 = np.clip(p_onset(0), 1e-6, 1 - 1e-6)
    logit = np.log(p0) - np.log1p(-p0)
    sustain = np.mean([P[np.clip(t + d, 0, T - 1), k, STATE_SUSTAIN].astype(np.float32) for d in range(1, 5)],
                      axis=0)
    length = np.log(np.maximum(_run_ends(states, t, k) - t, 1) * FRAME_SECONDS)
    grid = np.full((T, N_KEYS), NONE_LOGIT, np.float32)
    grid[t, k] = logit
    near = maximum_filter1d(grid, size=2 * NEAR_FRAMES + 1, axis=0, mode="constant", cval=NONE_LOGIT)
    context = []
    for d in INTERVALS:
        kk = k - d
        ok = (kk >= 0) & (kk < N_KEYS)
        g = np.where(ok, near[t, np.clip(kk, 0, N_KEYS - 1)], NONE_LOGIT)
        there = g > NONE_LOGIT
        context += [there.astype(np.float32), np.where(there, g, 0.0)]
    per_frame = np.bincount(t, minlength=T).astype(np.float64)
    chord = np.convolve(per_frame, np.ones(2 * NEAR_FRAMES + 1), "same")[t]
    gap = np.full(n, 5.0)
    for key in np.unique(k):  # the key's previous proposed onset
        sel = np.nonzero(k == key)[0]  # already in frame order
        gap[sel[1:]] = np.minimum(np.diff(t[sel]) * FRAME_SECONDS, 5.0)
    sounding = np.isin(states[np.maximum(t - 1, 0), k], SOUNDING_STATES) & (t > 0)
    acoustic = onset_features(audio, t * FRAME_SECONDS, k + MIN_MIDI, velocity[t, k] * VELOCITY_SCALE, tick)
    X = np.column_stack([logit, p_onset(-1), p_onset(1), sustain, length, *context, chord, np.log(gap),
                         sounding.astype(np.float32), acoustic])
    return X.astype(np.float32)


def remove_onsets(states: np.ndarray, t: np.ndarray, k: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(T, 88) states with the proposed onsets (t, k) where ``keep`` is False taken out: a
    re-strike of a key that still sounds continues the previous note (sustain); an onset after
    silence is silenced with its note (and the note's offset frame). A kept proposal becomes a
    re-onset or an onset by whether its key still sounds just before it."""
    s = np.array(states, np.uint8, copy=True)
    T = s.shape[0]
    for i in np.lexsort((t, k)):  # key by key, in time
        ti, ki = int(t[i]), int(k[i])
        before = ti > 0 and s[ti - 1, ki] in SOUNDING_STATES
        if keep[i]:
            s[ti, ki] = STATE_REONSET if before else STATE_ONSET
        elif before:
            s[ti, ki] = STATE_SUSTAIN
        else:
            run = s[ti + 1:, ki] != STATE_SUSTAIN
            end = ti + 1 + (int(np.argmax(run)) if run.any() else T - ti - 1)
            s[ti:end, ki] = STATE_OFF
            if end < T and s[end, ki] == STATE_OFFSET:
                s[end, ki] = STATE_OFF
    return s


@dataclass
class NoteVerifier:
    """Trees as arrays (n_trees, n_nodes): feature (int), threshold (float64: go left when
    x <= threshold), left/right (child node), value (leaf raw score), leaf (bool); ``baseline``
    the raw score before the trees; p = sigmoid(baseline + Σ leaf values)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    leaf: np.ndarray
    baseline: float
    shift: float  #: sensitivity added to the decoder's for the proposals
    keep_above: float  #: calibrated probability threshold (at sensitivity 0)
    fingerprint: str
    metadata: dict = field(default_factory=dict)

    def probability(self, X: np.ndarray) -> np.ndarray:
        """(N,) probability that each of N feature rows (N, N_FEATURES) is a real onset (taken
        ROWS at a time, so memory stays bounded for long recordings)."""
        X = np.asarray(X, np.float64)
        if len(X) > ROWS:
            return np.concatenate([self.probability(X[a:a + ROWS]) for a in range(0, len(X), ROWS)])
        n_trees = self.feature.shape[0]
        rows = np.arange(n_trees)[:, None]
        node = np.zeros((n_trees, len(X)), np.int64)
        cols = np.arange(len(X))[None, :]
        for _ in range(self.feature.shape[1]):
            leaf = self.leaf[rows, node]
            if leaf.all():
                break
            go_left = X[cols, self.feature[rows, node]] <= self.threshold[rows, node]
            node = np.where(leaf, node, np.where(go_left, self.left[rows, node], self.right[rows, node]))
        raw = self.baseline + self.value[rows, node].sum(axis=0)
        return 1.0 / (1.0 + np.exp(-raw))

    def threshold_for(self, sensitivity: float) -> float:
        """Probability threshold at a user sensitivity (about −1..1; > 0 keeps more notes)."""
        a = np.log(self.keep_above) - np.log1p(-self.keep_above)
        return float(1.0 / (1.0 + np.exp(-(a - 2.0 * float(sensitivity)))))

    def sensitivity_to_keep(self, p: np.ndarray) -> np.ndarray:
        """(N,) the sensitivity at which proposals of probability ``p`` are kept (inverse of
        :meth:`threshold_for`)."""
        p = np.clip(np.asarray(p, np.float64), 1e-9, 1 - 1e-9)
        a = np.log(self.keep_above) - np.log1p(-self.keep_above)
        return (a - (np.log(p) - np.log1p(-p))) / 2.0

    def verify(self, states: np.ndarray, probs: np.ndarray, velocity: np.ndarray, audio: np.ndarray,
               sensitivity: float = 0.0, tick: Callable[[], None] | None = None) -> tuple[np.ndarray, dict, dict]:
        """(states with the rejected proposals removed, {"proposed": N, "kept": M}, the rejected
        proposals {"t": frames, "k": keys, "margin": the extra sensitivity that would keep
        each (> 0), "shift": self.shift} for the candidate notes of :mod:`par_studio.candidates`)."""
        t, k = candidates(states)
        none = {"t": t, "k": k, "margin": np.zeros(0, np.float32), "shift": self.shift}
        if len(t) == 0:
            return np.array(states, np.uint8, copy=True), {"proposed": 0, "kept": 0}, none
        p = self.probability(candidate_features(states, probs, velocity, audio, tick))
        keep = p >= self.threshold_for(sensitivity)
        margin = np.maximum(self.sensitivity_to_keep(p[~keep]) - float(sensitivity), 1e-3).astype(np.float32)
        rejected = {"t": t[~keep], "k": k[~keep], "margin": margin, "shift": self.shift}
        return remove_onsets(states, t, k, keep), {"proposed": int(len(t)), "kept": int(keep.sum())}, rejected


def trees_from_sklearn(clf) -> dict:
    """Plain arrays of a fitted binary HistGradientBoostingClassifier (numeric features, no
    missing values) for :class:`NoteVerifier`."""
    preds = [p[0] for p in clf._predictors]
    width = max(len(p.nodes) for p in preds)
    out = {"feature": np.zeros((len(preds), width), np.int32), "threshold": np.zeros((len(preds), width)),
           "left": np.zeros((len(preds), width), np.int32), "right": np.zeros((len(preds), width), np.int32),
           "value": np.zeros((len(preds), width)), "leaf": np.ones((len(preds), width), bool)}
    for i, p in enumerate(preds):
        nd = p.nodes
        m = len(nd)
        out["feature"][i, :m] = nd["feature_idx"]
        out["threshold"][i, :m] = nd["num_threshold"]
        out["left"][i, :m] = nd["left"]
        out["right"][i, :m] = nd["right"]
        out["value"][i, :m] = nd["value"]
        out["leaf"][i, :m] = nd["is_leaf"]
    out["baseline"] = np.float64(np.ravel(clf._baseline_prediction)[0])
    return out


def save_verifier(path, trees: dict, shift: float, keep_above: float, fingerprint: str, metadata: dict) -> None:
    """Write a verifier atomically as an npz of plain arrays (metadata as JSON text)."""
    import io
    import json

    from .midi_io import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, format=np.array(FORMAT), version=np.int32(1), shift=np.float64(shift),
                        keep_above=np.float64(keep_above), fingerprint=np.array(fingerprint),
                        metadata=np.array(json.dumps(metadata)), n_features=np.int32(N_FEATURES), **trees)
    atomic_write_bytes(Path(path), buf.getvalue())


def read_verifier(path) -> NoteVerifier:
    """Load one verifier file; ValueError/OSError when it is not a readable verifier."""
    import json

    with np.load(Path(path), allow_pickle=False) as z:
        if str(z["format"]) != FORMAT or int(z["n_features"]) != N_FEATURES:
            raise ValueError("not a note verifier for this version of PAR Studio")
        feature, left, right = z["feature"].astype(np.int64), z["left"].astype(np.int64), z["right"].astype(np.int64)
        w = feature.shape[1]
        if feature.min() < 0 or feature.max() >= N_FEATURES or left.min() < 0 or left.max() >= w \
                or right.min() < 0 or right.max() >= w:
            raise ValueError("tree arrays out of range")
        keep_above = float(z["keep_above"])
        if not 0.0 < keep_above < 1.0:
            raise ValueError("threshold out of range")
        return NoteVerifier(feature, z["threshold"].astype(np.float64), left, right, z["value"].astype(np.float64),
                            z["leaf"].astype(bool), float(z["baseline"]), float(z["shift"]), keep_above,
                            str(z["fingerprint"]), json.loads(str(z["metadata"])))


_CACHE: dict = {}


def find_verifier(model, models_dir=None) -> NoteVerifier | None:
    """The verifier trained for ``model``'s very weights among ``models_dir``'s ``*.verifier.npz``
    (default: the shipped models folder); None when there is none. A damaged file is skipped
    with a warning (the decoder then decodes as calibrated)."""
    from .model.checkpoint import MODELS_DIR

    folder = Path(models_dir) if models_dir is not None else MODELS_DIR
    files = sorted(folder.glob("*" + SUFFIX))
    if not files:
        return None
    fp = model_fingerprint(model)  # ~10 ms for PAR; weights may change (training), so not cached
    found = None
    for f in files:
        try:
            st = f.stat()
            key = (str(f), st.st_mtime_ns, st.st_size)
            if key not in _CACHE:
                _CACHE[key] = read_verifier(f)
            v = _CACHE[key]
        except Exception as e:  # noqa: BLE001 - a damaged file must not stop a transcription
            logging.getLogger(__name__).warning("note verifier %s is unreadable (%s: %s); it is not used. "
                                                "Reinstall the models folder to fix it.", f.name, type(e).__name__, e)
            continue
        if v.fingerprint == fp:
            found = v
    return found
