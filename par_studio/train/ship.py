"""Ship a trained checkpoint into ``models/``: evaluate it on the held-out test set, store the
figures in its metadata and in ``models/<name>.eval.json``, and refresh the figures table of
``models/MODEL_CARD.md`` (between its ``<!-- figures -->`` markers).

    python -m par_studio.train.ship RUN/best.pt --name par-compact-320 --test-dir CORPUS/test \
        --tune-dir CORPUS/validation

With ``--tune-dir`` the decoder's onset and offset biases are first chosen on those validation files
(:mod:`.calibrate`) and saved in the shipped config. Given several checkpoints (e.g. a run's
``best.pt`` and ``last.pt``), the one with the best calibrated validation score is shipped;
the test set is scored only for that one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..midi_io import atomic_write_bytes
from ..model.checkpoint import MODELS_DIR, load_checkpoint, save_checkpoint
from .calibrate import (DEFAULT_GRID, DEFAULT_REFINE, OFFSET_GRID, OFFSET_REFINE, SHIFT_GRID,
                        ValidationSet, tune_offset_shift, tune_onset_bias)
from .dataset import dir_pairs
from .evaluate import evaluate_pairs, format_report

START, END = "<!-- figures -->", "<!-- /figures -->"
HELDOUT_COLUMNS = ("splendid", "splendid-detune35", "splendid-hall", "freepats", "freepats-detune35",
                   "freepats-hall")


def app_figures(r: dict) -> dict:
    """{set name: {"files", "overall", "bands"}} of one eval.json as the app transcribes: with
    the model's note verifier when ``verifier_fit`` scored it ("note_check"), else the decoder
    alone; the test set under its own name."""
    h = dict(r.get("heldout") or {})
    if r.get("test_name") == "freepats":
        h["freepats"] = r
    h.update((r.get("note_check") or {}).get("heldout") or {})
    return h


def figures_table(models_dir: Path) -> str:
    rows = ["| model | look-ahead | parameters | steps | CPU h | test set | note F1 | note+offset F1 | "
            "note+off+vel F1 | frame F1 | RTF offline |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    bands = ["", "Per pitch band, note F1 (MIDI 21–43 / 44–65 / 66–87 / 88–108):", ""]
    for js in sorted(models_dir.glob("*.eval.json")):
        r = json.loads(js.read_text())
        test = app_figures(r).get(r.get("test_name"), r)
        o = r["overall"] = test["overall"]
        m = r["model"]
        steps = f"{m['steps']}" + (" ¹" if m.get("initialised_from") else "")
        rows.append(
            f"| {m['preset']} | {m['latency_ms']} ms | {m['parameters']:,} | {steps} | "
            f"{m['cpu_hours']:.2f} | {r.get('test_name', 'corpus2/test')} ({r['files']}) | {o['note']['f1']:.3f} | {o['note_offset']['f1']:.3f} | "
            f"{o['note_offset_velocity']['f1']:.3f} | {o['frame']['f1']:.3f} | {r['real_time_factor']:.3f} |")
        b = test["bands"]
        bands.append(f"- {js.name[:-len('.eval.json')]}: " + " / ".join(
            f"{b[k]['note']['f1']:.3f}" if k in b else "–" for k in ("21-43", "44-65", "66-87", "88-108")))
    curves = ["", "Learning curves (validation: free-running decoding of 8 validation segments; "
              "step: note F1 / note+offset F1):", ""]
    for js in sorted(models_dir.glob("*.eval.json")):
        r = json.loads(js.read_text())
        pts = r.get("learning_curve") or []
        if pts:
            curves.append(f"- {js.name[:-len('.eval.json')]}: " + ", ".join(
                f"{p['step']}: {p['note_f1']:.2f}/{p['note_offset_f1']:.2f}" for p in pts))
    bands += curves
    held = ["", "Held-out sets of corpus v2 (12 × 30 s of the ASAP test pieces; note / note+offset / "
            "note+offset+velocity F1):", "",
            "| model | " + " | ".join(HELDOUT_COLUMNS) + " |", "|---|" + "---|" * len(HELDOUT_COLUMNS)]
    plain = ["", "The same without the note check (`--no-note-check`: the decoder alone, as calibrated):", "",
             "| model | " + " | ".join(HELDOUT_COLUMNS) + " |", "|---|" + "---|" * len(HELDOUT_COLUMNS)]
    for js in sorted(models_dir.glob("*.eval.json")):
        r = json.loads(js.read_text())
        decoder = dict(r.get("heldout") or {})
        if r.get("test_name") == "freepats":
            decoder["freepats"] = r
        for table, h in ((held, app_figures(r)), (plain, decoder)):
            cells = [" / ".join(f"{h[c]['overall'][k]['f1']:.3f}" for k in ("note", "note_offset",
                                                                              "note_offset_velocity"))
                     if c in h else "–" for c in HELDOUT_COLUMNS]
            table.append(f"| {js.name[:-len('.eval.json')]} | " + " | ".join(cells) + " |")
    bands += held + plain
    bands += lookahead_table(models_dir)
    tests = [json.loads(js.read_text()).get("test_name") for js in sorted(models_dir.glob("*.eval.json"))]
    head = ("Test set of each model: test pieces of the ASAP split rendered by TiMidity + freepats "
            "(never trained on): " + ("`corpus2/test` = 30 × 60 s (corpus v1, clean), " if None in tests else "")
            + "`freepats` = 12 × 30 s (corpus v2 `heldout/freepats`). All figures with the app's "
            "defaults: the piano's tuning measured and, when off A440, corrected (`--tuning auto`); "
            "the reverb not reduced; the notes checked by the model's note verifier where it has one. RTF offline: one thread, measured during that evaluation run, "
            "on a machine that may have been busy (idle figures: *Speed*).\n\n")
    if any("¹" in r for r in rows):
        rows.append("\n¹ fine-tuned or distilled from another checkpoint: steps and CPU hours of that "
                    "training only (the whole lineage: `training_logs/HISTORY.md`).")
    return head + "\n".join(rows) + "\n" + "\n".join(bands) + "\n"


LOOKAHEADS = (128, 160, 192, 224, 320)
PRESETS = (("par-compact", "PARcompact"), ("par", "PAR"))


def lookahead_points(models_dir: Path, sets: tuple[str, ...] = ("splendid", "freepats")
                     ) -> dict[tuple[str, int], dict[str, tuple[float, float]]]:
    """{(preset, look-ahead ms): {set: (note F1, note+offset F1)}} of every shipped model's
    held-out figures with the app's defaults (:func:`app_figures`), for the sets ``sets``."""
    got: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}
    for js in models_dir.glob("*.eval.json"):
        r = json.loads(js.read_text())
        h = app_figures(r)
        got[(r["model"]["preset"], int(r["model"]["latency_ms"]))] = {
            s: (h[s]["overall"]["note"]["f1"], h[s]["overall"]["note_offset"]["f1"]) for s in sets if s in h}
    return got


