"""Train and calibrate a note verifier (:mod:`par_studio.verifier`) for one model.

    python -m par_studio.train.verifier_fit --corpus CORPUS --model models/par-compact-320.pt \
        [--files 103] [--out models/par-compact-320.verifier.npz]

The model transcribes ``--files`` training items (spread over ``CORPUS/train``, see
:func:`~.dataset.fit_and_calibration_files`) with its
onset bias loosened by ``--shift``; every proposed onset becomes an example (features:
:func:`candidate_features`; label: it matches a reference note, mir_eval onset ±50 ms and
pitch). A gradient-boosted tree ensemble (scikit-learn HistGradientBoosting) learns them. The
keep-threshold is then chosen on ``CORPUS/calibration`` for the best mean note F1 (mir_eval, as
``par-studio evaluate`` scores), where the calibrated decoder without verifier is scored too.
Features are cached per item in ``--cache`` (default ``CORPUS/.verifier-features/MODEL``).
The verifier is written for the model's very weights (fingerprint): re-calibrating or
re-training the model needs a new verifier.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .dataset import fit_and_calibration_files
from ..verifier import (NoteVerifier, candidate_features, candidates, model_fingerprint, remove_onsets,
                        save_verifier, trees_from_sklearn)

SHIFT = 0.5  #: sensitivity added for the proposals (s15: recall 0.70 → 0.78 at 0.5 on calibration items)
THRESHOLDS = np.round(np.arange(0.15, 0.651, 0.05), 2)


def item_arrays(audio_path: Path, model, shift: float, cache: Path | None) -> dict:
    """{"X": (N, F) proposal features, "y": (N,) bool matched, plus what scoring needs} of one item."""
    from ..audio.io import load_audio
    from ..engine.offline import transcribe
    from ..notes import notes_from_midi
    import mir_eval.transcription as mt

    f = cache / (audio_path.stem + ".npz") if cache else None
    if f is not None and f.exists():
        d = np.load(f)
        return {k: d[k] for k in d.files}
    ref = notes_from_midi(audio_path.with_suffix(".mid"), sustain=True)
    audio = load_audio(audio_path)
    tr = transcribe(audio, model, sensitivity=shift, refine_velocity=False, verify_notes=False)
    X = candidate_features(tr.states, tr.probabilities, tr.velocity, tr.tuning.to_a440(audio))
    est = tr.notes  # in candidates() order: decode() starts a note at every onset frame, by frame
    m = mt.match_notes(ref.intervals(), ref.pitches_hz(), est.intervals(), est.pitches_hz(), offset_ratio=None)
    y = np.zeros(len(est), bool)
    y[[b for _, b in m]] = True
    out = {"X": X, "y": y}
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, **out)
    return out


def fit_trees(X: np.ndarray, y: np.ndarray, seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=31,
                                          l2_regularization=1.0, early_stopping=False,
                                          random_state=seed).fit(X, y)


def calibrate(verifier: NoteVerifier, model, files: list[Path], log=print) -> tuple[float, dict]:
    """Choose the keep-threshold on ``files`` for the best mean note F1; return it and the
    scores {"decoder": {...}, "thresholds": {th: {...}}} (mean note / note+offset /
    note+offset+velocity F1 without velocity refinement)."""
    from ..audio.io import load_audio
    from ..engine.offline import redecode, transcribe
    from dataclasses import replace

    from ..notes import notes_from_midi
    from .evaluate import note_metrics

    def f1s(ref, est):
        m = note_metrics(ref, est, frames=False)
        return [m[k]["f1"] for k in ("note", "note_offset", "note_offset_velocity")]

    base, per_th = [], {float(th): [] for th in THRESHOLDS}
    for i, f in enumerate(files):
        ref = notes_from_midi(f.with_suffix(".mid"), sustain=True)
        audio = load_audio(f)
        plain = transcribe(audio, model, keep_features=True, refine_velocity=False, verify_notes=False)
        base.append(f1s(ref, plain.notes))
        loose = redecode(plain.info["features"], model, verifier.shift, refine_velocity=False, verify_notes=False)
        t, k = candidates(loose.states)
        p = verifier.probability(candidate_features(loose.states, loose.probabilities, loose.velocity,
                                                    plain.tuning.to_a440(audio)))
        for th in per_th:
            s = remove_onsets(loose.states, t, k, p >= th)
            est = replace(loose, states=s).redecode()  # the app's decoder, on the recording's clock
            per_th[th].append(f1s(ref, est))
        log(f"\rcalibration {i + 1}/{len(files)}", end="")
    log("")
    names = ("note_f1", "note_offset_f1", "note_offset_velocity_f1")
    mean = lambda rows: {n: round(float(v), 4) for n, v in zip(names, np.mean(rows, axis=0))}  # noqa: E731
    scores = {"decoder": mean(base), "thresholds": {th: mean(r) for th, r in per_th.items()}}
    best = max(per_th, key=lambda th: (scores["thresholds"][th]["note_f1"], -th))
    return best, scores


def score_heldout(model, verifier: NoteVerifier, folder: Path, decoder: bool = True) -> tuple[dict, dict]:
    """Mean F1s (with the velocity refiner, as the app) of ``folder``'s pairs, the decoder alone
    (unless not ``decoder``) and with ``verifier``; and the latter's {"files", "overall",
    "bands"} (as eval.json keeps them)."""
    from .dataset import dir_pairs
    from .evaluate import evaluate_pairs

    pairs = dir_pairs(folder)
    out, full = {}, {}
    for key, v in (("decoder", False), ("verified", verifier))[0 if decoder else 1:]:
        res = evaluate_pairs(pairs, model, verify_notes=v)
        out[key] = {m: round(res["overall"][m]["f1"], 4) for m in ("note", "note_offset", "note_offset_velocity")}
        full = {k: res[k] for k in ("files", "overall", "bands")}
    return out, full


def record_in_eval(eval_json: Path, keep_above: float, shift: float, calibration: dict, heldout: dict) -> None:
    """Add the verifier's figures to the model's ``NAME.eval.json`` (when it is there) as
    "note_check" and redraw the card's figures (:func:`par_studio.train.ship.update_card`)."""
    from ..midi_io import atomic_write_bytes
    from .ship import update_card

    if not eval_json.is_file():
        return
    r = json.loads(eval_json.read_text())
    r["note_check"] = {"shift": shift, "keep_above": keep_above, "calibration": calibration, "heldout": heldout}
    atomic_write_bytes(eval_json, json.dumps(r, indent=2).encode())
    update_card(eval_json.parent)


