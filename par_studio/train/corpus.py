"""Build the rendered training corpus: ``par-studio build-corpus`` / ``python -m par_studio.train.corpus``.

Sources
    * ASAP performance MIDI (``split.csv``: path,composer,piece,split); the split is by piece and
      any piece listed for validation or test is kept out of training.
    * procedural pieces (:mod:`par_studio.train.procedural`), training only.

Per item
    long MIDI is cut into segments of at most ``segment_seconds`` *before* rendering (notes
    crossing a boundary are clipped; the pedal state at the segment start becomes a CC64 event at
    t=0; a pedal still down at the segment end is released there), rendered with a 1 s tail,
    converted to mono float32 16 kHz, checked (not silent where notes are, long enough),
    augmented, and written as ``{split}/{source}_{stem}_{segment:03d}_{timbre}.flac`` (PCM_16)
    with the exact MIDI of the audio (``.mid``) and its metadata (``.json``) next to it.

Splits
    train: training timbres, transposition -3..+3, full augmentation.
    validation: training timbres, no transposition, full augmentation.
    test: the held-out timbre (timidity + freepats), no transposition, no augmentation (clean).

The build is resumable (existing items are skipped) and ``manifest.jsonl`` is rebuilt from the
items' ``.json`` files at the end.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from par_studio.constants import SAMPLE_RATE
from par_studio.errors import CorpusError, ParStudioError  # noqa: F401 (CorpusError re-exported)
from par_studio.train import augment as aug
from par_studio.train.item_render import (  # noqa: F401 (re-exported: rendering and writing items)
    FLUIDSYNTH_GAIN,
    PITCH_BEND_RANGE_CENTS,
    RENDER_TIMEOUT_S,
    TAIL_SECONDS,
    TIMIDITY_AMPLIFY,
    item_exists,
    item_file,
    render,
    tune_pretty_midi,
    verify_audio,
    write_item,
)
from par_studio.train.performance import (  # noqa: F401 (re-exported: the corpus's MIDI side)
    GEN_COARSETUNE,
    GEN_VOLENVRELEASE,
    MIN_NOTE_SECONDS,
    MIN_SEGMENT_SECONDS,
    NRPN_TIMECENT_SCALE,
    ZONE_SHIFT_PREROLL_S,
    Performance,
    cut_segment,
    envelope_events,
    load_performance,
    pedal_value_at,
    performance_from_pretty_midi,
    preroll_seconds,
    sanitize_notes,
    segment_bounds,
    to_pretty_midi,
    transpose,
)
from par_studio.train.procedural import generate_piece
from par_studio.train.soundfonts import TEST, TRAIN, Timbre, discover_timbres

SPLITS = ("train", "validation", "test")


def default_asap_dir() -> Path:
    """``shared/data/asap`` next to the repository checkout."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "asap"


# --- tasks --------------------------------------------------------------------------


@dataclass
class SourceTask:
    """One source piece (a performance or a procedural piece); rendered as up to N segments."""

    split: str
    source: str  # "asap" or "proc"
    stem: str
    midi_path: str | None = None
    proc_seed: int | None = None
    max_segments: int | None = None  # None: all segments; else a random subset of this size
    est_seconds: float = 0.0


@dataclass
class BuildConfig:
    out_dir: str
    seed: int
    segment_seconds: float
    timbres: list[dict]
    transpose: int = 3
    timbre_variety: bool = False  #: extra training timbres + random release times (train split)
    zone_shift: bool = False  #: training items played from shifted sample zones (train split)
    register_zones: bool = False  #: training items with a zone shift and release per register
    held_ramps: bool = False  #: training items whose held notes decay more slowly
    validation_ramps: bool = False  #: every validation item's held notes decay more slowly