def lookahead_table(models_dir: Path, sets: tuple[str, ...] = ("splendid", "freepats")) -> list[str]:
    """Markdown lines: note / note+offset F1 against look-ahead for both presets (as the paper's
    latency table), on the held-out sets ``sets``; a look-ahead without shipped weights is "–"."""
    got = lookahead_points(models_dir, sets)
    lines = ["", "Accuracy against look-ahead (note F1 / note+offset F1; – : not trained yet; "
             "drawn in `lookahead.svg`):", "",
             "| look-ahead | " + " | ".join(f"{label} {s}" for _, label in PRESETS for s in sets) + " |",
             "|---|" + "---|" * (len(PRESETS) * len(sets))]
    for ms in LOOKAHEADS:
        cells = []
        for preset, _ in PRESETS:
            for s in sets:
                h = got.get((preset, ms), {})
                cells.append(" / ".join(f"{x:.3f}" for x in h[s]) if s in h else "–")
        lines.append(f"| {ms} ms | " + " | ".join(cells) + " |")
    return lines


def update_card(models_dir: Path) -> None:
    card = models_dir / "MODEL_CARD.md"
    if not card.exists():
        return
    text = card.read_text()
    if START in text and END in text:
        a, rest = text.split(START, 1)
        _, b = rest.split(END, 1)
        text = a + START + "\n" + figures_table(models_dir) + END + b
        atomic_write_bytes(card, text.encode())
        from .card_chart import write_lookahead_chart
        write_lookahead_chart(models_dir)


