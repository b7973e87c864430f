"""Look-ahead variants by feature distillation: a shorter-look-ahead acoustic module learns to
give the per-pitch features that a longer-look-ahead model's acoustic module gives, and keeps
that model's decoder.

    python -m par_studio.train.distill --teacher models/par-compact-320.pt --latency 224 \\
        --corpus corpus-v2 --out runs/par-compact-224-distill --steps 1500

Why: a look-ahead variant differs from its sibling only in the time widths of its convolutions
(MODEL.md, latency context); the pitchwise LSTM, which hears note ends, does not depend on the
look-ahead. End-to-end fine-tunes of the variants (sessions 11-15) had to re-learn the decoder
from sparse note-state labels and came out with worse note ends than their siblings. Here the
target is dense instead: every frame and key of both feature maps,

    loss = mean((feat_s - feat_t)²) + mean((vfeat_s - vfeat_t)²)
    feat (B, T, 88, pitch_features), vfeat (B, T, 88, vel_features), both after their ReLU,

with the teacher in eval mode and the student's dropout off (its BatchNorm trains). The student
starts from the teacher's weights cut to its widths (:func:`.trainer.adapt_state_dict`), its
decoder is the teacher's and stays frozen, and it decodes with the teacher's calibrated biases
until :mod:`.ship` calibrates its own. Only the acoustic module's parameters are optimised,
and the decoder never runs: a step costs about the acoustic module's forward and backward plus
the teacher's forward (PARcompact, 3 × 15.4 s: about 2.5 s of CPU against 4.2 s for a training
step). Checkpoints as the trainer's (``OUT/last.pt`` resumable, ``OUT/best.pt`` by validation
note + note+offset F1, ``OUT/snapshots``), so ``--init OUT/last.pt`` continues end to end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..constants import LATENCY_SETTINGS_MS
from ..model import PARModel
from ..errors import CheckpointError
from ..model.checkpoint import read_checkpoint, save_checkpoint
from ..model.config import ModelConfig
from .dataset import CropDataset, corpus_pairs
from .trainer import _append_csv, adapt_state_dict, inherit_decoder_calibration, learning_rate, validate


def student_from(teacher_blob: dict, latency_ms: int) -> PARModel:
    """The teacher's model at ``latency_ms``: its config with the look-ahead's conv widths, its
    weights cut to them, its decoder biases. Raises ValueError for a look-ahead the teacher's
    widths cannot be cut to (a student never sees further ahead than its teacher)."""

    cfg = ModelConfig.from_dict(teacher_blob["config"])
    if latency_ms > cfg.latency_ms:
        raise ValueError(f"a {cfg.latency_ms} ms teacher cannot teach a {latency_ms} ms student "
                         "(the student would see further ahead)")
    student = PARModel(cfg.with_latency(latency_ms))
    student.load_state_dict(adapt_state_dict(teacher_blob["state_dict"], student))
    inherit_decoder_calibration(student, teacher_blob)
    return student


def feature_loss(student: PARModel, teacher: PARModel, mel: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the student's state and velocity features from the teacher's
    on log-mel ``mel`` (B, n_mels, T)."""
    with torch.no_grad():
        tf, tv = teacher.acoustic(mel)
    sf, sv = student.acoustic(mel)
    return torch.mean((sf - tf) ** 2) + torch.mean((sv - tv) ** 2)


def _student_train_mode(student: PARModel) -> None:
    """Acoustic BatchNorm learns, dropout off (the target is the teacher's noiseless features),
    decoder in eval mode (it does not run)."""
    student.train()
    for m in student.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    student.decoder.eval()


