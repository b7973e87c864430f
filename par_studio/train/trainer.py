"""`par-studio train`: the PAR training recipe on our rendered corpus or on MAESTRO v3.

Focal loss (γ = 2) on the 5 states + MSE on velocity/128 at onset frames; perturbed teacher
forcing; AdamW with step decay and gradient clipping; validation by free-running greedy
decoding scored with mir_eval; model selection by note F1 + note+offset F1. Checkpoints in
``OUT/last.pt`` (resumable: model, optimiser, step, RNG) and ``OUT/best.pt``; logs in
``OUT/train_log.csv`` and ``OUT/val_log.csv``. Fixed seeds. Multi-GPU/multi-node with
``torchrun --nproc_per_node N -m par_studio.train.trainer ...`` (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..constants import DEFAULT_LATENCY_MS, LATENCY_SETTINGS_MS, conv_time_padding
from ..model import PARModel, preset_config
from ..model.checkpoint import read_checkpoint, save_checkpoint
from .dataset import CropDataset, corpus_pairs, maestro_pairs
from .losses import focal_loss, onset_velocity_loss
from .perturb import latch_note_ends, perturb_context


def adapt_state_dict(state: dict, model: PARModel) -> dict:
    """Fit a state dict trained at another latency into ``model``: each time tap of a kernel
    (offset −1, 0 or +1 frames) keeps its place where the new width has it and is added to the
    present tap where it has not. So a width-1 conv takes the sum of a width-3 kernel's columns
    (the same output wherever its input is steady over three frames; measured on PARcompact
    192 → 160 ms, calibrated validation note F1 0.435 against 0.158 for the centre column
    alone), a width-2 (causal) conv keeps the past column and the sum of the present and future
    ones, and a wider conv gets the narrower kernel's columns in place (the same model exactly,
    its new columns free to learn)."""
    own = model.state_dict()
    out = {}
    for k, v in state.items():
        if k in own and own[k].shape != v.shape and v.dim() == 4 and own[k].shape[:3] == v.shape[:3]:
            new_offsets = _tap_offsets(own[k].shape[3])
            z = torch.zeros_like(own[k])
            for j, o in enumerate(_tap_offsets(v.shape[3])):
                z[..., new_offsets.index(o if o in new_offsets else 0)] += v[..., j]
            v = z
        out[k] = v
    return out


def _tap_offsets(width: int) -> list[int]:
    """Frame offsets of a time kernel's columns: 1 → [0], 2 → [−1, 0], 3 → [−1, 0, 1]."""
    past, future = conv_time_padding(width)
    return list(range(-past, future + 1))