def _short(path) -> str:
    """The last two parts of a path (``run/best.pt``): enough to tell candidates apart, no
    machine path."""
    parts = Path(str(path)).parts
    return "/".join(parts[-2:])


def _keep_history(slim: dict, chosen, target: Path, eval_json: Path) -> None:
    """Re-scoring a shipped model in place (its own checkpoint, no --tune-dir): keep the
    calibration, learning curve and source run its eval JSON already records, which only its
    training run could give."""
    try:
        same = Path(chosen).resolve() == target.resolve()
        old = json.loads(eval_json.read_text()) if same and eval_json.is_file() else {}
    except (OSError, ValueError):
        old = {}
    for k in ("calibration", "learning_curve"):
        if k not in slim and k in old:
            slim[k] = old[k]
    if "source" in old.get("model", {}) and "model" in slim:
        slim["model"]["source"] = old["model"]["source"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.ship", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", nargs="+", help="checkpoint(s); with several, --tune-dir picks one")
    p.add_argument("--name", required=True, help="e.g. par-compact-320 (→ models/par-compact-320.pt)")
    p.add_argument("--test-dir", required=True, help="folder of audio + same-stem MIDI (held-out test)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--tune-dir", default=None,
                   help="validation folder (audio + MIDI) to choose the decoder's onset bias on")
    p.add_argument("--bias-grid", default=",".join(str(b) for b in DEFAULT_GRID),
                   help="onset biases tried with --tune-dir (comma-separated)")
    p.add_argument("--bias-refine", type=float, default=DEFAULT_REFINE,
                   help="then also try the best grid bias ± this (0: grid only)")
    p.add_argument("--offset-grid", default=",".join(str(b) for b in OFFSET_GRID),
                   help="offset-state biases tried after the onset bias (comma-separated; '' skips)")
    p.add_argument("--offset-refine", type=float, default=OFFSET_REFINE,
                   help="then also try the best offset bias ± this (0: grid only)")
    p.add_argument("--shift-grid", default=",".join(str(s) for s in SHIFT_GRID),
                   help="note-end shifts in seconds tried last on --tune-dir (empty: none)")
    p.add_argument("--test-name", default=None,
                   help="name of the test set in the metadata (default: the folder's name)")
    p.add_argument("--heldout", action="append", default=[], metavar="NAME=DIR",
                   help="a further held-out set scored into the eval JSON (repeatable), e.g. "
                        "splendid-hall=CORPUS/heldout/splendid-hall")
    p.add_argument("--models-dir", default=str(MODELS_DIR))
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for the AR loop)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if len(args.checkpoint) > 1 and not args.tune_dir:
        p.error("several checkpoints need --tune-dir to choose between them")
    calibration = None
    chosen = args.checkpoint[0]
    if not args.tune_dir:
        model, meta = load_checkpoint(chosen)
    else:
        grid = [float(x) for x in args.bias_grid.split(",") if x.strip()]
        offset_grid = [float(x) for x in args.offset_grid.split(",") if x.strip()]
        shift_grid = [float(x) for x in args.shift_grid.split(",") if x.strip()]
        val = dir_pairs(args.tune_dir)
        best_score, candidates = None, []
        for ck in args.checkpoint:
            m, mt = load_checkpoint(ck)
            print(f"{ck} (step {mt.get('steps')}):")
            m.set_offset_shift(0.0)
            vs = ValidationSet(val, m)
            _, rows = tune_onset_bias(m, val, grid, log=lambda s: print("  " + s), refine=args.bias_refine,
                                      offset_grid=offset_grid, offset_refine=args.offset_refine,
                                      evaluate=vs.evaluate)
            if shift_grid:
                rows += tune_offset_shift(m, vs.evaluate, shift_grid, log=lambda s: print("  " + s))[1]
            top = max(r["score"] for r in rows)
            candidates.append({"checkpoint": str(ck), "steps": mt.get("steps"), "best_score": top, "sweep": rows})
            if best_score is None or top > best_score:
                best_score, chosen, model, meta = top, ck, m, mt
        for c in candidates:  # names, never machine paths
            c["checkpoint"] = _short(c["checkpoint"])
        calibration = {"tune_dir": _short(args.tune_dir), "state_bias": list(model.cfg.state_bias),
                       "offset_shift_s": model.cfg.offset_shift_s,
                       "chosen": _short(chosen), "sweep": next(c["sweep"] for c in candidates if c["checkpoint"] == _short(chosen)),
                       "candidates": candidates}
        print(f"shipping {chosen}; decoder state bias: {model.cfg.state_bias}, note ends "
              f"+{1000 * model.cfg.offset_shift_s:.0f} ms")
    pairs = dir_pairs(args.test_dir)[: args.limit]
    # the decoder alone: a verifier belongs to final weights (verifier_fit runs after shipping)
    res = evaluate_pairs(pairs, model, progress=lambda i, n: print(f"  {i}/{n}", end="\r", file=sys.stderr),
                         verify_notes=False)
    res["model"] = {"preset": model.cfg.preset, "latency_ms": model.latency_ms,
                    "parameters": model.n_parameters(), "steps": meta.get("steps"),
                    "cpu_hours": meta.get("cpu_hours", 0.0), "source": _short(chosen),
                    "initialised_from": meta.get("initialised_from"), "teacher": meta.get("teacher"),
                    "state_bias": list(model.cfg.state_bias),
                    "offset_shift_s": model.cfg.offset_shift_s}
    if calibration:
        res["calibration"] = calibration
    res["test_name"] = args.test_name or Path(args.test_dir).name
    print(format_report(res))
    for spec in args.heldout:
        name, _, d = spec.partition("=")
        hp = dir_pairs(d)[: args.limit]
        if not hp:
            print(f"warning: no audio+MIDI pairs in {d}; {name} skipped", file=sys.stderr)
            continue
        h = evaluate_pairs(hp, model, verify_notes=False)
        res.setdefault("heldout", {})[name] = {k: h[k] for k in ("files", "overall", "bands")}
        print(f"{name}:\n{format_report(h)}")
    meta = {k: v for k, v in meta.items() if k != "path"}
    metrics = dict(meta.get("metrics") or {})
    for k in ("note", "note_offset", "note_offset_velocity", "frame"):
        metrics[f"test_{k}_f1"] = round(res["overall"][k]["f1"], 4)
    meta["metrics"] = metrics
    meta["test_set"] = f"{len(pairs)} files of {args.test_name or Path(args.test_dir).name}"
    for name, h in res.get("heldout", {}).items():
        for k in ("note", "note_offset", "note_offset_velocity"):
            metrics[f"{name}_{k}_f1"] = round(h["overall"][k]["f1"], 4)
    out_dir = Path(args.models_dir)
    save_checkpoint(model, out_dir / f"{args.name}.pt", meta)
    slim = {k: v for k, v in res.items() if k != "per_file"}
    curve = Path(chosen).parent / "val_log.csv"
    if curve.exists():
        import csv

        with open(curve, newline="") as f:
            slim["learning_curve"] = [
                {"step": int(r["step"]), "note_f1": float(r["note_f1"]),
                 "note_offset_f1": float(r["note_offset_f1"]), "cpu_hours": float(r["cpu_hours"])}
                for r in csv.DictReader(f)]
    _keep_history(slim, chosen, out_dir / f"{args.name}.pt", out_dir / f"{args.name}.eval.json")
    atomic_write_bytes(out_dir / f"{args.name}.eval.json", json.dumps(slim, indent=2).encode())
    update_card(out_dir)
    print(f"shipped {out_dir / (args.name + '.pt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
