"""The training recipe of the shipped weights, read from one reviewable file (``models/recipe.toml``):
render corpus v2, train the ten models in order, ship each.

    python -m par_studio.train.recipe [--work DIR] [--only NAME,...]
                                      [--stage corpus,train,ship,verifier,velocity] [--dry-run]

Stages (each resumes where it stopped: the corpus skips existing items, ``par-studio train``
resumes from ``RUN/last.pt``, shipping only writes files):

* ``corpus``  ``par-studio build-corpus-v2`` with the ``[corpus]`` settings;
* ``train``   ``par-studio train`` per ``[[model]]`` into ``WORK/runs/NAME``, with the ``[train]``
  settings, the model's steps and peak rate, and a linear cool-down over the last
  ``cooldown_fraction`` of the steps; ``init = "model:OTHER"`` starts from OTHER's shipped weights;
  ``init = "distill:OTHER"`` runs :mod:`par_studio.train.distill` instead: the model's acoustic
  module learns OTHER's shipped features at its own look-ahead and keeps OTHER's decoder;
* ``ship``    :mod:`par_studio.train.ship` with the run's ``best.pt`` and ``last.pt`` and, when
  present, the model already in ``models/`` as candidates: the decoder biases are calibrated on
  the calibration set (validation pieces on the training pianos, in users' recording
  conditions) and the candidate with the best calibrated score there ships (the weights in
  ``models/`` are never replaced by worse ones); the held-out sets (freepats and the held-out
  sampled piano, each in tune, +35 cents and in a hall) are scored into ``models/NAME.eval.json``;
* ``verifier`` :mod:`par_studio.train.verifier_fit` per model, on its shipped (calibrated) weights:
  the note verifier with the ``[verifier]`` settings, its threshold chosen on the calibration
  set, into ``models/NAME.verifier.npz`` (with the held-out sets scored with and without it);
* ``velocity`` :mod:`par_studio.train.velocity_fit`: the velocity refiner shared by every model,
  on the decoder velocities of the ``[velocity]`` model, into ``models/velocity-refiner.pt``.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from ..model.checkpoint import MODELS_DIR

RECIPE = MODELS_DIR / "recipe.toml"
STAGES = ("corpus", "train", "ship", "verifier", "velocity")
HELDOUT_SETS = ("splendid", "splendid-detune35", "splendid-hall", "freepats-detune35", "freepats-hall")


def load_recipe(path: Path = RECIPE) -> dict:
    with open(path, "rb") as f:
        r = tomllib.load(f)
    names = [m["name"] for m in r["model"]]
    for m in r["model"]:
        init = m.get("init", "scratch")
        kind, _, other = init.partition(":")
        if init != "scratch" and (kind not in ("model", "distill") or other not in names
                                  or names.index(other) >= names.index(m["name"])):
            raise ValueError(f"{path}: {m['name']}: init must be 'scratch', 'model:NAME' or 'distill:NAME' "
                             "of an earlier model")
    return r


def corpus_command(r: dict, work: Path) -> list[str]:
    c = r["corpus"]
    return ["par-studio", "build-corpus-v2", "--out", str(work / c["out"]), "--seed", str(c["seed"]),
            "--procedural", str(c["procedural"]), "--segments-per-performance",
            str(c["segments_per_performance"]), "--segment-seconds", str(c["segment_seconds"]),
            "--validation", str(c["validation"]), "--heldout", str(c["heldout"]),
            "--calibration", str(c["calibration"])]


def train_command(r: dict, m: dict, work: Path, models_dir: Path) -> list[str]:
    t = r["train"]
    steps = int(m["steps"])
    cool = int(round(steps * (1 - float(t["cooldown_fraction"]))))
    init = m.get("init", "scratch")
    if init.startswith("distill:"):
        return distill_command(r, m, work, models_dir, steps, cool)
    cmd = ["par-studio", "train", "--corpus", str(work / r["corpus"]["out"]), "--preset", m["preset"],
           "--latency", str(m["latency"]), "--out", str(work / "runs" / m["name"]),
           "--steps", str(steps), "--lr", str(m["lr"]), "--cooldown-start", str(cool),
           "--cooldown-steps", str(steps - cool), "--data-name", "PAR corpus v2"]
    for k in ("batch", "crop_frames", "lr_decay", "lr_decay_every", "warmup", "class_weights",
              "self_condition", "latch", "latch_frames", "velocity_weight", "val_every", "val_files",
              "val_seconds", "checkpoint_every", "keep_every", "threads"):
        cmd += ["--" + k.replace("_", "-"), str(t[k])]
    if init.startswith("model:"):
        cmd += ["--init", str(models_dir / f"{init[6:]}.pt")]
    return cmd


def distill_command(r: dict, m: dict, work: Path, models_dir: Path, steps: int, cool: int) -> list[str]:
    """A ``distill:OTHER`` model: OTHER's shipped weights teach it (the [train] crops, rates'
    decay, validation and checkpoint cadence; the distiller's own warm-up)."""
    t = r["train"]
    cmd = [sys.executable, "-m", "par_studio.train.distill", "--teacher", str(models_dir / f"{m['init'][8:]}.pt"),
           "--latency", str(m["latency"]), "--corpus", str(work / r["corpus"]["out"]),
           "--out", str(work / "runs" / m["name"]), "--steps", str(steps), "--lr", str(m["lr"]),
           "--cooldown-start", str(cool), "--cooldown-steps", str(steps - cool), "--data-name", "PAR corpus v2"]
    for k in ("batch", "crop_frames", "lr_decay", "lr_decay_every", "val_every", "val_files", "val_seconds",
              "checkpoint_every", "keep_every", "threads"):
        cmd += ["--" + k.replace("_", "-"), str(t[k])]
    return cmd