def train_step(net, model: PARModel, opt, b: dict, class_weights: torch.Tensor, gen: torch.Generator,
               device, bf16: bool = True, clip: float = 3.0, self_condition: float = 0.0,
               latch: float = 0.0, latch_frames: int = 62, velocity_weight: float = 1.0):
    """One optimiser step on batch ``b`` (a :meth:`CropDataset.batch`): log-mel front end,
    perturbed (optionally latched, see :func:`latch_note_ends`, and self-conditioned) context,
    teacher-forced pass under bf16 autocast, focal state loss + ``velocity_weight`` × onset
    velocity loss, clipping.
    ``net`` is ``model`` or its DDP wrapper. Returns (loss, state loss, velocity loss, gradient
    norm) as tensors."""
    b = {k: v.to(device) for k, v in b.items()}
    with torch.no_grad():
        mel = model.frontend(b["frames"])
    ps, pt, pv = perturb_context(b["prev_state"].cpu(), b["prev_time"].cpu(), b["prev_velocity"].cpu(),
                                 b["state"].cpu(), generator=gen)
    if latch > 0:
        ps, pt, pv = latch_note_ends(ps, pt, pv, b["state"].cpu(), generator=gen, p=latch,
                                     max_frames=latch_frames)
    use_own = None
    if self_condition > 0:
        use_own = (torch.rand(ps.shape[0], ps.shape[2], generator=gen) < self_condition).to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        logits, vel = net(mel, ps.to(device), pt.to(device), pv.to(device), use_own)
    l_state = focal_loss(logits.float(), b["state"], class_weights=class_weights)
    l_vel = onset_velocity_loss(vel.float(), b["velocity"], b["onset"])
    loss = l_state + velocity_weight * l_vel
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.detach(), l_state.detach(), l_vel.detach(), gn


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def validate(model: PARModel, pairs, max_seconds: float = 30.0) -> dict:
    """Free-running greedy decoding on validation pairs → mean mir_eval note / note+offset F1."""
    from ..audio.io import load_audio
    from ..engine.offline import transcribe
    from ..notes import notes_from_midi
    from .evaluate import note_metrics

    model.eval()
    f_note, f_off, f_vel = [], [], []
    for pair in pairs:
        audio = load_audio(pair.audio, max_seconds=max_seconds)
        est = transcribe(audio, model, verify_notes=False).notes
        ref = notes_from_midi(pair.midi, sustain=True)
        ref = ref.take(ref.onset < len(audio) / 16000 - 0.05)
        m = note_metrics(ref, est, frames=False)
        f_note.append(m["note"]["f1"])
        f_off.append(m["note_offset"]["f1"])
        f_vel.append(m["note_offset_velocity"]["f1"])
    model.train()
    return {"note_f1": float(np.mean(f_note)), "note_offset_f1": float(np.mean(f_off)),
            "note_offset_velocity_f1": float(np.mean(f_vel))}


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def train(args) -> int:
    world, rank, local = _dist_info()
    device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed + rank)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda *a: print(*a, flush=True)) if rank == 0 else (lambda *a: None)

    if args.maestro:
        train_pairs = maestro_pairs(args.maestro, "train")
        val_pairs = maestro_pairs(args.maestro, "validation")
        data_name = args.data_name or "MAESTRO v3"
    else:
        train_pairs = corpus_pairs(args.corpus, "train")
        val_pairs = corpus_pairs(args.corpus, "validation")
        data_name = args.data_name or f"rendered corpus {Path(args.corpus).name}"
    val_pairs = val_pairs[: args.val_files]
    ds = CropDataset(train_pairs, args.crop_frames, seed=args.seed + 1000 * rank, log=log)
    log(f"training data: {len(ds.items)} files, {ds.hours:.2f} h; validation: {len(val_pairs)} files")

    cfg = preset_config(args.preset, args.latency)
    model = PARModel(cfg)
    step = 0
    best = -1.0
    cpu_seconds = 0.0
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    last = out / "last.pt"
    if last.exists():
        blob = read_checkpoint(last)
        model.load_state_dict(blob["state_dict"])
        opt.load_state_dict(blob["optimizer"])
        step = int(blob["step"])
        best = float(blob.get("best", -1.0))
        cpu_seconds = float(blob["metadata"].get("cpu_seconds", 0.0))
        ds.rng = np.random.default_rng(args.seed + 1000 * rank + step)
        torch.manual_seed(args.seed + rank + step)
        log(f"resumed from {last} at step {step}")
    elif args.init:
        blob = read_checkpoint(args.init)
        model.load_state_dict(adapt_state_dict(blob["state_dict"], model))
        log(f"initialised from {args.init}")
    calibration_from = args.init or (last if last.exists() else None)
    if calibration_from:
        inherit_decoder_calibration(model, read_checkpoint(calibration_from))
    model.to(device).train()
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None)
    sched_gamma = args.lr_decay ** (1.0 / args.lr_decay_every)

    def lr_at(s: int) -> float:
        return learning_rate(s, args.lr, args.warmup, sched_gamma, args.cooldown_start,
                             args.cooldown_steps, args.cooldown_to)

    def metadata(extra: dict | None = None) -> dict:
        m = {"training_data": data_name, "train_files": len(ds.items), "train_hours": round(ds.hours, 3),
             "steps": step, "batch": args.batch * world, "crop_frames": args.crop_frames,
             "cpu_seconds": round(cpu_seconds, 1), "cpu_hours": round(cpu_seconds / 3600, 3),
             "seed": args.seed, "trained_at": time.strftime("%Y-%m-%d %H:%M:%S"),
             "recipe": "focal(γ=2)+onset velocity MSE, perturbed teacher forcing, AdamW",
             "precision": "bf16" if use_bf16 else "fp32", "class_weights": args.class_weights,
             "self_condition": args.self_condition, "velocity_weight": args.velocity_weight}
        if args.latch > 0:
            m["latch"] = {"p": args.latch, "max_frames": args.latch_frames}
        if args.init:
            m["initialised_from"] = Path(args.init).name  # a name, never a machine path
        if extra:
            m.update(extra)
        return m

    use_bf16 = bf16_is_fast(device) if args.precision == "auto" else args.precision == "bf16"
    log(f"training precision: {'bf16' if use_bf16 else 'fp32'}")
    class_weights = torch.tensor([float(x) for x in args.class_weights.split(",")])
    if class_weights.numel() != 5:
        raise SystemExit("--class-weights takes 5 comma-separated numbers (off,offset,onset,sustain,re-onset)")
    t_start = time.time()
    gen = torch.Generator().manual_seed(args.seed + rank + step)
    window = []
    while step < args.steps:
        if args.max_minutes and (time.time() - t_start) > 60 * args.max_minutes:
            log(f"time limit of {args.max_minutes} min reached at step {step}")
            break
        c0, w0 = time.process_time(), time.perf_counter()
        b = ds.batch(args.batch)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss, l_state, l_vel, gn = train_step(net, model, opt, b, class_weights, gen, device,
                                              bf16=use_bf16, clip=args.clip,
                                              self_condition=args.self_condition,
                                              latch=args.latch, latch_frames=args.latch_frames,
                                              velocity_weight=args.velocity_weight)
        step += 1
        cpu_seconds += (time.process_time() - c0) if device.type == "cpu" else (time.perf_counter() - w0)
        window.append((loss.item(), l_state.item(), l_vel.item(), time.perf_counter() - w0))
        if rank != 0:
            continue
        if step % args.log_every == 0:
            a = np.mean(window, axis=0)
            window = []
            row = {"step": step, "loss": f"{a[0]:.5f}", "state_loss": f"{a[1]:.5f}", "velocity_loss": f"{a[2]:.5f}",
                   "lr": f"{lr_at(step):.2e}", "grad_norm": f"{float(gn):.3f}", "sec_per_step": f"{a[3]:.3f}",
                   "cpu_hours": f"{cpu_seconds / 3600:.3f}"}
            _append_csv(out / "train_log.csv", row)
            log(" ".join(f"{k}={v}" for k, v in row.items()))
        val_now = step % args.val_every == 0 or step == args.steps
        if step % args.checkpoint_every == 0 or val_now:
            metrics = None
            if val_now and val_pairs:
                metrics = validate(model, val_pairs, args.val_seconds)
                score = metrics["note_f1"] + metrics["note_offset_f1"]
                _append_csv(out / "val_log.csv", {"step": step, **{k: f"{v:.4f}" for k, v in metrics.items()},
                                                  "cpu_hours": f"{cpu_seconds / 3600:.3f}"})
                log(f"validation step {step}: {json.dumps(metrics)}")
                if score > best:
                    best = score
                    save_checkpoint(model, out / "best.pt", metadata(
                        {"metrics": {f"validation_{k}": round(v, 4) for k, v in metrics.items()}}))
                    log(f"new best ({score:.4f}) → {out / 'best.pt'}")
            save_checkpoint(model, last, metadata(), extra={"optimizer": opt.state_dict(), "step": step, "best": best})
        if args.keep_every and step % args.keep_every == 0:
            save_checkpoint(model, out / "snapshots" / f"step_{step}.pt", metadata())
    if rank == 0:
        save_checkpoint(model, last, metadata(), extra={"optimizer": opt.state_dict(), "step": step, "best": best})
        if not (out / "best.pt").exists():
            save_checkpoint(model, out / "best.pt", metadata())
        log(f"done at step {step}; checkpoints in {out}")
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


