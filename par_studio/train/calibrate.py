"""Decoding calibration: choose a trained model's state-logit bias on validation data.

Training weights the onset and re-onset states up (``--class-weights``), which makes the
greedy decoder fire onsets too readily (high note recall, low precision). Subtracting the full
prior correction log w is far too much for an autoregressive decoder (measured: note recall
fell from 0.81 to 0.42 at half of it), so the bias is chosen by a small sweep instead: first
the onset bias (onset and re-onset states), then the offset-state bias, which moves note ends
(measured on PARcompact 320 ms, 20 validation pieces: −0.5 raised note+offset F1 from 0.574 to
0.591 at a note F1 cost of 0.003; +0.5 lowered it to 0.435). Only validation pieces are used;
the test set stays untouched until the final evaluation.

Keys are decoded independently and the bias acts only in the decoder, so the acoustic
features of the validation pieces are computed once (:class:`ValidationSet`) and only the
decoder runs again for each bias tried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


from ..model.par import onset_bias
from .evaluate import band_metrics, note_metrics, summarize

#: Onset/re-onset logit biases tried by default (0 = as trained), then refined around the best
#: by ±DEFAULT_REFINE. Measured on the 20 validation pieces: the release candidates gained
#: 0.08 note F1 from 0 to −0.4, and an onset bias of −1.4 lost 85 % of the notes.
DEFAULT_GRID = (0.0, -0.25, -0.5, -0.75)
DEFAULT_REFINE = 0.125
#: Offset-state biases tried after the onset bias is chosen, then refined by ±OFFSET_REFINE.
OFFSET_GRID = (0.0, -0.5, -1.0)
OFFSET_REFINE = 0.25
#: Note-end shifts (seconds, ModelConfig.offset_shift_s) tried last. Measured on PARcompact
#: 320 ms (the session-4 weights, 20 validation pieces): matched notes ended a median 11 ms
#: early; adding 16 ms raised note+offset F1 from 0.673 to 0.686.
SHIFT_GRID = (0.0, 0.008, 0.016, 0.024)


def onset_bias_vector(b: float, offset: float = 0.0) -> tuple[float, ...]:
    """State-logit bias (off, offset, onset, sustain, re-onset): both onset states shifted by
    ``b``, the offset state by ``offset``."""
    v = onset_bias(b)
    v[1] = float(offset)
    return tuple(float(x) for x in v)


def score(overall: dict) -> float:
    """What the sweep maximises: note F1 + note-with-offset F1 (the issue's two targets)."""
    return overall["note"]["f1"] + overall["note_offset"]["f1"]


class ValidationSet:
    """Validation pieces with their acoustic features computed once by ``model``;
    :meth:`evaluate` runs only the decoder, with the model's current state bias, and returns
    what :func:`evaluate_pairs` would (without frame metrics)."""

    def __init__(self, pairs: Sequence, model) -> None:
        from ..audio.io import load_audio
        from ..engine.offline import transcribe
        from ..notes import notes_from_midi

        self.model = model
        self.items = []
        for pair in pairs:
            tr = transcribe(load_audio(pair.audio), model, keep_features=True, verify_notes=False)
            feats = tr.info.get("features")
            if feats is None:
                raise ValueError(f"{pair.audio} is too long to keep its features for calibration")
            self.items.append((feats, notes_from_midi(pair.midi, sustain=True)))

    def evaluate(self) -> dict:
        from ..engine.offline import redecode

        per_file = []
        for feats, ref in self.items:
            est = redecode(feats, self.model, verify_notes=False).notes  # the biases alone
            m = note_metrics(ref, est, frames=False)
            m["frame"] = {"precision": 0.0, "recall": 0.0, "f1": 0.0}  # not computed here
            per_file.append({"metrics": m, "bands": band_metrics(ref, est)})
        return summarize(per_file)


def _sweep(rows: list[dict], trial: Callable[[float], None], key: str, grid: Sequence[float],
           refine: float) -> float:
    """Try each value of ``grid``, then the best ± ``refine``; return the best value of ``key``."""
    for b in grid:
        trial(float(b))
    if refine > 0:
        centre = max(rows, key=lambda r: r["score"])[key]
        for b in (centre - refine, centre + refine):
            trial(round(b, 6))
    return max(rows, key=lambda r: r["score"])[key]


def tune_onset_bias(model, pairs: Sequence, grid: Sequence[float] = DEFAULT_GRID,
                    log: Callable[[str], None] | None = None, refine: float = 0.0,
                    offset_grid: Sequence[float] = (), offset_refine: float = 0.0,
                    evaluate: Callable[[], dict] | None = None
                    ) -> tuple[tuple[float, ...], list[dict]]:
    """Sweep the onset bias over ``grid`` (then the best ± ``refine``), then, with that onset
    bias, the offset-state bias over ``offset_grid`` (then ± ``offset_refine``); leave the best
    bias on the model and return it with one row per point tried ({bias, offset_bias, note_f1,
    note_offset_f1, score}), in the order tried. ``evaluate()`` scores the model as it stands
    (default: a :class:`ValidationSet` of ``pairs``)."""
    if evaluate is None:
        evaluate = ValidationSet(pairs, model).evaluate
    rows: list[dict] = []

    def trial_at(onset: float, offset: float) -> None:
        if any(abs(r["bias"] - onset) < 1e-9 and abs(r["offset_bias"] - offset) < 1e-9 for r in rows):
            return
        model.set_state_bias(onset_bias_vector(onset, offset))
        o = evaluate()["overall"]
        rows.append({"bias": float(onset), "offset_bias": float(offset), "note_f1": o["note"]["f1"],
                     "note_offset_f1": o["note_offset"]["f1"], "score": score(o)})
        if log:
            log(f"onset bias {onset:+.3f}, offset bias {offset:+.3f}: note F1 {o['note']['f1']:.3f}, "
                f"note+offset F1 {o['note_offset']['f1']:.3f}")

    onset = _sweep(rows, lambda b: trial_at(b, 0.0), "bias", grid, refine)
    if offset_grid:
        _sweep(rows, lambda o: trial_at(onset, o), "offset_bias", offset_grid, offset_refine)
    best = max(rows, key=lambda r: r["score"])
    model.set_state_bias(onset_bias_vector(best["bias"], best["offset_bias"]))
    return model.cfg.state_bias, rows


def tune_offset_shift(model, evaluate: Callable[[], dict], grid: Sequence[float] = SHIFT_GRID,
                      log: Callable[[str], None] | None = None) -> tuple[float, list[dict]]:
    """With the model's state bias as it stands, try each note-end shift of ``grid`` (seconds);
    leave the best on the model and return it with one row per shift ({bias, offset_bias,
    offset_shift_s, note_f1, note_offset_f1, score}). Ties keep the smallest shift."""
    rows: list[dict] = []
    b = model.cfg.state_bias
    for s in sorted(float(x) for x in grid):
        model.set_offset_shift(s)
        o = evaluate()["overall"]
        rows.append({"bias": b[2], "offset_bias": b[1], "offset_shift_s": s, "note_f1": o["note"]["f1"],
                     "note_offset_f1": o["note_offset"]["f1"], "score": score(o)})
        if log:
            log(f"note ends +{1000 * s:.0f} ms: note F1 {o['note']['f1']:.3f}, "
                f"note+offset F1 {o['note_offset']['f1']:.3f}")
    best = max(rows, key=lambda r: r["score"])  # max() keeps the first (smallest) of equals
    model.set_offset_shift(best["offset_shift_s"])
    return best["offset_shift_s"], rows
