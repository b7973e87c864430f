"""Corpus v2: ``par-studio build-corpus-v2`` / ``python -m par_studio.train.corpus_v2``.

Real sampled pianos in real rooms and tunings. Sources are those of corpus v1
(:mod:`par_studio.train.corpus`): ASAP performances split by piece, plus procedural pieces for
training. Per item (one segment of a source):

* timbre: a training sampled piano (:mod:`.sampled_pianos`, weighted; ``P_SAMPLED`` of the
  items) or a General-MIDI SoundFont (the rest);
* conditions (:mod:`.conditions`): tuning (whole piano -50..+50 cents, stretched or uneven),
  touch curve, room, microphone colour, phone band, noise, gain and lossy codec;
* labels: the segment's MIDI (notes + CC64); the reference offsets are pedal-extended when read
  (``notes_from_midi(sustain=True)``), and sampled pianos hold each note to that same end.

Folders (each item ``NAME.flac`` + ``NAME.mid`` + ``NAME.json``)::

    train/        training pieces, transposed -3..+3, conditions drawn per item
    validation/   validation pieces, drawn like training (no transposition)
    calibration/  other performances of the validation pieces, sampled training pianos only, in
                  the milder conditions of users' recordings (``conditions.RECORDING``): the
                  decoder's biases are chosen on it
    heldout/freepats{,-detune35,-hall}/   ASAP test pieces, TiMidity + freepats
    heldout/splendid{,-detune35,-hall}/   ASAP test pieces, the held-out sampled piano

Held-out variants: as rendered (in tune, dry, clean), the whole piano +35 cents, and the fixed
hall :data:`conditions.HALL` (RT60 2 s). The same segments in every variant. The build is
resumable (existing items are skipped); ``manifest.jsonl`` lists every item at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from par_studio.constants import SAMPLE_RATE
from par_studio.errors import ParStudioError
from par_studio.notes import Notes, apply_sustain, sustain_intervals
from par_studio.train import conditions as cond
from par_studio.train import corpus as c1
from par_studio.train.procedural import generate_piece
from par_studio.train.sampled_pianos import HELDOUT_PIANO, discover_pianos, piano_by_name, render_notes
from par_studio.train.soundfonts import TEST, TRAIN, Timbre, discover_timbres

P_SAMPLED = 0.8  #: share of training/validation items played by a sampled piano
HELDOUT_DETUNE_CENTS = 35.0
HELDOUT_VARIANTS = ("", "-detune35", "-hall")
SETS = ("validation", "heldout", "train", "calibration")


@dataclass
class V2Config:
    """Everything that decides an item's audio besides its source; stored in ``config.json``."""

    out_dir: str
    seed: int = 0
    segment_seconds: float = 30.0
    transpose: int = 3
    p_sampled: float = P_SAMPLED
    pianos_dir: str | None = None


@dataclass
class Task:
    set: str  #: "train", "validation", "heldout" or "calibration"
    source: str  #: "asap" or "proc"
    stem: str
    midi_path: str | None = None
    proc_seed: int | None = None
    max_segments: int | None = None


def perf_notes(perf: c1.Performance, seconds: float) -> Notes:
    """The segment's notes with pedal-extended offsets (what the labels say), capped at
    ``seconds``."""
    ns = perf.notes
    notes = Notes([n.start for n in ns], [n.end for n in ns], [n.pitch for n in ns],
                  [n.velocity for n in ns])
    return apply_sustain(notes, sustain_intervals(perf.pedal), end_time=seconds)


def render_sampled(perf: c1.Performance, piano_name: str, seconds: float, c: dict,
                   pianos_dir=None) -> np.ndarray:
    """(n,) float32 render of ``perf`` by a sampled piano under the tuning and touch of ``c``."""
    notes = perf_notes(perf, seconds)
    notes = Notes(notes.onset, notes.offset, notes.pitch, cond.touch(notes.velocity, c))
    return render_notes(notes, piano_by_name(piano_name), seconds, cond.key_cents(c),
                        pianos_dir=pianos_dir)


def pick_timbre(rng: np.random.Generator, cfg: V2Config, gm: list[Timbre],
                p_sampled: float | None = None) -> str:
    """A training timbre name: a sampled piano (weighted) or ``gm:<soundfont timbre>``."""
    pianos = discover_pianos(cfg.pianos_dir, role="train")
    p = cfg.p_sampled if p_sampled is None else p_sampled
    if pianos and (not gm or rng.random() < p):
        w = np.array([p.weight for p in pianos])
        return pianos[int(rng.choice(len(pianos), p=w / w.sum()))].name
    if not gm:
        raise c1.CorpusError("no training piano: neither sampled pianos nor SoundFonts found")
    return "gm:" + gm[int(rng.integers(len(gm)))].name


