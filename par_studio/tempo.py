"""Tempo, beats and meter of a transcription: the grid that bar lines, quantising and score
export follow.

Notes alone (onsets, pitches, velocities; no audio) are enough, so the estimate is the same on
a transcription, on hand-edited notes and on notes read from a MIDI file.

How (:func:`estimate_meter`):

1. **Events and accents.** Onsets closer than 35 ms are one event. An event's accent grows
   with its number of notes, a note in the bass, its loudness and how long its notes ring
   (the cues of metrical accent in Lerdahl & Jackendoff's preference rules).
2. **Candidate beats.** The autocorrelation tempogram of the accent envelope
   (:func:`par_studio.beat_tracking.mean_tempogram`, equal to ``librosa.feature.tempogram``
   averaged over time) lists the periodicities present; every peak and its relatives by 2, 3,
   3/2 and 4/3 between 40 and 200 beats per minute is a candidate.
3. **Candidates judged by a metrical grid.** For each candidate, the dynamic-programming
   beat tracker of Ellis 2007 (:func:`par_studio.beat_tracking.beat_track`, the same beats as
   ``librosa.beat.beat_track``; it follows tempo drift) places the beats; the grid is then scored by how well it explains the onsets: how much accent falls on
   beats rather than between them, whether the onsets between beats sit on halves/quarters
   (simple meter) or thirds/sixths (compound meter), how many beats are played at all, and a
   log-normal prior on the beat tempo (most written tempi lie between 60 and 160). A figure
   that repeats every three sixteenths (BWV 846) makes a strong periodicity, but its "beats"
   leave the bass notes between them, so the grid at the written tempo wins.
   The chosen tempo is then re-tracked with beat lengths that may change smoothly from beat to
   beat (:mod:`par_studio.tempo_path`, :data:`FOLLOW_TEMPO`), so that the beats follow rubato
   instead of inserting or dropping a beat where the playing slows; the bar is chosen on the
   steady grid.
4. **Bars.** Downbeats are where the harmony changes, the bass enters and long notes start:
   the number of beats per bar (2, 3 or 4) and its phase are chosen by that strength on
   candidate downbeats and by how alike beats one bar apart are (duple: 4 and 8 beats apart;
   triple: 3 and 6), in rhythm inside the beat, harmony and bass.

The tempogram and beat tracker are librosa's algorithms (rather than madmom's, whose beat and
downbeat networks need audio and an unmaintained build): they work on any onset envelope and
the DP tracker is the reference one. They run as NumPy re-implementations in
:mod:`par_studio.beat_tracking`, tested to give librosa's exact beats and candidates, because
importing ``librosa.beat`` compiles numba kernels in every process (about 7 s of CPU and
260 MB before the first beat).
"""

from __future__ import annotations

import weakref

import numpy as np

from .meter import Meter, parse_time_signature  # noqa: F401  (re-exported: the grid type)
from .midi_io import DEFAULT_TEMPO
from .notes import Notes

