"""Dynamic-programming beat tracker (Ellis 2007) for a fixed tempo, and the time-averaged
autocorrelation tempogram that proposes its tempi (:func:`mean_tempogram`), in plain NumPy.

It places beats on an onset envelope exactly as ``librosa.beat.beat_track(onset_envelope=env,
sr=rate, hop_length=1, bpm=bpm, tightness=..., trim=...)`` does in librosa 0.11 (same frames;
``tests/test_beat_tracking.py`` checks that), but without numba: importing ``librosa.beat``
compiles numba kernels in every process (about 7.5 s of CPU and 260 MB of memory), which made
each ``par-studio transcribe`` pay far more for its tempo estimate than for the transcription.

The algorithm, for an envelope ``env`` of ``N`` frames at ``rate`` frames/s and a tempo of
``bpm`` beats per minute, i.e. ``P = round(60 * rate / bpm)`` frames per beat:

1. **Local score.** ``env`` divided by its standard deviation, then smoothed by a Gaussian of
   ``2P + 1`` taps (standard deviation ``P / 32`` frames). As in librosa, frame 0 of the
   envelope never contributes (its convolution loop stops one tap short).
2. **Dynamic programme.** ``cumscore[i] = localscore[i] + max over d in [round(P/2), 2P] of
   (cumscore[i - d] - tightness * log(d / P) ** 2)``; the nearest predecessor wins ties. Until
   the first frame whose local score reaches 1 % of the maximum, frames get no back-link (the
   first beat starts a chain). Frames ``i .. i + round(P/2) - 1`` only look at frames before
   ``i``, so each block of ``round(P/2)`` frames is one vectorised step.
3. **Last beat.** The last local maximum of ``cumscore`` that is at least half the median of
   its local maxima; the beats are its chain of back-links.
4. **Trim.** Beats at the start and end where the local score is zero (``trim=False``) or below
   half the RMS of the smoothed beat scores (``trim=True``) are dropped.

Floating-point operations follow librosa's order (sequential convolution sums, libm ``log`` and
``exp``) so that near-ties are broken the same way.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["beat_track", "frames_per_beat", "mean_tempogram"]


def frames_per_beat(bpm: float, rate: float) -> int:
    """Beat period in whole frames: ``round(60 * rate / bpm)`` (at least 1)."""
    return max(int(np.round(float(rate) * 60.0 / float(bpm))), 1)


def _local_score(norm: np.ndarray, period: int) -> np.ndarray:
    """(N,) float64: ``norm`` (N,) smoothed by a Gaussian of 2*period+1 taps, 'same' mode,
    summed tap by tap in librosa's order (env[0] excluded, as in librosa 0.11)."""
    n = len(norm)
    taps = 2 * period + 1
    half = taps // 2
    window = [math.exp(-0.5 * ((k - period) * 32.0 / period) ** 2) for k in range(taps)]
    out = np.zeros(n, np.float64)
    i = np.arange(n)
    for k in range(taps):
        # out[i] += window[k] * norm[i + half - k] for 1 <= i + half - k <= n - 1
        lo = max(0, k - half + 1)   # i >= k - half + 1
        hi = min(n, n + k - half)   # i <= n - 1 - half + k
        if lo >= hi:
            continue
        src = i[lo:hi] + half - k
        out[lo:hi] += window[k] * norm[src]
    return out


def _dp(local: np.ndarray, period: int, tightness: float) -> tuple[np.ndarray, np.ndarray]:
    """Back-links (N,) int (-1 = none) and cumulative scores (N,) float64 of the DP."""
    n = len(local)
    near = int(np.round(period / 2))  # shortest step (frames); np.round: half to even
    near = max(near, 1)
    far = 2 * period                  # longest step (frames)
    steps = np.arange(near, far + 1)  # d, nearest first: argmax picks the nearest on ties
    log_p = math.log(float(period))
    tight = float(np.float32(tightness))
    penalty = np.array([tight * ((math.log(d) - log_p) * (math.log(d) - log_p)) for d in steps])
    # buf[j + far] = cumscore[j]; cumscore[<0] = -inf (no predecessor before the start)
    buf = np.full(n + far, -np.inf)
    backlink = np.full(n, -1, np.int64)
    width = far - near + 1
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)  # windows[i] = locs i-far..i-near
    for t in range(0, n, near):
        u = min(t + near, n)
        scores = windows[t:u, ::-1] - penalty           # (u - t, width): step d = near .. far
        best = np.argmax(scores, axis=1)
        best_score = scores[np.arange(u - t), best]
        rows = np.arange(t, u)
        ok = rows - near >= 0                           # at least one predecessor exists
        buf[t + far:u + far] = np.where(ok, local[t:u] + np.where(ok, best_score, 0.0), local[t:u])
        backlink[t:u] = np.where(ok, rows - steps[best], -1)
    cumscore = buf[far:]
    # no back-link before the first frame whose local score reaches 1 % of the maximum
    strong = np.flatnonzero(local >= 0.01 * local.max())
    first = int(strong[0]) if len(strong) else n
    backlink[:first] = -1
    return backlink, cumscore