@lru_cache(maxsize=None)
def _all_timbres() -> tuple[Timbre, ...]:
    return tuple(discover_timbres(require=False))


def _gm_timbres(split: str) -> list[Timbre]:
    role = TEST if split == "test" else TRAIN
    return [t for t in _all_timbres() if t.split == role]


def render_item(perf: c1.Performance, timbre: str, seconds: float, c: dict, cfg: V2Config) -> np.ndarray:
    """Render with a sampled piano (per-key tuning) or a SoundFont (``gm:NAME``, whole-piano
    tuning by pitch bend: the stretch and per-key deviation need per-note rendering)."""
    if timbre.startswith("gm:"):
        t = next(t for t in _all_timbres() if t.name == timbre[3:])
        with tempfile.TemporaryDirectory(prefix="parcorpus2_") as td:
            return c1.render(perf, t, seconds, Path(td), tuning_cents=c.get("detune_cents", 0.0))
    return render_sampled(perf, timbre, seconds, c, cfg.pianos_dir)


def item_plan(task: Task, si: int, cfg: V2Config, gm: list[Timbre]) -> list[tuple[str, str, str, dict]]:
    """[(folder, item name, timbre, conditions)] of one segment; deterministic in the seed."""
    rng = c1._rng(cfg.seed, "v2", task.set, task.source, task.stem, si)
    base = f"{task.source}_{task.stem}_{si:03d}"
    if task.set == "heldout":
        out = []
        for timbre, folder in (("gm:freepats", "freepats"), (HELDOUT_PIANO, HELDOUT_PIANO)):
            for var in HELDOUT_VARIANTS:
                c = cond.draw_conditions(rng, "none")
                if var == "-detune35":
                    c["detune_cents"] = HELDOUT_DETUNE_CENTS
                if var == "-hall":
                    c["room"] = dict(cond.HALL)
                out.append((f"heldout/{folder}{var}", base, timbre, c))
        return out
    if task.set == "calibration":  # real pianos only: no General-MIDI SoundFont
        timbre = pick_timbre(rng, cfg, [], p_sampled=1.0)
        c = cond.draw_conditions(rng, "recording")
    else:
        timbre = pick_timbre(rng, cfg, gm)
        c = cond.draw_conditions(rng, "full")
    if timbre.startswith("gm:"):  # a pitch bend tunes the whole instrument, never key by key
        c.pop("stretch_cents", None)
        c.pop("uneven_cents", None)
    if task.set == "train":
        c["transposition"] = int(rng.integers(-cfg.transpose, cfg.transpose + 1))
    name = f"{base}_{timbre.replace('gm:', 'gm-')}"
    return [(task.set, name, timbre, c)]


def process_task(task: Task, cfg: V2Config) -> list[dict]:
    """Render every selected segment of one source; one result dict per item."""
    try:
        if task.source == "proc":
            perf = c1.performance_from_pretty_midi(generate_piece(int(task.proc_seed)))
        else:
            perf = c1.load_performance(Path(task.midi_path))
    except Exception as e:  # noqa: BLE001
        return [{"status": "failed", "item": f"{task.set}/{task.stem}", "error": str(e)}]
    bounds = c1.segment_bounds(perf.end, cfg.segment_seconds)
    idx = list(range(len(bounds)))
    if task.max_segments is not None and len(idx) > task.max_segments:
        pick = c1._rng(cfg.seed, "segments", task.stem).choice(len(idx), task.max_segments, replace=False)
        idx = sorted(int(i) for i in pick)
    gm = [t for t in _gm_timbres("train")]
    results = []
    for si in idx:
        start, end = bounds[si]
        for folder, name, timbre, c in item_plan(task, si, cfg, gm):
            base = Path(cfg.out_dir) / folder / name
            item = f"{folder}/{name}"
            if c1.item_exists(base):
                results.append({"status": "skipped", "item": item, "seconds": 0.0})
                continue
            try:
                semis = c.get("transposition", 0)
                seg = c1.cut_segment(c1.transpose(perf, semis) if semis else perf, start, end)
                if not seg.notes:
                    results.append({"status": "empty", "item": item, "seconds": 0.0})
                    continue
                seconds = (end - start) + c1.TAIL_SECONDS
                clean = render_item(seg, timbre, seconds, c, cfg)
                c1.verify_audio(clean, seg, seconds)
                audio, details = cond.apply_conditions(clean, c)
                meta = {"set": folder, "audio": f"{item}.flac", "midi": f"{item}.mid",
                        "source": task.source, "stem": task.stem, "segment": si,
                        "segment_start_s": round(start, 4), "timbre": timbre, "conditions": c,
                        "details": details, "duration_s": round(len(audio) / SAMPLE_RATE, 4),
                        "n_notes": len(seg.notes)}
                if task.midi_path:
                    meta["source_midi"] = Path(task.midi_path).name
                else:
                    meta["proc_seed"] = task.proc_seed
                base.parent.mkdir(parents=True, exist_ok=True)
                c1.write_item(base, audio, seg, meta)
                results.append({"status": "ok", "item": item, "seconds": meta["duration_s"]})
            except Exception as e:  # noqa: BLE001 - one bad item must not stop the build
                results.append({"status": "failed", "item": item, "error": f"{type(e).__name__}: {e}"})
    return results