def inherit_decoder_calibration(model: PARModel, blob: dict) -> None:
    """Decode with the state bias and note-end shift stored in ``blob``'s config (those of the
    weights a fine-tune starts from): validation then compares like with like, since the
    shipped weights carry biases calibrated by :mod:`.ship` and fresh ones would decode with
    none. The weights' own training is unaffected (the biases act only in the decoder)."""
    cfg = blob.get("config") or {}
    if "state_bias" in cfg:
        model.set_state_bias(tuple(float(x) for x in cfg["state_bias"]))
    if "offset_shift_s" in cfg:
        model.set_offset_shift(float(cfg["offset_shift_s"]))


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 autocast pays off on GPUs and on CPUs with bf16 units (AVX512-BF16 or AMX); on
    others the CPU emulates it, several times slower than fp32."""
    if device.type == "cuda":
        return True
    cap = str(torch.backends.cpu.get_cpu_capability()).upper()
    return "AMX" in cap or "BF16" in cap


def learning_rate(step: int, lr: float, warmup: int, gamma: float, cooldown_start: int | None = None,
                  cooldown_steps: int = 0, cooldown_to: float = 0.1) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup`` steps, exponential decay by
    ``gamma`` per step, and from ``cooldown_start`` on a linear cool-down: the decay stops and
    the rate falls to ``cooldown_to`` × its value at ``cooldown_start`` over ``cooldown_steps``
    steps, then stays there (a final anneal cashes in a long run at a high rate)."""
    warm = min(1.0, (step + 1) / max(1, warmup))
    if cooldown_start is None or step <= cooldown_start:
        return lr * warm * gamma ** step
    frac = min(1.0, (step - cooldown_start) / max(1, cooldown_steps))
    return lr * warm * gamma ** cooldown_start * (1.0 - (1.0 - cooldown_to) * frac)


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", metavar="DIR", help="corpus made by `par-studio build-corpus`")
    src.add_argument("--maestro", metavar="DIR", help="MAESTRO v3 folder (with maestro-v3.0.0.csv)")
    p.add_argument("--preset", default="par-compact", choices=["par", "par-compact"])
    p.add_argument("--latency", type=int, default=DEFAULT_LATENCY_MS, choices=LATENCY_SETTINGS_MS)
    p.add_argument("--out", required=True, metavar="DIR", help="run folder (resumes if it holds last.pt)")
    p.add_argument("--init", metavar="CKPT", help="start from these weights (e.g. the 320 ms model)")
    p.add_argument("--steps", type=int, default=250_000)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop-frames", type=int, default=160, help="frames per crop (160 ≈ 5.1 s)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=0.95, help="factor per --lr-decay-every steps")
    p.add_argument("--lr-decay-every", type=int, default=5000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--cooldown-start", type=int, default=None, metavar="STEP",
                   help="from this step on, anneal the learning rate linearly (see --cooldown-steps)")
    p.add_argument("--cooldown-steps", type=int, default=2000, metavar="N",
                   help="length of the cool-down in steps (default 2000)")
    p.add_argument("--cooldown-to", type=float, default=0.1, metavar="F",
                   help="the cool-down ends at F × the rate at --cooldown-start (default 0.1)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--clip", type=float, default=3.0)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--val-files", type=int, default=8)
    p.add_argument("--val-seconds", type=float, default=30.0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--keep-every", type=int, default=0, metavar="N",
                   help="also keep the weights every N steps in OUT/snapshots/step_N.pt "
                        "(for `python -m par_studio.train.average`; 0 = off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--self-condition", type=float, default=0.0, metavar="P",
                   help="share of key sequences whose context is the model's own greedy states from a "
                        "first teacher-forced pass (0 = off; reduces exposure bias)")
    p.add_argument("--latch", type=float, default=0.0, metavar="P",
                   help="share of note ends after which the context goes on saying sustain for "
                        "1..--latch-frames frames, labels unchanged (teaches the decoder to leave a "
                        "latched note; 0 = off)")
    p.add_argument("--latch-frames", type=int, default=62, metavar="N",
                   help="longest latch in frames (62 ≈ 2 s)")
    p.add_argument("--velocity-weight", type=float, default=1.0, metavar="W",
                   help="weight of the onset velocity loss against the state loss (default 1)")
    p.add_argument("--data-name", default=None, metavar="NAME",
                   help="name of the training data in checkpoint metadata (default: the corpus "
                        "folder's name; never a path)")
    p.add_argument("--class-weights", default="1,1,1,1,1", metavar="W0,..,W4",
                   help="focal-loss weight of each state: off,offset,onset,sustain,re-onset (default 1s)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="autocast precision of the training pass. bf16 is about 2x faster on GPUs "
                        "and on CPUs with AVX512-BF16/AMX, but 7x slower than fp32 on an AVX2-only "
                        "CPU (measured: 6.4-6.8 s against 0.84-0.99 s of CPU per PARcompact step of "
                        "2 x 160 frames); auto picks bf16 only where it is fast")


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a PAR / PARcompact model (resumable)",
                       description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=train)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.trainer")
    add_arguments(p)
    return train(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