ENVELOPE_RATE = 100  #: onset envelope frames per second (10 ms)
MIN_ONSETS = 8  #: fewer distinct onsets than this give no estimate
TEMPO_RANGE = (30.0, 300.0)  #: BPM accepted for a typed tempo / folded estimates
BEAT_RANGE = (40.0, 200.0)  #: beats per minute searched
PRIOR_BPM = 110  #: centre of the log-normal prior on the beat tempo
PRIOR_OCTAVES = 0.75  #: its standard deviation, in octaves
MAX_SECONDS = 300.0  #: only the first 5 minutes are analysed
CHORD_S = 0.035  #: onsets closer than this are one event
W_LONG = 0.5  #: weight of long notes struck on a beat in the downbeat strength
W_CHANGE = 1.0  #: weight of harmonic change into a beat in the downbeat strength
W_LOW = 0.5  #: weight of a low bass note on a beat in the downbeat strength
W_FIRST = 0.1  #: prior for the first played beat being a downbeat
#: weight of bar-periodicity against downbeat strength when choosing the bar. 0.7 (was 1.0):
#: the bundled example transcribed by PAR read 3/4 (beats three apart happened to be more
#: alike); at 0.7 both shipped presets give 4/4, ASAP bar length right 16 -> 18/35 (--quick)
#: and bar type 31 -> 32/49, music21 set time signature 62 -> 61/144, extremes 27 -> 25/96
W_REPEAT = 0.7
BASS_WINDOW_S = 0.6  #: a bass note is the lowest struck within this many seconds either side
W_CONTRAST, W_FIT, W_OCC = 1.5, 2.0, 2.0  #: weights of the grid's scores (see _score)
#: re-track the chosen tempo along a smooth tempo path (beats follow rubato). On 35 ASAP
#: performances with annotated downbeats (benchmarks/bench_asap_scores.py --quick): bars right
#: throughout 4/35 against 1/35 for the steady grid, downbeats found 297/675 against 250/675;
#: benchmarks/bench_tempo.py: first downbeat on a bar line 98/144 against 79/144
FOLLOW_TEMPO = True
FOLLOW_LEVEL = 0.1  #: the followed beats' median length within this fraction of the chosen beat's


# --------------------------------------------------------------------------- events
def _events(notes: Notes):
    """Group onsets closer than CHORD_S. Returns (times (E,) s, accent (E,), pitch-class sets
    as (E, 12) bool, lowest pitch (E,), longest note (E,) s)."""
    n = notes.sorted()
    on = n.onset
    new = np.concatenate([[True], np.diff(on) > CHORD_S])
    group = np.cumsum(new) - 1
    E = int(group[-1]) + 1
    times = np.full(E, np.inf)
    np.minimum.at(times, group, on)
    size = np.bincount(group, minlength=E).astype(float)
    vel = np.zeros(E)
    np.maximum.at(vel, group, n.velocity / 127.0)
    dur = np.zeros(E)
    np.maximum.at(dur, group, np.clip(n.offset - n.onset, 0, 4.0))
    low = np.full(E, 128)
    np.minimum.at(low, group, n.pitch.astype(int))
    pcs = np.zeros((E, 12), bool)
    pcs[group, n.pitch.astype(int) % 12] = True
    # bass: the event's lowest note is the lowest one struck within ±BASS_WINDOW_S (a bass
    # note marks a beat); half as much when it is only in the lower third of all pitches
    lo = np.searchsorted(times, times - BASS_WINDOW_S)
    hi = np.searchsorted(times, times + BASS_WINDOW_S, side="right")
    local_min = np.array([low[a:b].min() for a, b in zip(lo, hi)])
    bass = np.where(low <= local_min, 1.0, 0.0) + 0.5 * (low <= np.percentile(n.pitch, 33))
    rel_vel = vel / max(np.median(vel), 1e-3)
    rel_dur = np.log1p(dur / max(np.median(dur), 1e-3))
    accent = 1.0 + 0.5 * np.minimum(size - 1, 3) + 1.0 * bass + 0.5 * np.clip(rel_vel - 1, -0.5, 1) \
        + 0.3 * rel_dur
    return times, accent, pcs, low, dur


def accent_envelope(times: np.ndarray, weights: np.ndarray, rate: int = ENVELOPE_RATE) -> np.ndarray:
    """(n_frames,) float32 envelope at ``rate`` frames/s: ``weights`` summed at ``times`` (s),
    smoothed by a 30 ms triangle so that slightly spread chords count as one attack."""
    n = int(np.ceil(float(times.max()) * rate)) + 4
    env = np.zeros(n, np.float64)
    np.add.at(env, np.round(times * rate).astype(np.int64), weights)
    return np.convolve(env, [0.5, 1.0, 0.5], mode="same").astype(np.float32)