def plan(asap_dir: Path | None, seed: int, sets: tuple[str, ...], procedural: int,
         max_train_performances: int | None, segments_per_performance: int | None,
         n_val: int, n_heldout: int, n_cal: int = 0) -> list[Task]:
    """Validation, then held-out (each one segment per performance, spread over pieces), then
    training ASAP and procedural sources interleaved (an interrupted build has both), then
    calibration (one segment of each of ``n_cal`` validation performances that the validation
    set does not use; drawn from a stream of its own, so the other sets never change)."""
    rng = c1._rng(seed, "plan-v2")
    tasks: list[Task] = []
    asap = c1.read_asap_split(asap_dir) if asap_dir is not None else None
    for s, split, n in (("validation", "validation", n_val), ("heldout", "test", n_heldout)):
        if s in sets and asap and n > 0:
            for rel, _ in c1._pick_performances(asap[split], n, rng):
                tasks.append(Task(s, "asap", c1._stem_of(rel), str(asap_dir / rel), max_segments=1))
    if "train" in sets:
        a = [Task("train", "asap", c1._stem_of(rel), str(asap_dir / rel), max_segments=segments_per_performance)
             for rel, _ in c1._pick_performances(asap["train"], max_train_performances, rng)] if asap else []
        p = [Task("train", "proc", f"{i:05d}", proc_seed=seed * 100_003 + i) for i in range(procedural)]
        while a or p:
            if a and (not p or rng.random() < len(a) / (len(a) + len(p))):
                tasks.append(a.pop(0))
            else:
                tasks.append(p.pop(0))
    if "calibration" in sets and asap and n_cal > 0:
        used = {c1._stem_of(rel) for rel, _ in c1._pick_performances(
            asap["validation"], n_val, c1._rng(seed, "plan-v2"))} if n_val > 0 else set()
        rest = [(rel, piece) for rel, piece in asap["validation"] if c1._stem_of(rel) not in used]
        for rel, _ in c1._pick_performances(rest, n_cal, c1._rng(seed, "plan-v2-calibration")):
            tasks.append(Task("calibration", "asap", c1._stem_of(rel), str(asap_dir / rel), max_segments=1))
    return tasks


def rebuild_manifest(out: Path) -> dict[str, dict]:
    """``manifest.jsonl`` from the items on disk; returns {folder: {items, hours}}."""
    lines, stats = [], {}
    for js in sorted(out.glob("**/*.json")):
        if js.name == "config.json" or not c1.item_file(js.with_suffix(""), ".flac").exists():
            continue
        try:
            meta = json.loads(js.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        lines.append(json.dumps(meta, sort_keys=True))
        s = stats.setdefault(meta.get("set", "?"), {"items": 0, "hours": 0.0})
        s["items"] += 1
        s["hours"] += float(meta.get("duration_s", 0.0)) / 3600
    tmp = out / ".manifest.jsonl.tmp"
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, out / "manifest.jsonl")
    return stats