def ship_command(r: dict, m: dict, work: Path, models_dir: Path) -> list[str]:
    corpus = work / r["corpus"]["out"]
    run = work / "runs" / m["name"]
    cands = [str(run / "best.pt"), str(run / "last.pt")]
    if (models_dir / f"{m['name']}.pt").exists():
        cands.append(str(models_dir / f"{m['name']}.pt"))
    cmd = [sys.executable, "-m", "par_studio.train.ship", *cands, "--name", m["name"],
           "--test-dir", str(corpus / "heldout" / "freepats"), "--test-name", "freepats",
           "--tune-dir", str(corpus / "calibration"), "--models-dir", str(models_dir)]
    for s in HELDOUT_SETS:
        cmd += ["--heldout", f"{s}={corpus / 'heldout' / s}"]
    return cmd


def verifier_command(r: dict, m: dict, work: Path, models_dir: Path) -> list[str]:
    v, corpus = r["verifier"], work / r["corpus"]["out"]
    cmd = [sys.executable, "-m", "par_studio.train.verifier_fit", "--corpus", str(corpus),
           "--model", str(models_dir / f"{m['name']}.pt"), "--files", str(m.get("verifier_files", v["files"])),
           "--shift", str(v["shift"]),
           "--seed", str(v["seed"]), "--out", str(models_dir / f"{m['name']}.verifier.npz")]
    for s in ("freepats",) + HELDOUT_SETS:
        cmd += ["--heldout", f"{s}={corpus / 'heldout' / s}"]
    return cmd


def velocity_command(r: dict, work: Path, models_dir: Path) -> list[str]:
    v = r["velocity"]
    return [sys.executable, "-m", "par_studio.train.velocity_fit", "--corpus", str(work / r["corpus"]["out"]),
            "--model", str(models_dir / f"{v['model']}.pt"), "--files", str(v["files"]),
            "--epochs", str(v["epochs"]), "--seed", str(v["seed"]),
            "--out", str(models_dir / "velocity-refiner.pt")]


def plan(r: dict, work: Path, stages, only, models_dir: Path = MODELS_DIR) -> list[list[str]]:
    """The commands to run, in order."""
    cmds = []
    if "corpus" in stages:
        cmds.append(corpus_command(r, work))
    for m in r["model"]:
        if only and m["name"] not in only:
            continue
        if "train" in stages:
            cmds.append(train_command(r, m, work, models_dir))
        if "ship" in stages:
            cmds.append(ship_command(r, m, work, models_dir))
        if "verifier" in stages:
            cmds.append(verifier_command(r, m, work, models_dir))
    if "velocity" in stages and not only:
        cmds.append(velocity_command(r, work, models_dir))
    return cmds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.recipe", description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", type=Path, default=RECIPE)
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parents[3] / "par-work",
                   help="work folder for the corpus and the runs (default: par-work next to the checkout)")
    p.add_argument("--only", default="", help="comma-separated model names (default all)")
    p.add_argument("--stage", default=",".join(STAGES), help="comma-separated: " + ", ".join(STAGES))
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    a = p.parse_args(argv)
    try:
        r = load_recipe(a.recipe)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as e:
        print(f"error: cannot read the recipe {a.recipe}: {e}", file=sys.stderr)
        return 2
    stages = [s for s in a.stage.split(",") if s]
    only = {s for s in a.only.split(",") if s}
    for cmd in plan(r, a.work, stages, only, a.models_dir):
        print("+ " + shlex.join(cmd), flush=True)
        if not a.dry_run:
            rc = subprocess.run(cmd, check=False).returncode
            if rc != 0:
                print(f"error: step failed ({rc}); run the recipe again to resume", file=sys.stderr)
                return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