def onset_envelope(notes: Notes, rate: int = ENVELOPE_RATE) -> np.ndarray:
    """(n_frames,) float32: summed onset velocity/127 per ``1/rate`` s frame, smoothed."""
    return accent_envelope(notes.onset, notes.velocity / 127.0, rate)


# --------------------------------------------------------------------------- candidates
def _candidates(env: np.ndarray) -> list[float]:
    """Beat tempi (BPM) worth testing: tempogram peaks and their simple-ratio relatives."""
    from .beat_tracking import mean_tempogram

    win = int(min(len(env), 8 * ENVELOPE_RATE))
    # = librosa.feature.tempogram(onset_envelope=env, hop_length=1, win_length=...).mean(axis=1)
    # without importing librosa (2.4 s of CPU and 250 MB in the transcribe process)
    ac = mean_tempogram(env, max(win, 16))
    lags = np.arange(len(ac))
    peaks = [l for l in range(2, len(ac) - 1) if ac[l] >= ac[l - 1] and ac[l] > ac[l + 1]
             and ac[l] > 0.1 * ac[1:].max()]
    peaks = sorted(peaks, key=lambda l: -ac[l])[:8]
    cands = set()
    for l in peaks:
        # refine the lag by parabolic interpolation
        a, b, c = ac[l - 1], ac[l], ac[l + 1]
        d = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        bpm = 60.0 * ENVELOPE_RATE / (lags[l] + d)
        for f in (1, 2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 3 / 2, 2 / 3, 4 / 3, 3 / 4):
            v = bpm * f
            if BEAT_RANGE[0] <= v <= BEAT_RANGE[1]:
                cands.add(round(v, 1))
    # merge near-duplicates (within 2 %)
    out: list[float] = []
    for v in sorted(cands):
        if not out or v / out[-1] > 1.02:
            out.append(v)
    return out


def _track(env: np.ndarray, bpm: float) -> np.ndarray:
    """Beat times (s) at about ``bpm`` following drift: librosa's DP beat tracker
    (``beat_track(..., bpm=bpm, tightness=400, trim=False)``), same frames, as re-implemented in
    NumPy by :mod:`par_studio.beat_tracking` (importing ``librosa.beat`` compiles numba
    kernels: about 7 s of CPU in every process)."""
    from .beat_tracking import beat_track

    frames = beat_track(env, bpm, ENVELOPE_RATE, tightness=400, trim=False)
    return np.asarray(frames, np.float64) / ENVELOPE_RATE


def _track_following(env: np.ndarray, bpm: float) -> np.ndarray:
    """Beat times (s) near ``bpm`` whose lengths follow the performance's tempo smoothly
    (:func:`par_studio.tempo_path.track_tempo_path`)."""
    from .tempo_path import track_tempo_path

    return track_tempo_path(env, bpm, ENVELOPE_RATE).astype(np.float64) / ENVELOPE_RATE


def _trim_edges(beats: np.ndarray, tolerance: float = 0.08) -> np.ndarray:
    """Drop first/last beats whose spacing differs from the median by more than
    ``tolerance`` (the tracker pulls its edge beats towards the first and last onsets)."""
    b = np.asarray(beats, np.float64)
    while len(b) > 4:
        med = np.median(np.diff(b))
        if abs((b[-1] - b[-2]) / med - 1) > tolerance:
            b = b[:-1]
        elif abs((b[1] - b[0]) / med - 1) > tolerance:
            b = b[1:]
        else:
            break
    return b