#: with ``timbre_variety``: share of training items whose release time is varied, and the range
#: of the offset in timecents (-600..+2400: 0.7x to 4x the SoundFont's own release)
RELEASE_VARIATION_P = 0.8
RELEASE_TC_RANGE = (-600.0, 2400.0)
#: with ``zone_shift``: share of training items played from sample zones 1..ZONE_SHIFT_MAX keys
#: away (either direction), retuned to the right pitch
ZONE_SHIFT_P = 0.7
ZONE_SHIFT_MAX = 5
#: with ``register_zones``: share of training items whose keyboard is cut into 2-4 registers
#: (cuts between MIDI 36 and 84), each on its own channel with a zone shift of
#: -REGISTER_SHIFT_MAX..+REGISTER_SHIFT_MAX keys (0 included) and, with ``timbre_variety``, its
#: own release: a patchwork piano, as if every register had been sampled from another instrument
REGISTER_ZONES_P = 0.7
REGISTER_SHIFT_MAX = 7
REGISTER_CUT_RANGE = (36, 84)
#: with ``held_ramps``: share of training items whose held notes decay more slowly or settle on
#: a plateau (:mod:`par_studio.train.held_ramps`): each note starts RAMP_ATTEN_DB down and
#: rises by RAMP_RATE_DB_S per second while held; replaces registers and zone shift
HELD_RAMP_P = 0.5
RAMP_ATTEN_DB = (10.0, 24.0)
RAMP_RATE_DB_S = (4.0, 14.0)


def pick_envelope(cfg: BuildConfig, split: str, timbre: Timbre, *keys) -> dict | None:
    """The release offset and sample-zone shift of one training item (None: the SoundFont as
    it is); see :func:`envelope_events`. With ``register_zones``, some items get instead
    ``{"registers": [{"low", "high", "zone_shift"[, "release_tc"]}, ...]}``: contiguous key
    ranges (MIDI pitch of the labels, together 0..127), one MIDI channel each.

    Each is drawn from its own random stream, so the other choices of an item (timbre,
    transposition, augmentation, and the release when only the zone shift is added) are the
    same with and without variety.

    With ``validation_ramps``, every validation item (and no other) gets a held ramp: a second
    validation set whose held notes settle on a plateau, as the unseen test piano's do."""
    if split == "validation" and cfg.validation_ramps and timbre.renderer == "fluidsynth":
        return {"held_ramp": _draw_ramp(_rng(cfg.seed, "ramps", *keys))}
    if split != "train" or timbre.renderer != "fluidsynth":
        return None
    out = {}
    if cfg.timbre_variety:
        rng = _rng(cfg.seed, "envelope", *keys)
        if rng.random() < RELEASE_VARIATION_P:
            out["release_tc"] = int(round(rng.uniform(*RELEASE_TC_RANGE)))
    release = out.get("release_tc")
    if cfg.zone_shift:
        rng = _rng(cfg.seed, "zone", *keys)
        if rng.random() < ZONE_SHIFT_P:
            out["zone_shift"] = int(rng.integers(1, ZONE_SHIFT_MAX + 1)) * int(rng.choice((-1, 1)))
    if cfg.register_zones:
        rng = _rng(cfg.seed, "registers", *keys)
        if rng.random() < REGISTER_ZONES_P:
            n_cuts = int(rng.integers(1, 4))
            cuts = sorted({int(c) for c in rng.integers(REGISTER_CUT_RANGE[0],
                                                        REGISTER_CUT_RANGE[1] + 1, n_cuts)})
            bounds = [0] + cuts + [128]  # register i holds keys bounds[i] .. bounds[i+1]-1
            regs = []
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                reg = {"low": lo, "high": hi - 1,
                       "zone_shift": int(rng.integers(-REGISTER_SHIFT_MAX, REGISTER_SHIFT_MAX + 1))}
                if cfg.timbre_variety and rng.random() < RELEASE_VARIATION_P:
                    reg["release_tc"] = int(round(rng.uniform(*RELEASE_TC_RANGE)))
                regs.append(reg)
            out = {"registers": regs}  # replaces the item-wide release and shift
    if cfg.held_ramps:
        rng = _rng(cfg.seed, "ramps", *keys)
        if rng.random() < HELD_RAMP_P:
            out = {"release_tc": release} if release else {}  # one channel envelope for all
            out["held_ramp"] = _draw_ramp(rng)
    return out or None


def _draw_ramp(rng: np.random.Generator) -> dict:
    """A held ramp's start attenuation (dB) and rise (dB per second held)."""
    return {"atten_db": round(float(rng.uniform(*RAMP_ATTEN_DB)), 1),
            "rate_db_s": round(float(rng.uniform(*RAMP_RATE_DB_S)), 1)}


