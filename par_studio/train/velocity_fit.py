"""Train the velocity refiner (:mod:`par_studio.velocity`) on corpus-v2 items.

    python -m par_studio.train.velocity_fit --corpus CORPUS --model models/par-compact-320.pt \
        --files 514 --out models/velocity-refiner.pt

Each training item (``--files`` of them, evenly spaced over ``CORPUS/train``) is transcribed by
``--model`` with the decoder's own velocities; the decoded notes that match a reference note
(mir_eval, onset ±50 ms) become examples: :func:`onset_features` → the reference velocity as a
z-score within its item. Features are cached per item in ``--cache`` (default
``CORPUS/.velocity-features/MODEL``), so a rerun only trains. The network is chosen on
``CORPUS/calibration`` (median per-file correlation of refined and true velocities), and the
note+offset+velocity F1 there is reported with the decoder's velocities and with the refined ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..constants import FRAME_SECONDS, MIN_MIDI, ONSET_STATES, VELOCITY_SCALE
from .dataset import fit_and_calibration_files
from ..velocity import MIN_NOTES, RefinerNet, VelocityRefiner, onset_features, save_refiner, spread_like


def item_examples(audio_path: Path, model, cache: Path | None) -> dict:
    """{"X": (N, F) features of the decoded onsets, "ref_i"/"est_i": matched pairs, "ref": (M,)
    reference velocities, "est": Notes} of one item; cached as npz."""
    from ..audio.io import load_audio
    from ..engine.offline import transcribe
    from ..notes import Notes, notes_from_midi
    import mir_eval.transcription as mt

    ref = notes_from_midi(audio_path.with_suffix(".mid"), sustain=True)
    f = cache / (audio_path.stem + ".npz") if cache else None
    if f is not None and f.exists():
        d = np.load(f)
        est = Notes(d["on"], d["off"], d["pitch"], d["vel"])
        return {"X": d["X"], "ref_i": d["ref_i"], "est_i": d["est_i"], "ref": ref, "est": est}
    audio = load_audio(audio_path)
    tr = transcribe(audio, model, refine_velocity=False, verify_notes=False)
    t, k = np.nonzero(np.isin(tr.states, ONSET_STATES))
    X = onset_features(tr.tuning.to_a440(audio), t * FRAME_SECONDS, k + MIN_MIDI,
                       tr.velocity[t, k] * VELOCITY_SCALE)
    est = tr.notes
    assert len(est) == len(t), "decoded notes and onset frames differ"
    m = mt.match_notes(ref.intervals(), ref.pitches_hz(), est.intervals(), est.pitches_hz(), offset_ratio=None)
    ref_i = np.array([a for a, _ in m], np.int64)
    est_i = np.array([b for _, b in m], np.int64)
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, X=X, ref_i=ref_i, est_i=est_i, on=est.onset, off=est.offset, pitch=est.pitch,
                 vel=est.velocity)
    return {"X": X, "ref_i": ref_i, "est_i": est_i, "ref": ref, "est": est}


def training_arrays(items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) features and (N,) per-item z-scores of the true velocity of matched notes."""
    xs, ys = [], []
    for it in items:
        if len(it["ref_i"]) < MIN_NOTES:
            continue
        rv = it["ref"].velocity.astype(np.float64)
        z = (rv - rv.mean()) / (rv.std() + 1e-6)
        xs.append(it["X"][it["est_i"]])
        ys.append(z[it["ref_i"]])
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def score(items: list[dict], refiner: VelocityRefiner | None) -> dict:
    """Median per-item correlation of estimated and true velocities (matched notes) and mean
    note+offset+velocity F1 (mir_eval) with the refiner's velocities (None: the decoder's)."""
    from ..notes import Notes
    from .evaluate import note_metrics

    cors, f1s = [], []
    for it in items:
        est = it["est"]
        v = est.velocity.astype(np.float64)
        if refiner is not None and len(v) >= MIN_NOTES:
            with torch.no_grad():
                v = spread_like(refiner.net(torch.from_numpy(it["X"])).numpy(), v).astype(np.float64)
        ref = it["ref"]
        scored = Notes(est.onset, est.offset, est.pitch, v)  # as `par-studio evaluate` scores them
        f1s.append(note_metrics(ref, scored, frames=False)["note_offset_velocity"]["f1"])
        if len(it["ref_i"]) >= MIN_NOTES:
            cors.append(np.corrcoef(ref.velocity[it["ref_i"]].astype(float), v[it["est_i"]])[0, 1])
    return {"corr_median": float(np.nanmedian(cors)) if cors else float("nan"),
            "velocity_f1": float(np.mean(f1s)) if f1s else float("nan"), "items": len(items)}