def _phase(times: np.ndarray, beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each event inside its beat, 0..1 (E,), and the beat's index (E,)."""
    if len(beats) < 2:
        return np.zeros(len(times)), np.zeros(len(times), int)
    step = np.diff(beats)
    ext = np.concatenate([[beats[0] - step[0]], beats, [beats[-1] + step[-1]]])
    idx = np.clip(np.searchsorted(ext, times, side="right") - 1, 0, len(ext) - 2)
    frac = (times - ext[idx]) / (ext[idx + 1] - ext[idx])
    return frac, idx


def _near(frac: np.ndarray, grid: np.ndarray, tol: np.ndarray) -> np.ndarray:
    d = np.abs(frac[:, None] - grid[None, :]).min(axis=1)
    return d <= tol


def _score(times, accent, beats, bpm):
    """How well a beat grid explains the events: (score, division, details)."""
    if len(beats) < 4:
        return -np.inf, 2, {}
    frac, _ = _phase(times, beats)
    period = 60.0 / bpm
    tol = np.full(len(times), 0.04 / period + 0.03)  # 40 ms + 3 % of a beat
    on_beat = _near(frac, np.array([0.0, 1.0]), tol)
    w = accent / accent.sum()
    # metrical accent: events on beats carry more accent than events between them
    mean_acc = float(accent.mean())
    off = ~on_beat
    contrast = 0.0
    if on_beat.any() and off.any():
        contrast = float(accent[on_beat].mean() - accent[off].mean()) / mean_acc * min(1.0, 4 * off.mean())
    # subdivisions: each grid point catches a quarter of its spacing either side at most,
    # so the finer sextuple grid has no more chance hits than the quadruple one
    t4, t6 = np.minimum(tol, 0.25 / 4), np.minimum(tol, 0.25 / 6)
    fit2 = float(w[_near(frac, np.arange(0, 1.01, 0.25), t4)].sum())
    fit3 = float(w[_near(frac, np.arange(0, 1.01, 1 / 6), t6)].sum())
    fit3_only = float(w[_near(frac, np.array([1 / 3, 2 / 3]), t6)].sum())
    fit2_only = float(w[_near(frac, np.array([0.5]), t4)].sum())
    compound = fit3_only > 1.3 * fit2_only and fit3 > fit2 + 0.02
    fit = fit3 if compound else fit2
    # how many beats are played at all (a beat level far below the music has empty beats)
    span = (beats >= times.min() - 0.05) & (beats <= times.max() + 0.05)
    bt = beats[span]
    occ = float(np.mean(np.abs(bt[:, None] - times[None, :]).min(axis=1) <= 0.05 + 0.06 * period)) \
        if len(bt) else 0.0
    eff_bpm = bpm
    prior = -0.5 * (np.log2(eff_bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2
    score = W_CONTRAST * contrast + W_FIT * fit + W_OCC * occ + prior
    return score, (3 if compound else 2), dict(contrast=contrast, fit2=fit2, fit3=fit3,
                                               occ=occ, prior=prior)


def _bars(times, pcs, low, accent, beats, beats_per_bar_options=(2, 3, 4), dur=None):
    """(beats per bar, index of the first downbeat) from harmonic change and bass accents."""
    if len(beats) < 4:
        return 4, 0
    _, idx = _phase(times, beats)
    nb = len(beats) + 2
    chroma = np.zeros((nb, 12))
    np.add.at(chroma, idx, pcs.astype(float))
    chroma = chroma[1:-1]
    bass_acc = np.zeros(nb)
    lowest = np.full(nb, 128)
    np.minimum.at(lowest, idx, low)
    np.add.at(bass_acc, idx, accent)
    bass_acc = bass_acc[1:-1]
    lowest = lowest[1:-1]
    # harmonic change into each beat: 1 - cosine similarity of the pitch classes sounding
    norm = np.linalg.norm(chroma, axis=1) + 1e-9
    sim = (chroma[1:] * chroma[:-1]).sum(1) / (norm[1:] * norm[:-1])
    change = np.concatenate([[0.0], 1.0 - sim])
    played = chroma.sum(1) > 0
    lowness = np.where(lowest < 128, (np.median(lowest[lowest < 128]) - lowest) / 12.0, 0.0) \
        if (lowest < 128).any() else np.zeros(len(lowest))
    strength = W_CHANGE * change + W_LOW * np.clip(lowness, -1, 1) \
        + 0.2 * bass_acc / max(bass_acc.max(), 1e-9)
    frac, _ = _phase(times, beats)
    if dur is not None and len(beats) > 1:
        # long notes start on strong beats: the longest note struck near each beat, in beats
        near = (frac < 0.15) | (frac > 0.85)
        longest = np.zeros(nb)
        np.maximum.at(longest, idx[near], dur[near] / np.median(np.diff(beats)))
        strength = strength + W_LONG * np.log1p(np.minimum(longest[1:-1], 4.0))
    strength = np.where(played, strength, 0.0)
    # bars repeat: how alike beats m and 2m apart are (rhythm inside the beat, harmony, bass)
    rhythm = np.zeros((nb, 12))
    np.add.at(rhythm, (idx, np.round(frac * 12).astype(int) % 12), accent)
    bass_pc = np.zeros((nb, 12))
    has = lowest < 128
    rows = np.flatnonzero(has)
    bass_pc[1:-1][rows, lowest[rows] % 12] = 1.0
    feats = [rhythm[1:-1], chroma, bass_pc[1:-1]]
    F = np.concatenate([f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-9) for f in feats], axis=1)

    def alike(lag):
        if len(F) <= lag + 1:
            return 0.0
        a, b = F[:-lag], F[lag:]
        ok = played[:-lag] & played[lag:]
        if not ok.any():
            return 0.0
        return float(((a * b).sum(1) / len(feats))[ok].mean())

    # duple (2, 4 beats) against triple (3): a bar of 2 repeats at 4 beats too, so both
    # duple lengths share one figure and the downbeat strength chooses between them
    duple, triple = alike(4) + alike(8), alike(3) + alike(6)
    periodic = {m: triple if m == 3 else duple for m in beats_per_bar_options}
    mean_p = np.mean(list(periodic.values()))
    first_played = int(np.argmax(played)) if played.any() else -1
    best = (-np.inf, 4, 0)
    for m in beats_per_bar_options:
        for ph in range(m):
            sel = strength[ph::m]
            rest = np.delete(strength, np.arange(ph, len(strength), m))
            if len(sel) < 2 or len(rest) < 1:
                continue
            s = float(sel.mean() - rest.mean()) + W_REPEAT * (periodic[m] - mean_p)
            # prefer 4 over 2 when equal (a tie means the pattern repeats each half bar)
            s += {2: 0.0, 3: 0.0, 4: 0.02}[m]
            # most pieces begin on a downbeat (fewer with an upbeat): a weak prior for it
            if first_played >= 0 and (first_played - ph) % m == 0:
                s += W_FIRST
            if s > best[0]:
                best = (s, m, ph)
    return best[1], best[2]


_last: tuple = (None, None)  #: (weakref to the Notes last estimated, its Meter)


def estimate_meter(notes: Notes) -> Meter | None:
    """The metrical grid (beats, tempo, time signature, first downbeat) that best explains
    ``notes``; None when there are fewer than :data:`MIN_ONSETS` distinct onsets. The last
    result is remembered for the same ``notes`` object (notes are replaced, never changed in
    place), so asking again for its tempo costs nothing."""
    global _last
    ref, cached = _last
    if ref is not None and ref() is notes:
        return cached
    meter = _estimate_meter(notes)
    try:
        _last = (weakref.ref(notes), meter)
    except TypeError:
        pass
    return meter


def _estimate_meter(notes: Notes) -> Meter | None:
    if len(notes) == 0:
        return None
    notes = notes.take(notes.onset < MAX_SECONDS)
    if len(np.unique(np.round(notes.onset, 2))) < MIN_ONSETS:
        return None
    times, accent, pcs, low, dur = _events(notes)
    if len(times) < MIN_ONSETS:
        return None
    env = accent_envelope(times, accent)
    best = None
    for bpm in _candidates(env):
        beats = _track(env, bpm)
        score, div, _ = _score(times, accent, beats, bpm)
        if best is None or score > best[0]:
            best = (score, bpm, div, beats)
    if best is None or not np.isfinite(best[0]):
        return None
    _, bpm, div, beats = best
    beats = _trim_edges(beats)
    per_bar, ph = _bars(times, pcs, low, accent, beats, dur=dur)
    if FOLLOW_TEMPO and len(beats) > 4:
        # the bar (beats per bar, first downbeat) is chosen on the steady grid; the beats
        # drawn and exported follow the performance's tempo from that downbeat on
        beat_s = float(np.median(np.diff(beats)))
        follow = _trim_edges(_track_following(env, 60.0 / beat_s))
        # the path may settle on a competing periodicity inside its range (BWV 846's figure
        # of three sixteenths, 3/4 of the beat): keep it only at the chosen beat level
        if len(follow) > 4 and abs(np.log(np.median(np.diff(follow)) / beat_s)) < np.log(1 + FOLLOW_LEVEL):
            j = int(np.argmin(np.abs(follow - beats[ph])))
            beats, ph = follow, j % per_bar
    local = float(60.0 / np.median(np.diff(beats))) if len(beats) > 2 else bpm
    # bar 1 is the music's first full bar, however late the tracked beats begin
    return Meter(round(local, 1), per_bar, div, beats, ph).first_bar_at(float(times.min()))


def estimate_tempo(notes: Notes, start_bpm: float = 120.0) -> float | None:
    """Quarter notes per minute (rounded to 0.1) of :func:`estimate_meter`'s grid, or None
    when the notes are too few to judge. (``start_bpm`` is kept for callers; unused.)"""
    m = estimate_meter(notes)
    return None if m is None else round(m.quarter_bpm, 1)


def is_auto_tempo(value) -> bool:
    """Whether a tempo setting asks for the estimate: "auto", None or 0."""
    return value is None or (isinstance(value, str) and value.strip().lower() == "auto") or value == 0


def resolve_tempo(value, notes: Notes, default: float = DEFAULT_TEMPO) -> float:
    """The MIDI tempo to write: ``value`` as BPM, or for "auto"/None/0 the estimate (``default``
    when the notes are too few to estimate from)."""
    if is_auto_tempo(value):
        est = estimate_tempo(notes)
        return est if est is not None else float(default)
    return float(value)


def resolve_meter(tempo=None, notes: Notes | None = None, time_signature: str | None = None,
                  end_s: float | None = None, estimate: Meter | None = None,
                  first_onset: float | None = None) -> Meter:
    """The grid to export and draw: the estimate (``estimate``, else from ``notes``) when
    ``tempo`` is "auto"/None/0 and no ``time_signature`` is given; otherwise a steady grid at
    the typed tempo (quarter notes per minute; the estimate's, else 120, when "auto") in
    ``time_signature`` (the estimate's, else 4/4), its first bar line on the estimated downbeat,
    else on the first note. Beats cover 0 s to ``end_s``."""
    auto = is_auto_tempo(tempo)
    has_notes = notes is not None and len(notes) > 0
    est = estimate if estimate is not None else (estimate_meter(notes) if has_notes else None)
    if first_onset is None:
        first_onset = float(notes.onset.min()) if has_notes else 0.0
    end = end_s if end_s is not None else (float(notes.offset.max()) + 1.0 if has_notes else 60.0)
    if auto and time_signature is None and est is not None:
        return est.extended(end)
    bpm = float(tempo) if not auto else (est.quarter_bpm if est is not None else DEFAULT_TEMPO)
    ts = time_signature or (est.time_signature if est is not None else "4/4")
    start = est.downbeat_s if est is not None else first_onset
    return Meter.regular(bpm, ts, start, end).extended(end)
