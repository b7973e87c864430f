"""Beats that follow a performance's tempo: dynamic programming over (beat, beat length).

Ellis's tracker (:mod:`par_studio.beat_tracking`) holds every beat interval to one period, so
a ritardando of 10 % over a few bars costs a penalty at every beat until inserting (or
dropping) a whole beat is cheaper, and every bar after is a beat off. Here the state of a
beat is its frame *and its length* (frames since the previous beat), and the cost is on the
*change* of length from one beat to the next, as in the tempo-transition model of Krebs,
Böck & Widmer's bar-pointer DBN (madmom): a gradual slowdown costs little, a sudden jump
much. A weak pull towards the chosen period keeps the path at the same metrical level.

For an onset envelope ``env`` (N,) at ``rate`` frames/s and a beat period ``P`` frames, with
lengths ``d`` in ``D = [P·(1 − spread), P·(1 + spread)]``::

    C[t, d] = local[t] − pull·log²(d / P) + max over d' of (C[t − d, d'] − change·|log(d / d')|)

where ``local`` is the envelope divided by its standard deviation and smoothed by a Gaussian
of ``P / 32`` frames (the same local score as Ellis's). A chain may start at any frame up to
two periods after the first onset; the beats are the best chain ending within a period of
the last onset. Frames ``t .. t + min(D) − 1`` depend only on earlier frames, so each block of
``min(D)`` frames is one vectorised step: O(N · |D|²) work, about 0.1 s for 5 minutes.
"""

from __future__ import annotations

import numpy as np

from .beat_tracking import _local_score, frames_per_beat

#: cost of a change of beat length by a factor e (per beat), against a local score of std 1
CHANGE_COST = 100.0
#: cost of a beat length a factor e away from the chosen period
PULL_COST = 4.0
#: beat lengths searched, as a fraction of the period either side
SPREAD = 0.25

__all__ = ["track_tempo_path"]


def track_tempo_path(env: np.ndarray, bpm: float, rate: float, change: float = CHANGE_COST,
                     pull: float = PULL_COST, spread: float = SPREAD) -> np.ndarray:
    """Beat frames (B,) int64, ascending, on ``env`` (N,) at ``rate`` frames/s near ``bpm``
    beats per minute, each beat length free within ``spread`` of the period and changing
    smoothly (``change``: cost per unit of |log| length ratio between consecutive beats;
    ``pull``: cost per unit of log² ratio to the period). Empty for an envelope without onsets."""
    env = np.asarray(env, np.float64)
    if env.ndim != 1:
        raise ValueError(f"onset envelope must be one-dimensional, got shape {env.shape}")
    if not (np.isfinite(bpm) and bpm > 0):
        raise ValueError(f"bpm={bpm} must be a positive number")
    if len(env) < 2 or not env.any():
        return np.zeros(0, np.int64)
    period = frames_per_beat(bpm, rate)
    local = _local_score(env / (env.std(ddof=1) + 1e-12), period)
    active = np.flatnonzero(local >= 0.01 * local.max())
    if len(active) == 0:
        return np.zeros(0, np.int64)
    lengths = np.arange(max(1, int(round(period * (1 - spread)))), int(round(period * (1 + spread))) + 1)
    K, n = len(lengths), len(local)
    logd = np.log(lengths / period)
    trans = -change * np.abs(logd[:, None] - logd[None, :])  # [new k, previous j]
    drift = -pull * logd ** 2
    start_until = active[0] + 2 * period
    cum = np.full((n, K), -np.inf)
    back = np.full((n, K), -1, np.int64)
    step = int(lengths[0])
    for s in range(0, n, step):
        ts = np.arange(s, min(s + step, n))
        prev_t = ts[:, None] - lengths[None, :]  # (B, K)
        ok = prev_t >= 0
        prev = cum[np.where(ok, prev_t, 0)]  # (B, K, K): cum[prev_t[b, k], j]
        cand = prev + trans[None]
        arg = cand.argmax(axis=2)
        best = np.take_along_axis(cand, arg[..., None], axis=2)[..., 0]
        best = np.where(ok, best, -np.inf)
        fresh = np.where(ts <= start_until, 0.0, -np.inf)[:, None]
        linked = best > fresh
        cum[ts] = local[ts, None] + drift[None, :] + np.where(linked, best, fresh)
        back[ts] = np.where(linked, arg, -1)
    lo = max(0, int(active[-1]) - period)
    t, k = np.unravel_index(int(np.argmax(cum[lo:])), cum[lo:].shape)
    t = int(t) + lo
    beats = []
    while True:
        beats.append(t)
        j = int(back[t, k])
        if j < 0:
            break
        t, k = t - int(lengths[k]), j
    beats = np.array(beats[::-1], np.int64)
    return beats[(beats >= active[0]) & (beats <= active[-1])]