def fit(X: np.ndarray, y: np.ndarray, val_items: list[dict], epochs: int = 400, seed: int = 0,
        log=print) -> tuple[RefinerNet, list[dict]]:
    """Full-batch Adam on MSE; the weights of the epoch with the best validation correlation."""
    torch.manual_seed(seed)
    net = RefinerNet()
    net.mean.copy_(torch.from_numpy(X.mean(0)))
    net.std.copy_(torch.from_numpy(X.std(0) + 1e-3))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    best, best_state, curve = -1.0, None, []
    for ep in range(1, epochs + 1):
        net.train()
        opt.zero_grad()
        loss = torch.mean((net(Xt) - yt) ** 2)
        loss.backward()
        opt.step()
        loss = float(loss.detach())
        if ep % 25 == 0:
            net.eval()
            s = score(val_items, VelocityRefiner(net, {}))
            curve.append({"epoch": ep, "loss": round(loss, 4), **{k: round(v, 4) for k, v in s.items()
                                                                           if k != "items"}})
            log(f"  epoch {ep}: loss {loss:.4f}, validation corr {s['corr_median']:.3f}, "
                f"velocity F1 {s['velocity_f1']:.3f}")
            if s["corr_median"] > best:
                best, best_state = s["corr_median"], {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    return net, curve


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.velocity_fit", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, type=Path, help="corpus v2 folder (train/ and calibration/)")
    p.add_argument("--model", required=True, type=Path, help="checkpoint whose decoder velocities are refined")
    p.add_argument("--files", type=int, default=514, help="training items, evenly spaced (514)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    from ..model.checkpoint import load_checkpoint

    torch.set_num_threads(a.threads)
    model, _ = load_checkpoint(a.model)
    cache = a.cache or a.corpus / ".velocity-features" / a.model.stem
    files, val_files = fit_and_calibration_files(a.corpus, a.files)
    if not files or not val_files:
        print(f"error: {a.corpus} needs train/ and calibration/ items (par-studio build-corpus-v2)", file=sys.stderr)
        return 2
    t0 = time.time()
    items, val_items = [], []
    for i, f in enumerate(files + val_files):
        (items if i < len(files) else val_items).append(item_examples(f, model, cache / ("val" if i >= len(files)
                                                                                        else "train")))
        print(f"\rfeatures {i + 1}/{len(files) + len(val_files)}", end="", flush=True)
    print()
    X, y = training_arrays(items)
    print(f"{len(y)} matched notes from {len(items)} items; validation: {len(val_items)} calibration items")
    before = score(val_items, None)
    net, curve = fit(X, y, val_items, a.epochs, a.seed)
    after = score(val_items, VelocityRefiner(net, {}))
    print(f"calibration set: decoder velocities corr {before['corr_median']:.3f}, velocity F1 "
          f"{before['velocity_f1']:.3f}; refined corr {after['corr_median']:.3f}, velocity F1 {after['velocity_f1']:.3f}")
    meta = {"trained_on": f"corpus v2 train, {len(items)} items, {len(y)} notes", "decoder": a.model.stem,
            "validation": "corpus v2 calibration", "before": before, "after": after, "curve": curve,
            "epochs": a.epochs, "seed": a.seed, "cpu_seconds": round(time.process_time(), 1),
            "wall_seconds": round(time.time() - t0, 1)}
    save_refiner(a.out, net, meta)
    print(f"saved {a.out}")
    print(json.dumps({"before": before, "after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