def build(out_dir, asap_dir=None, *, sets=SETS, procedural: int = 300,
          max_train_performances: int | None = None, segments_per_performance: int | None = 2,
          n_val: int = 16, n_heldout: int = 12, n_cal: int = 24, seed: int = 0,
          segment_seconds: float = 30.0,
          jobs: int = 1, limit_hours: float | None = None, progress: bool = True,
          pianos_dir=None) -> dict:
    """Build (or resume) corpus v2 in ``out_dir``; returns {folder: {items, hours}} and counts."""
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not discover_pianos(pianos_dir):
        raise c1.CorpusError("no sampled piano found: set PAR_PIANOS_DIR to the folder of the SFZ pianos")
    if "heldout" in sets and not _gm_timbres("test"):
        raise c1.CorpusError("the held-out freepats timbre is missing: sudo apt-get install timidity freepats")
    cfg = V2Config(str(out), seed, float(segment_seconds), pianos_dir=str(pianos_dir) if pianos_dir else None)
    cfg_file = out / "config.json"
    if cfg_file.exists() and json.loads(cfg_file.read_text()) | {"out_dir": cfg.out_dir} != asdict(cfg):
        raise c1.CorpusError(f"{cfg_file} was written with other settings; use another --out folder")
    cfg_file.write_text(json.dumps(asdict(cfg), indent=1))
    for tmp in out.glob("**/.*.tmp*"):
        tmp.unlink(missing_ok=True)
    asap = Path(asap_dir) if asap_dir is not None else c1.default_asap_dir()
    tasks = plan(asap, seed, tuple(sets), procedural, max_train_performances,
                 segments_per_performance, n_val, n_heldout, n_cal)
    counts = {"ok": 0, "skipped": 0, "failed": 0, "empty": 0}
    failures: list[str] = []
    train_s = 0.0
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), unit="src", disable=not progress, dynamic_ncols=True)

    def collect(res):
        nonlocal train_s
        for r in res:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            if r["status"] == "failed":
                failures.append(f"{r['item']}: {r['error']}")
            if r["item"].startswith("train/"):
                train_s += r.get("seconds", 0.0) or (30.0 if r["status"] == "skipped" else 0.0)
        bar.update(1)
        bar.set_postfix(ok=counts["ok"], skip=counts["skipped"], fail=counts["failed"],
                        train_h=f"{train_s / 3600:.2f}")

    def todo():
        for t in tasks:
            if t.set == "train" and limit_hours is not None and train_s >= limit_hours * 3600:
                return
            yield t

    if jobs <= 1:
        for t in todo():
            collect(process_task(t, cfg))
    else:
        from multiprocessing import Pool

        with Pool(jobs) as pool:
            for res in pool.imap(_task_star, ((t, cfg) for t in todo())):
                collect(res)
    bar.close()
    stats = rebuild_manifest(out)
    return {"out_dir": str(out), "sets": stats, **counts, "failures": failures[:50],
            "wall_s": round(time.time() - t0, 1)}


def _task_star(args):
    return process_task(*args)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder of the corpus")
    p.add_argument("--asap", type=Path, default=None, help="ASAP folder with split.csv "
                   "(default: shared/data/asap next to the checkout)")
    p.add_argument("--pianos", type=Path, default=None, help="folder of the SFZ pianos "
                   "(default: $PAR_PIANOS_DIR or shared/data/pianos next to the checkout)")
    p.add_argument("--sets", default=",".join(SETS),
                   help="comma-separated: validation, heldout, train, calibration (default all)")
    p.add_argument("--procedural", type=int, default=300, help="procedural training pieces (300)")
    p.add_argument("--max-train-performances", type=int, default=None)
    p.add_argument("--segments-per-performance", type=int, default=2)
    p.add_argument("--validation", type=int, default=16, help="validation segments (16)")
    p.add_argument("--heldout", type=int, default=12, help="held-out test segments per variant (12)")
    p.add_argument("--calibration", type=int, default=24,
                   help="calibration segments (24): the decoder's biases are chosen on them")
    p.add_argument("--segment-seconds", type=float, default=30.0)
    p.add_argument("--limit-hours", type=float, default=None, help="stop after this much train audio")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (each loads the pianos: ~1.5 GB)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    bad = [s for s in sets if s not in SETS]
    if bad:
        print(f"error: unknown set(s) {', '.join(bad)}; choose from {', '.join(SETS)}", file=sys.stderr)
        return 2
    try:
        s = build(args.out, args.asap, sets=sets, procedural=args.procedural,
                  max_train_performances=args.max_train_performances,
                  segments_per_performance=args.segments_per_performance, n_val=args.validation,
                  n_heldout=args.heldout, n_cal=args.calibration, seed=args.seed, segment_seconds=args.segment_seconds,
                  jobs=args.jobs, limit_hours=args.limit_hours, progress=not args.quiet,
                  pianos_dir=args.pianos)
    except ParStudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # items are written atomically: a rerun resumes after the last one
        print(f"\ninterrupted: the items rendered so far are kept in {args.out}; run the same command "
              "again to go on", file=sys.stderr)
        return 130
    print(f"Corpus v2 in {s['out_dir']} ({s['wall_s']} s): rendered {s['ok']}, existing {s['skipped']}, "
          f"failed {s['failed']}, empty {s['empty']}")
    for k, v in sorted(s["sets"].items()):
        print(f"  {k:28s} {v['items']:6d} items {v['hours']:7.2f} h")
    for f in s["failures"]:
        print(f"  FAILED {f}")
    return 1 if s["failed"] and not s["ok"] and not s["skipped"] else 0


def add_build_corpus_v2_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("build-corpus-v2", help="render corpus v2: sampled pianos, tunings, rooms, "
                              "noise and codecs (resumable)", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.corpus_v2",
                                description="Render PAR Studio corpus v2.")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