def _rng(seed: int, *keys) -> np.random.Generator:
    parts = [int(seed) & 0xFFFFFFFF]
    for k in keys:
        parts.append(zlib.crc32(str(k).encode()) if not isinstance(k, int) else k & 0xFFFFFFFF)
    return np.random.default_rng(parts)


def _split_timbres(cfg: BuildConfig, split: str) -> list[Timbre]:
    role = TEST if split == "test" else TRAIN
    extra_ok = cfg.timbre_variety and split == "train"
    ts = [Timbre(**t) for t in cfg.timbres if t["split"] == role and (extra_ok or not t.get("extra"))]
    if not ts:
        raise CorpusError(f"no {role} timbre installed for the {split} split")
    return ts


def process_source(task: SourceTask, cfg: BuildConfig) -> list[dict]:
    """Render every (selected) segment of one source; returns one result dict per segment."""
    results: list[dict] = []
    try:
        if task.source == "proc":
            perf = performance_from_pretty_midi(generate_piece(int(task.proc_seed)))
        else:
            perf = load_performance(Path(task.midi_path))
    except Exception as e:  # noqa: BLE001
        return [{"status": "failed", "item": f"{task.split}/{task.source}_{task.stem}", "error": str(e)}]
    bounds = segment_bounds(perf.end, cfg.segment_seconds)
    idx = list(range(len(bounds)))
    if task.max_segments is not None and len(idx) > task.max_segments:
        pick = _rng(cfg.seed, "segments", task.stem).choice(len(idx), task.max_segments, replace=False)
        idx = sorted(int(i) for i in pick)
    timbres = _split_timbres(cfg, task.split)
    out = Path(cfg.out_dir) / task.split
    out.mkdir(parents=True, exist_ok=True)
    for si in idx:
        start, end = bounds[si]
        rng = _rng(cfg.seed, task.split, task.source, task.stem, si)
        timbre = timbres[int(rng.integers(len(timbres)))]
        semis = int(rng.integers(-cfg.transpose, cfg.transpose + 1)) if task.split == "train" else 0
        name = f"{task.source}_{task.stem}_{si:03d}_{timbre.name}"
        base = out / name
        item = f"{task.split}/{name}"
        if item_exists(base):
            results.append({"status": "skipped", "item": item, "seconds": 0.0})
            continue
        try:
            seg = cut_segment(transpose(perf, semis) if semis else perf, start, end)
            if not seg.notes:
                results.append({"status": "empty", "item": item, "seconds": 0.0})
                continue
            seconds = (end - start) + TAIL_SECONDS
            envelope = pick_envelope(cfg, task.split, timbre, task.source, task.stem, si)
            with tempfile.TemporaryDirectory(prefix="parcorpus_") as td:
                clean = render(seg, timbre, seconds, Path(td), envelope)
            verify_audio(clean, seg, seconds)
            level = {"train": "full", "validation": "full", "test": "none"}[task.split]
            audio, params = aug.augment(clean, rng, level)
            meta = {
                "split": task.split,
                "audio": f"{item}.flac",
                "midi": f"{item}.mid",
                "source": task.source,
                "stem": task.stem,
                "segment": si,
                "segment_start_s": round(start, 4),
                "timbre": timbre.name,
                "renderer": timbre.renderer,
                "transposition": semis,
                "envelope": envelope,
                "augmentation": params,
                "duration_s": round(len(audio) / SAMPLE_RATE, 4),
                "n_notes": len(seg.notes),
            }
            if task.midi_path:
                meta["source_midi"] = task.midi_path
            else:
                meta["proc_seed"] = task.proc_seed
            write_item(base, audio, seg, meta)
            results.append({"status": "ok", "item": item, "seconds": meta["duration_s"]})
        except Exception as e:  # noqa: BLE001 - one bad item must not stop the build
            results.append({"status": "failed", "item": item, "error": f"{type(e).__name__}: {e}"})
    return results


def _process_star(args):
    return process_source(*args)