def rescore(model, model_path: Path, path: Path, specs: list[str]) -> int:
    from ..verifier import read_verifier

    v = read_verifier(path)
    if v.fingerprint != model_fingerprint(model):
        print(f"error: {path.name} was made for other weights or biases than {model_path.name}", file=sys.stderr)
        return 2
    full = {}
    for spec in specs:
        name, _, d = spec.partition("=")
        f1, full[name] = score_heldout(model, v, Path(d), decoder=False)
        print(f"{name}: note / note+offset / +velocity F1 " + " / ".join(
            f"{f1['verified'][m]:.3f}" for m in ("note", "note_offset", "note_offset_velocity")), flush=True)
    record_in_eval(path.parent / f"{model_path.stem}.eval.json", v.keep_above, v.shift,
                   v.metadata.get("calibration", {}), full)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.verifier_fit", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, type=Path, help="corpus v2 folder (train/ and calibration/)")
    p.add_argument("--model", required=True, type=Path, help="the checkpoint the verifier is for")
    p.add_argument("--files", type=int, default=103, help="training items (103: every 4th of the first 412)")
    p.add_argument("--out", type=Path, default=None, help="default: MODEL with .verifier.npz")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--shift", type=float, default=SHIFT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--heldout", action="append", default=[], metavar="NAME=DIR",
                   help="also score this held-out set with and without the verifier (repeatable)")
    p.add_argument("--rescore", action="store_true",
                   help="no training: score the --heldout sets with the verifier already in --out "
                        "(made for these very weights) and record them in the model's eval.json")
    a = p.parse_args(argv)
    from ..model.checkpoint import load_checkpoint

    torch.set_num_threads(a.threads)
    model, _ = load_checkpoint(a.model)
    out = a.out or a.model.with_name(a.model.stem + ".verifier.npz")
    if a.rescore:
        return rescore(model, a.model, out, a.heldout)
    cache = a.cache or a.corpus / ".verifier-features" / f"{a.model.stem}-{model_fingerprint(model)}-{a.shift}"
    files, cal_files = fit_and_calibration_files(a.corpus, a.files)
    if not files or not cal_files:
        print(f"error: {a.corpus} needs train/ and calibration/ items (par-studio build-corpus-v2)", file=sys.stderr)
        return 2
    t0 = time.time()
    items = []
    for i, f in enumerate(files):
        items.append(item_arrays(f, model, a.shift, cache))
        print(f"\rfeatures {i + 1}/{len(files)}", end="", flush=True)
    print()
    X = np.concatenate([it["X"] for it in items])
    y = np.concatenate([it["y"] for it in items])
    print(f"{len(y)} proposals ({y.mean():.1%} real) from {len(items)} items; fitting")
    clf = fit_trees(X, y, a.seed)
    trees = trees_from_sklearn(clf)
    fp = model_fingerprint(model)
    verifier = NoteVerifier(trees["feature"], trees["threshold"], trees["left"], trees["right"], trees["value"],
                            trees["leaf"], float(trees["baseline"]), a.shift, 0.5, fp)
    gap = np.abs(verifier.probability(X[:2000]) - clf.predict_proba(X[:2000])[:, 1]).max()
    if gap > 1e-6:
        print(f"error: the exported trees disagree with scikit-learn ({gap:.2g})", file=sys.stderr)
        return 1
    keep_above, scores = calibrate(verifier, model, cal_files)
    chosen = scores["thresholds"][keep_above]
    print(f"calibration set ({len(cal_files)} items): decoder note / note+offset F1 "
          f"{scores['decoder']['note_f1']:.4f} / {scores['decoder']['note_offset_f1']:.4f}; verified "
          f"(keep p >= {keep_above}) {chosen['note_f1']:.4f} / {chosen['note_offset_f1']:.4f}")
    verifier.keep_above = keep_above
    heldout, full = {}, {}
    for spec in a.heldout:
        name, _, d = spec.partition("=")
        heldout[name], full[name] = score_heldout(model, verifier, Path(d))
        print(f"{name}: " + "; ".join(f"{k} note / note+offset / +velocity F1 " + " / ".join(
            f"{heldout[name][k][m]:.3f}" for m in ("note", "note_offset", "note_offset_velocity"))
            for k in ("decoder", "verified")))
    meta = {"model": a.model.name, "trained_on": f"corpus v2 train, {len(items)} items, {len(y)} proposals",
            "shift": a.shift, "keep_above": keep_above, "calibration": scores, "heldout": heldout, "seed": a.seed,
            "cpu_seconds": round(time.process_time(), 1), "wall_seconds": round(time.time() - t0, 1)}
    save_verifier(out, trees, a.shift, keep_above, fp, meta)
    print(f"saved {out}")
    record_in_eval(out.parent / f"{a.model.stem}.eval.json", keep_above, a.shift, scores, full)
    print(json.dumps({"decoder": scores["decoder"], "verified": chosen, "keep_above": keep_above}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