def distill(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda *a: print(*a, flush=True)  # noqa: E731

    try:
        teacher_blob = read_checkpoint(args.teacher)
    except CheckpointError as e:
        raise SystemExit(f"error: the teacher cannot be read: {e}")
    teacher_name = Path(args.teacher).stem
    try:
        student = student_from(teacher_blob, args.latency)
    except ValueError as e:
        raise SystemExit(f"{args.teacher}: {e}")
    teacher = PARModel(ModelConfig.from_dict(teacher_blob["config"]))
    teacher.load_state_dict(teacher_blob["state_dict"])
    teacher.eval()
    for p in student.decoder.parameters():
        p.requires_grad_(False)
    params = [p for p in student.acoustic.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)

    train_pairs = corpus_pairs(args.corpus, "train")
    val_pairs = corpus_pairs(args.corpus, "validation")[: args.val_files]
    ds = CropDataset(train_pairs, args.crop_frames, seed=args.seed, log=log)
    log(f"distilling {teacher_name} ({teacher.latency_ms} ms) into {args.latency} ms; "
        f"training data: {len(ds.items)} files, {ds.hours:.2f} h; validation: {len(val_pairs)} files")

    step, best, cpu_seconds = 0, -1.0, 0.0
    last = out / "last.pt"
    if last.exists():
        blob = read_checkpoint(last)
        student.load_state_dict(blob["state_dict"])
        opt.load_state_dict(blob["optimizer"])
        step, best = int(blob["step"]), float(blob.get("best", -1.0))
        cpu_seconds = float(blob["metadata"].get("cpu_seconds", 0.0))
        ds.rng = np.random.default_rng(args.seed + step)
        log(f"resumed from {last} at step {step}")
    gamma = args.lr_decay ** (1.0 / args.lr_decay_every)

    def lr_at(s: int) -> float:
        return learning_rate(s, args.lr, args.warmup, gamma, args.cooldown_start, args.cooldown_steps)

    def metadata(extra: dict | None = None) -> dict:
        m = {"training_data": args.data_name or f"rendered corpus {Path(args.corpus).name}",
             "train_files": len(ds.items), "train_hours": round(ds.hours, 3), "steps": step,
             "batch": args.batch, "crop_frames": args.crop_frames, "cpu_seconds": round(cpu_seconds, 1),
             "cpu_hours": round(cpu_seconds / 3600, 3), "seed": args.seed,
             "trained_at": time.strftime("%Y-%m-%d %H:%M:%S"),
             "recipe": f"feature distillation from {teacher_name}: MSE on the per-pitch state and velocity "
                       "features, the teacher's decoder kept (frozen)",
             "precision": "fp32", "initialised_from": Path(args.teacher).name, "teacher": teacher_name}
        if extra:
            m.update(extra)
        return m

    def save(path: Path, extra_meta: dict | None = None, resumable: bool = False) -> None:
        extra = {"optimizer": opt.state_dict(), "step": step, "best": best} if resumable else None
        save_checkpoint(student, path, metadata(extra_meta), extra=extra)

    _student_train_mode(student)
    t_start, window = time.time(), []
    while step < args.steps:
        if args.max_minutes and time.time() - t_start > 60 * args.max_minutes:
            log(f"time limit of {args.max_minutes} min reached at step {step}")
            break
        c0, w0 = time.process_time(), time.perf_counter()
        b = ds.batch(args.batch)
        with torch.no_grad():
            mel = student.frontend(b["frames"])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = feature_loss(student, teacher, mel)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        step += 1
        cpu_seconds += time.process_time() - c0
        window.append((loss.item(), time.perf_counter() - w0))
        if step % args.log_every == 0:
            a = np.mean(window, axis=0)
            window = []
            row = {"step": step, "feature_loss": f"{a[0]:.5f}", "lr": f"{lr_at(step):.2e}",
                   "grad_norm": f"{float(gn):.3f}", "sec_per_step": f"{a[1]:.3f}",
                   "cpu_hours": f"{cpu_seconds / 3600:.3f}"}
            _append_csv(out / "train_log.csv", row)
            log(" ".join(f"{k}={v}" for k, v in row.items()))
        val_now = step % args.val_every == 0 or step == args.steps
        if val_now and val_pairs:
            metrics = validate(student, val_pairs, args.val_seconds)
            _student_train_mode(student)  # validate() leaves the whole model in train mode
            score = metrics["note_f1"] + metrics["note_offset_f1"]
            _append_csv(out / "val_log.csv", {"step": step, **{k: f"{v:.4f}" for k, v in metrics.items()},
                                              "cpu_hours": f"{cpu_seconds / 3600:.3f}"})
            log(f"validation step {step}: {json.dumps(metrics)}")
            if score > best:
                best = score
                save(out / "best.pt", {"metrics": {f"validation_{k}": round(v, 4) for k, v in metrics.items()}})
        if step % args.checkpoint_every == 0 or val_now:
            save(last, resumable=True)
        if args.keep_every and step % args.keep_every == 0:
            save(out / "snapshots" / f"step_{step}.pt")
    save(last, resumable=True)
    if not (out / "best.pt").exists():
        save(out / "best.pt")
    log(f"done at step {step}; checkpoints in {out}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", required=True, metavar="CKPT", help="the longer-look-ahead model (e.g. a shipped .pt)")
    p.add_argument("--latency", type=int, required=True, choices=LATENCY_SETTINGS_MS, help="the student's look-ahead")
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus made by `par-studio build-corpus-v2`")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder (resumes if it holds last.pt)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--crop-frames", type=int, default=480, help="frames per crop (480 ≈ 15.4 s)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--lr-decay", type=float, default=0.9)
    p.add_argument("--lr-decay-every", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--cooldown-start", type=int, default=None, metavar="STEP")
    p.add_argument("--cooldown-steps", type=int, default=500, metavar="N")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--clip", type=float, default=3.0)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--val-files", type=int, default=16)
    p.add_argument("--val-seconds", type=float, default=31.0)
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--keep-every", type=int, default=250, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data-name", default=None, metavar="NAME", help="training data's name in the metadata")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.distill", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return distill(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