def read_asap_split(asap_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """{split: [(relative midi path, piece key)]}; validation/test pieces never in train."""
    csv_path = asap_dir / "split.csv"
    if not csv_path.is_file():
        raise CorpusError(
            f"ASAP split file not found: {csv_path}. Pass --asap DIR (the folder with split.csv)."
        )
    rows = list(csv.DictReader(open(csv_path, newline="")))
    held = {(r["composer"], r["piece"]) for r in rows if r["split"] in ("validation", "test")}
    out: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    for r in rows:
        key = (r["composer"], r["piece"])
        if r["split"] == "train" and key in held:
            continue
        if r["split"] in out and (asap_dir / r["path"]).is_file():
            out[r["split"]].append((r["path"], f"{key[0]}|{key[1]}"))
    return out


def _stem_of(rel: str) -> str:
    return Path(rel).with_suffix("").as_posix().replace("/", "-").replace(" ", "_")


def _pick_performances(items, n, rng) -> list[tuple[str, str]]:
    """Up to n performances, spreading over pieces (one per piece before any second)."""
    items = list(items)
    order = rng.permutation(len(items))
    seen: dict[str, int] = {}
    ranked = []
    for i in order:
        rel, piece = items[i]
        ranked.append((seen.get(piece, 0), len(ranked), rel, piece))
        seen[piece] = seen.get(piece, 0) + 1
    ranked.sort()
    return [(rel, piece) for _, _, rel, piece in ranked[: n if n is not None else len(ranked)]]


def plan_tasks(
    asap_dir: Path | None,
    seed: int,
    procedural: int,
    max_train_performances: int | None,
    max_val: int,
    max_test: int,
    segments_per_performance: int | None,
    eval_segments_per_performance: int = 2,
) -> list[SourceTask]:
    """Validation and test first (small), then train ASAP and procedural interleaved."""
    rng = _rng(seed, "plan")
    tasks_eval: list[SourceTask] = []
    train_asap: list[SourceTask] = []
    if asap_dir is not None:
        asap = read_asap_split(asap_dir)
        for split, limit in (("validation", max_val), ("test", max_test)):
            if limit <= 0:
                continue
            k = eval_segments_per_performance
            perfs = _pick_performances(asap[split], math.ceil(limit / k), rng)
            remaining = limit
            for rel, _ in perfs:
                take = min(k, remaining)
                remaining -= take
                tasks_eval.append(SourceTask(split, "asap", _stem_of(rel), str(asap_dir / rel),
                                             max_segments=take))
        if max_train_performances is None or max_train_performances > 0:
            for rel, _ in _pick_performances(asap["train"], max_train_performances, rng):
                train_asap.append(SourceTask("train", "asap", _stem_of(rel), str(asap_dir / rel),
                                             max_segments=segments_per_performance))
    proc = [SourceTask("train", "proc", f"{i:05d}", proc_seed=seed * 100_003 + i) for i in range(procedural)]
    # interleave so an interrupted build still has both kinds
    train: list[SourceTask] = []
    a, p = list(train_asap), list(proc)
    while a or p:
        if a and (not p or rng.random() < len(a) / (len(a) + len(p))):
            train.append(a.pop(0))
        else:
            train.append(p.pop(0))
    return tasks_eval + train


def rebuild_manifest(out_dir: Path) -> dict[str, dict]:
    """Write ``manifest.jsonl`` from the items on disk; returns per-split counts and seconds."""
    lines = []
    stats: dict[str, dict] = {s: {"items": 0, "seconds": 0.0} for s in SPLITS}
    for split in SPLITS:
        d = out_dir / split
        if not d.is_dir():
            continue
        for js in sorted(d.glob("*.json")):
            base = js.with_suffix("")
            if not (item_file(base, ".flac").exists() and item_file(base, ".mid").exists()):
                continue
            try:
                meta = json.loads(js.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            lines.append(json.dumps(meta, sort_keys=True))
            stats[split]["items"] += 1
            stats[split]["seconds"] += float(meta.get("duration_s", 0.0))
    tmp = out_dir / ".manifest.jsonl.tmp"
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, out_dir / "manifest.jsonl")
    return stats


def build_corpus(
    out_dir: str | Path,
    asap_dir: str | Path | None = None,
    *,
    procedural: int = 300,
    max_train_performances: int | None = None,
    max_val: int = 20,
    max_test: int = 30,
    segment_seconds: float = 60.0,
    segments_per_performance: int | None = None,
    seed: int = 0,
    jobs: int | None = None,
    limit_hours: float | None = None,
    use_asap: bool = True,
    progress: bool = True,
    timbre_variety: bool = False,
    zone_shift: bool = False,
    register_zones: bool = False,
    held_ramps: bool = False,
    validation_ramps: bool = False,
) -> dict:
    """Build (or resume) the corpus in ``out_dir``; returns a summary dict.

    ``asap_dir`` defaults to :func:`default_asap_dir`; ``use_asap=False`` builds only the
    procedural training items. ``limit_hours`` stops scheduling new training sources once the
    rendered training audio (including items that already existed) reaches it.
    """
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timbres = discover_timbres(require=True)
    for split in SPLITS:  # temp files of an interrupted earlier run (one build per folder)
        for tmp in (out / split).glob(".*.tmp*"):
            tmp.unlink(missing_ok=True)
    asap = Path(asap_dir) if asap_dir is not None else default_asap_dir()
    if not use_asap:
        asap = None
    tasks = plan_tasks(asap, seed, procedural, max_train_performances, max_val, max_test,
                       segments_per_performance)
    if any(t.split == "test" for t in tasks) and not any(t["split"] == TEST for t in (x.to_dict() for x in timbres)):
        raise CorpusError("the held-out test timbre is not installed: sudo apt-get install timidity freepats")
    cfg = BuildConfig(str(out), seed, float(segment_seconds), [t.to_dict() for t in timbres],
                      timbre_variety=timbre_variety, zone_shift=zone_shift,
                      register_zones=register_zones, held_ramps=held_ramps,
                      validation_ramps=validation_ramps)
    jobs = max(1, jobs or os.cpu_count() or 1)
    counts = {"ok": 0, "skipped": 0, "failed": 0, "empty": 0}
    failures: list[str] = []
    train_seconds = 0.0
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), unit="src", disable=not progress, dynamic_ncols=True)

    def collect(res: list[dict]) -> None:
        nonlocal train_seconds
        for r in res:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            if r["status"] == "failed":
                failures.append(f"{r['item']}: {r['error']}")
            if r["item"].startswith("train/"):
                if r["status"] == "ok":
                    train_seconds += r["seconds"]
                elif r["status"] == "skipped":
                    meta = out / (r["item"] + ".json")
                    try:
                        train_seconds += json.loads(meta.read_text()).get("duration_s", 0.0)
                    except (OSError, json.JSONDecodeError):
                        pass
        bar.update(1)
        bar.set_postfix(ok=counts["ok"], skip=counts["skipped"], fail=counts["failed"],
                        train_h=f"{train_seconds / 3600:.2f}")

    def over_limit() -> bool:
        return limit_hours is not None and train_seconds >= limit_hours * 3600

    stopped_early = False
    if jobs == 1:
        for t in tasks:
            if t.split == "train" and over_limit():
                stopped_early = True
                break
            collect(process_source(t, cfg))
    else:
        with Pool(jobs) as pool:
            pending = []
            it = iter(tasks)
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * jobs:
                    t = next(it, None)
                    if t is None:
                        exhausted = True
                        break
                    if t.split == "train" and over_limit():
                        stopped_early = exhausted = True
                        break
                    pending.append(pool.apply_async(process_source, (t, cfg)))
                if not pending:
                    break
                done = [p for p in pending if p.ready()]
                if not done:
                    pending[0].wait(0.2)
                    continue
                for p in done:
                    pending.remove(p)
                    try:
                        collect(p.get())
                    except Exception as e:  # noqa: BLE001
                        counts["failed"] += 1
                        failures.append(f"worker error: {e}")
                        bar.update(1)
    bar.close()
    stats = rebuild_manifest(out)
    summary = {
        "out_dir": str(out),
        "splits": {s: {"items": v["items"], "hours": round(v["seconds"] / 3600, 3)} for s, v in stats.items()},
        "rendered": counts["ok"],
        "skipped": counts["skipped"],
        "empty_segments": counts["empty"],
        "failed": counts["failed"],
        "failures": failures[:50],
        "stopped_at_limit_hours": stopped_early,
        "timbres": {t.name: t.split for t in timbres},
        "wall_s": round(time.time() - t0, 1),
    }
    return summary


if __name__ == "__main__":  # python -m par_studio.train.corpus (the command line: corpus_cli.py)
    from .corpus_cli import main

    sys.exit(main())