def _local_score_varying(norm: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """(N,) float64: like :func:`_local_score`, but frame ``i`` is smoothed by the Gaussian of
    its own period ``periods[i]`` (librosa's time-varying local score). Frames sharing a period
    are computed together, tap by tap in librosa's order."""
    n = len(norm)
    out = np.zeros(n, np.float64)
    for period in np.unique(periods):
        rows = np.flatnonzero(periods == period)
        p = int(period)
        taps = 2 * p + 1
        half = taps // 2
        for k in range(taps):
            w = math.exp(-0.5 * ((k - p) * 32.0 / p) ** 2)
            src = rows + half - k
            ok = (src >= 1) & (src <= n - 1)  # frame 0 never contributes, as in librosa
            out[rows[ok]] += w * norm[src[ok]]
    return out


def _dp_varying(local: np.ndarray, periods: np.ndarray, tightness: float):
    """Back-links and cumulative scores of the DP with a period per frame (librosa 0.11's
    time-varying mode): frame ``i`` looks back ``round(P_i/2) .. 2 P_i`` frames with the
    penalty ``tightness * log(d / P_i) ** 2``; the nearest predecessor wins ties. Blocks of
    frames whose searches end before the block starts are one vectorised step."""
    n = len(local)
    periods = np.asarray(periods, np.int64)
    near = np.maximum(np.round(periods / 2.0).astype(np.int64), 1)  # half to even, as np.round
    far = 2 * periods
    tight = float(np.float32(tightness))
    log_p = np.log(periods.astype(np.float64))
    cum = np.zeros(n, np.float64)
    backlink = np.full(n, -1, np.int64)
    t = 0
    while t < n:
        # rows t .. u-1 only look at frames < t: u - 1 - near[u-1] < t for all rows
        u = t + 1
        while u < n and u - t < near[u]:
            u += 1
        rows = np.arange(t, u)
        d_max = int(far[t:u].max())
        d = np.arange(int(near[t:u].min()), d_max + 1)          # steps, nearest first
        loc = rows[:, None] - d[None, :]
        ok = (loc >= 0) & (d[None, :] >= near[t:u, None]) & (d[None, :] <= far[t:u, None])
        logd = np.log(d.astype(np.float64))
        diff = logd[None, :] - log_p[t:u, None]
        scores = np.where(ok, cum[np.clip(loc, 0, n - 1)] - tight * (diff * diff), -np.inf)
        best = np.argmax(scores, axis=1)
        best_score = scores[np.arange(u - t), best]
        has = np.isfinite(best_score)
        cum[t:u] = np.where(has, local[t:u] + np.where(has, best_score, 0.0), local[t:u])
        backlink[t:u] = np.where(has, rows - d[best], -1)
        t = u
    strong = np.flatnonzero(local >= 0.01 * local.max())
    first = int(strong[0]) if len(strong) else n
    backlink[:first] = -1
    return backlink, cum


def _last_beat(cumscore: np.ndarray) -> int:
    """Index of the last local maximum of ``cumscore`` reaching half their median (else the
    last frame)."""
    n = len(cumscore)
    peak = np.zeros(n, bool)
    if n >= 3:
        peak[1:-1] = (cumscore[1:-1] > cumscore[:-2]) & (cumscore[1:-1] >= cumscore[2:])
    if n >= 2:
        peak[-1] = cumscore[-1] > cumscore[-2]
    if not peak.any():
        return n - 1
    threshold = 0.5 * float(np.ma.median(np.ma.masked_array(cumscore, mask=~peak)))
    good = np.flatnonzero(peak & (cumscore >= threshold))
    return int(good[-1]) if len(good) else n - 1


def beat_track(env: np.ndarray, bpm, rate: float, tightness: float = 100.0,
               trim: bool = False) -> np.ndarray:
    """Beat frames (B,) int64, ascending, on onset envelope ``env`` (N,) at ``rate`` frames/s
    for a tempo of about ``bpm`` beats per minute; ``tightness`` is how strongly beat
    intervals are held to that tempo (librosa's default 100; 400 holds them closely).

    ``bpm`` is one tempo, or an (N,) array with a tempo for every frame (librosa 0.11's
    time-varying mode: frame ``i``'s local score window and predecessor search use the period
    of frame ``i``), so that beats follow a performance's tempo changes.

    Same result as ``librosa.beat.beat_track(onset_envelope=env, sr=rate, hop_length=1,
    bpm=bpm, tightness=tightness, trim=trim)[1]``. An envelope with no onset (all zero) or
    whose only onset is in frame 0 gives no beats.
    """
    env = np.asarray(env)
    if env.ndim != 1:
        raise ValueError(f"onset envelope must be one-dimensional, got shape {env.shape}")
    if not np.issubdtype(env.dtype, np.floating):
        env = env.astype(np.float64)
    bpm_arr = np.asarray(bpm, np.float64)
    varying = bpm_arr.ndim == 1 and bpm_arr.size > 1
    if varying and bpm_arr.shape != env.shape:
        raise ValueError(f"bpm has shape {bpm_arr.shape}; need one tempo or one per frame {env.shape}")
    if not (np.all(bpm_arr > 0) and np.all(np.isfinite(bpm_arr))):
        raise ValueError(f"bpm={bpm} must be a positive number")
    if not tightness > 0:
        raise ValueError(f"tightness={tightness} must be positive")
    if len(env) < 2 or not env.any():
        return np.zeros(0, np.int64)
    # normalise by the standard deviation, in the envelope's own precision
    norm = env / (env.std(ddof=1) + np.finfo(env.dtype).tiny)
    if varying:
        periods = np.maximum(np.round(float(rate) * 60.0 / bpm_arr), 1).astype(np.int64)
        local = _local_score_varying(norm.astype(np.float64), periods)
        if not (local > 0).any():
            return np.zeros(0, np.int64)
        backlink, cumscore = _dp_varying(local, periods, tightness)
    else:
        period = frames_per_beat(float(bpm_arr.reshape(-1)[0]), rate)
        local = _local_score(norm.astype(np.float64), period)
        if not (local > 0).any():
            return np.zeros(0, np.int64)
        backlink, cumscore = _dp(local, period, tightness)
    beats = []
    k = _last_beat(cumscore)
    while k >= 0:
        beats.append(k)
        k = int(backlink[k])
    beats = np.array(beats[::-1], np.int64)
    if trim:
        mask = np.zeros(len(env), bool)
        mask[beats] = True
        smooth = np.convolve(local[mask], np.hanning(5))[2:len(local) + 2]
        threshold = 0.5 * float(np.sqrt(np.mean(smooth ** 2)))
    else:
        threshold = 0.0
    above = np.flatnonzero(local > threshold)
    if len(above) == 0:
        return np.zeros(0, np.int64)
    return beats[(beats >= above[0]) & (beats <= above[-1])]


def _fast_len(n: int) -> int:
    """Smallest 2·3·5-smooth integer >= n (an FFT length that transforms fast; the length
    ``scipy.fft.next_fast_len(n, real=True)`` gives)."""
    best = 1 << max(int(n - 1).bit_length(), 0)
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def mean_tempogram(env: np.ndarray, win_length: int, chunk: int = 512) -> np.ndarray:
    """(win_length,) float64: ``librosa.feature.tempogram(onset_envelope=env, hop_length=1,
    win_length=win_length).mean(axis=1)`` without librosa (whose import and first call cost
    about 2.5 s of CPU and 250 MB in a process that has not loaded it).

    For each frame of ``env`` (N,): the Hann-windowed (periodic) ``win_length``-frame excerpt
    centred on it (the envelope padded by a linear ramp to 0), its autocorrelation at lags
    0 .. win_length - 1 (frames), divided by its largest absolute value; then the average over
    frames. Done ``chunk`` frames at a time, so memory stays ~``chunk * win_length`` floats
    instead of librosa's (N, win_length) complex spectra. Equal to librosa's up to rounding.
    """
    env = np.asarray(env)
    if not np.issubdtype(env.dtype, np.floating):
        env = env.astype(np.float64)
    win = int(win_length)
    if env.ndim != 1 or win < 1:
        raise ValueError(f"need a 1-D envelope and win_length >= 1 (got {env.shape}, {win_length})")
    n = len(env)
    half = win // 2
    # padded in the envelope's own precision, as librosa does
    padded = np.pad(env, (half, half), mode="linear_ramp", end_values=(0, 0)).astype(np.float64)
    fac = np.linspace(-np.pi, np.pi, win + 1)
    window = (0.5 * np.cos(0 * fac) + 0.5 * np.cos(fac))[:-1]  # scipy's periodic 'hann'
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n]  # (N, win)
    n_fft = _fast_len(2 * win - 1)
    tiny = np.finfo(np.float64).tiny
    total = np.zeros(win, np.float64)
    for start in range(0, n, chunk):
        spec = np.fft.rfft(frames[start:start + chunk] * window, n=n_fft, axis=-1)
        power = spec.real * spec.real + spec.imag * spec.imag
        ac = np.fft.irfft(power, n=n_fft, axis=-1)[:, :win]
        peak = np.abs(ac).max(axis=1, keepdims=True)
        peak[peak < tiny] = 1.0
        total += (ac / peak).sum(axis=0)
    return total / max(n, 1)
