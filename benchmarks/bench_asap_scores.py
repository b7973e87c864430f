#!/usr/bin/env python3
"""ASAP held-out scores: audio of real performances → transcription → MusicXML → music21.

For each ASAP *test-split* performance (performance MIDI of the shared ASAP copy, never used to
fit the tempo estimator): the first ``--seconds`` are rendered to audio (TiMidity with the
freepats piano, 16 kHz mono), transcribed by the shipped PARcompact 320 ms model through the
engine (``par_studio.engine.offline.transcribe``), written as MusicXML by the command line's own
notation export (``par_studio.notation_export.write_notation``: estimated tempo and meter,
:mod:`par_studio.score`), re-read with music21 and checked:

* **two staves** (two PartStaff parts with the same number of measures);
* **time signature**: the score's against the written one (exact, or the same bar length:
  2/2 and 4/4 both have four quarters a bar and draw the same bar lines);
* **bar lines**: each measure's start (quarters in the re-read score) mapped to seconds by the
  exported grid, against the performance's annotated downbeats (ASAP annotations, see
  ``benchmarks/data/asap_downbeats.json``; only for the performances listed there): a downbeat
  is found when a bar line lies within 1/8 of a bar of it, and a bar line is right when a
  downbeat lies that near. Bars are *correct* when the time signature has the written bar
  length and at least 90 % of downbeats and 90 % of bar lines inside the played span match;
* **notes**: the re-read score's notes (pitch, onset in quarters mapped back to seconds) against
  the performance's own notes (mir_eval onset matching, 100 ms), next to the transcription's.

Renders and transcriptions are cached (``--cache``), so a rerun after an estimator change only
re-estimates. Needs ``timidity`` with freepats and the shipped PARcompact weights.

Usage::

    python benchmarks/bench_asap_scores.py [--asap DIR] [--seconds 50] [--only SUBSTR ...] [-v]
    python benchmarks/bench_asap_scores.py --quick --cache DIR   # estimator only, seconds

``--quick`` checks only the annotated performances and only the estimator: bar lines are the
grid's own (every ``beats_per_bar``-th beat from the first downbeat), without the MusicXML
export and re-read, so an estimator change is judged on cached transcriptions in seconds (the
full run is what counts: the score's bar lines can differ where notes start before bar 1).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from par_studio.notes import Notes  # noqa: E402

TRUTH = ROOT / "benchmarks" / "data" / "asap_downbeats.json"
#: written time signature of each ASAP test piece (the same table as bench_tempo.ASAP_TEST; the
#: Italian concerto in ASAP is its Andante, 3/4, as its annotations say)
WRITTEN = {
    "Bach/Fugue/bwv_846": "4/4", "Bach/Fugue/bwv_854": "4/4", "Bach/Fugue/bwv_875": "4/4",
    "Bach/Fugue/bwv_884": "3/8", "Bach/Fugue/bwv_892": "2/2", "Bach/Italian_concerto": "3/4",
    "Bach/Prelude/bwv_854": "12/8", "Bach/Prelude/bwv_880": "3/2",
    "Beethoven/Piano_Sonatas/14-3": "4/4", "Beethoven/Piano_Sonatas/21-2": "6/8",
    "Beethoven/Piano_Sonatas/7-3": "3/4", "Chopin/Etudes_op_25/1": "4/4",
    "Chopin/Sonata_2/3rd": "4/4", "Liszt/Ballade_2": "4/4", "Schubert/Impromptu_op142/3": "2/2",
}
BAR_TOL = 1 / 8  #: a bar line matches a downbeat within this fraction of a bar
NOTE_TOL_S = 0.1  #: onset tolerance of the note check


def bar_quarters(ts: str) -> float:
    num, den = map(int, ts.split("/"))
    return num * 4.0 / den


def test_performances(root: Path, only: list[str] | None):
    with open(root / "split.csv", newline="") as fh:
        rows = [r["path"] for r in csv.DictReader(fh) if r["split"] == "test"]
    for path in rows:
        key = next((k for k in WRITTEN if path.startswith(k + "/")), None)
        if key is None or (only and not any(s in path for s in only)):
            continue
        yield path, key


def render(midi: Path, seconds: float, wav: Path) -> None:
    """The first ``seconds`` of a performance (notes clipped, pedal carried) → 16 kHz mono WAV
    through TiMidity and freepats; times are kept (t = 0 is the MIDI file's 0 s)."""
    from par_studio.train.performance import cut_segment, load_performance, to_pretty_midi

    perf = cut_segment(load_performance(midi), 0.0, seconds)
    pm = to_pretty_midi(perf, end_marker=seconds)
    tmp_mid = wav.with_suffix(".cut.mid")
    pm.write(str(tmp_mid))
    subprocess.run(["timidity", "-c", "/etc/timidity/freepats.cfg", "-Ow", "--output-mono",
                    "--preserve-silence", "-s", "16000", "-o", str(wav), str(tmp_mid)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp_mid.unlink()


_model = None


def transcription(root: Path, path: str, seconds: float, cache: Path, threads: int) -> Notes:
    """PARcompact 320 ms transcription of the rendered excerpt (cached as CSV)."""
    global _model
    from par_studio.midi_io import read_csv, write_csv

    base = cache / (path.replace("/", "_").removesuffix(".mid") + f"_{seconds:g}s")
    csv_f = base.with_suffix(".csv")
    if csv_f.exists():
        return read_csv(csv_f)
    cache.mkdir(parents=True, exist_ok=True)
    wav = base.with_suffix(".wav")
    if not wav.exists():
        render(root / path, seconds, wav)
    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe

    if _model is None:
        from par_studio.model.checkpoint import resolve_model

        _model, _ = resolve_model("par-compact", 320)
    notes = transcribe(load_audio(wav), _model, threads=threads).notes
    write_csv(notes, csv_f)
    wav.unlink()  # the CSV is what reruns need; keep the cache small
    return notes


def export_score(notes: Notes, xml: Path):
    """MusicXML through the command line's notation export (tempo and meter estimated, as
    ``par-studio transcribe --musicxml`` does). Returns the grid it used and the quarters from
    the score's first bar line to the grid's first downbeat (the score starts with the first
    note's bar; an upbeat's pickup measure counts as the whole bar, as :func:`reread` counts)."""
    from par_studio.notation_export import write_notation
    from par_studio.quantise import quantise
    from par_studio.tempo import resolve_meter

    args = SimpleNamespace(tempo="auto", meter=None, quantise=False, musicxml=True)
    write_notation(None, notes, args, lambda fn, p, n: (fn(n, p), None), score_path=xml)
    meter = resolve_meter("auto", notes)  # the same (cached) estimate write_notation used
    return meter, quantise(notes, meter.extended(float(notes.offset.max()) + 1.0)).shift_q


def reread(xml: Path):
    """(parts, measure starts in quarters per part, time signature, notes as (onset quarters,
    pitch) of both staves). Quarters count from the first measure's bar line. With a pickup
    measure (an upbeat: music21 reads the beats it lacks as ``paddingLeft``) the score begins
    that many quarters after its bar line: the later measures and the notes lie a pickup's
    length, not whole bars, from the score's start, so they are moved by the padding, and the
    pickup's start is its bar line, a whole bar before the next measure's."""
    from music21 import converter, meter, stream

    s = converter.parse(str(xml))
    parts = list(s.parts)
    starts = []
    pads = []
    for p in parts:
        ms = list(p.getElementsByClass(stream.Measure))
        pad = float(ms[0].paddingLeft) if ms else 0.0
        pads.append(pad)
        starts.append([float(m.offset) + pad if i else 0.0 for i, m in enumerate(ms)])
    ts = s.recurse().getElementsByClass(meter.TimeSignature).first()
    got = []
    for p, pad in zip(parts, pads):
        for n in p.flatten().notes:
            for pt in n.pitches:
                got.append((float(n.getOffsetInHierarchy(p)) + pad, pt.midi))
    return parts, starts, ts.ratioString if ts is not None else None, got


def note_f1(ref: Notes, on_s: np.ndarray, pitch: np.ndarray) -> float:
    import mir_eval

    keep = on_s >= 0  # a score note mapped before 0 s (grid extrapolated backwards) is a miss
    on_s, pitch = on_s[keep], np.asarray(pitch)[keep]
    if not len(on_s) or not len(ref):
        return 0.0
    est_iv = np.stack([on_s, on_s + 0.1], 1)
    ref_iv = np.stack([ref.onset, ref.onset + 0.1], 1)
    hz = lambda p: 440.0 * 2 ** ((np.asarray(p, float) - 69) / 12)  # noqa: E731
    _, _, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_iv, hz(ref.pitch), est_iv, hz(pitch), onset_tolerance=NOTE_TOL_S, offset_ratio=None)
    return float(f)


def bar_check(bar_s: np.ndarray, downbeats: np.ndarray, lo: float, hi: float):
    """(downbeats found, downbeats, bar lines right, bar lines) inside [lo, hi] s; the
    tolerance is BAR_TOL of the local annotated bar length."""
    db = downbeats[(downbeats >= lo) & (downbeats <= hi)]
    bl = bar_s[(bar_s >= lo) & (bar_s <= hi)]
    if len(downbeats) < 2:
        return 0, len(db), 0, len(bl)
    bar_len = np.interp(db, downbeats[:-1], np.diff(downbeats))
    found = sum(bool(len(bl)) and np.abs(bl - d).min() <= BAR_TOL * L for d, L in zip(db, bar_len))
    bl_len = np.interp(bl, downbeats[:-1], np.diff(downbeats))
    right = sum(np.abs(db - b).min() <= BAR_TOL * L if len(db) else False for b, L in zip(bl, bl_len))
    return int(found), len(db), int(right), len(bl)


def quick(args) -> int:
    """Estimator-only check on the annotated performances (see ``--quick``)."""
    from par_studio.tempo import resolve_meter

    truth = json.loads(TRUTH.read_text())["performances"]
    n_ok = n_found = n_db = n_right = n_bl = n_perf = 0
    for path, key in test_performances(args.asap, args.only):
        tr = truth.get(path)
        if tr is None:
            continue
        notes = transcription(args.asap, path, args.seconds, args.cache, args.threads)
        meter = resolve_meter("auto", notes)
        bar_s = meter.beats[meter.downbeat % meter.beats_per_bar::meter.beats_per_bar]
        db = np.asarray(tr["downbeats"], float)
        lo, hi = float(notes.onset.min()) - 0.05, min(args.seconds, float(notes.onset.max())) - 0.5
        found, nd, right, nb = bar_check(bar_s, db, lo, hi)
        ts = meter.time_signature
        ok = abs(bar_quarters(ts) - bar_quarters(WRITTEN[key])) < 1e-9 and nd and found >= 0.9 * nd \
            and right >= 0.9 * nb
        n_perf += 1
        n_ok += bool(ok); n_found += found; n_db += nd; n_right += right; n_bl += nb
        print(f"  {path:48s} {ts:5s} (written {WRITTEN[key]}) q={meter.quarter_bpm:6.1f} downbeats "
              f"{found}/{nd} bar lines {right}/{nb} -> {'correct' if ok else 'wrong'}", flush=True)
    print(f"grid bar lines (--quick, no MusicXML): bars correct {n_ok}/{n_perf}; downbeats found {n_found}/{n_db}, "
          f"bar lines right {n_right}/{n_bl}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--asap", type=Path, default=ROOT.parent / "shared" / "data" / "asap")
    ap.add_argument("--seconds", type=float, default=50.0, help="excerpt length from 0 s")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "par-studio" / "bench_asap_scores")
    ap.add_argument("--out", type=Path, default=None, help="keep the MusicXML files here")
    ap.add_argument("--only", nargs="*", default=None, help="performances whose path contains one of these")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="write the per-performance rows here")
    ap.add_argument("--quick", action="store_true",
                    help="annotated performances only, bar lines from the estimated grid (no MusicXML)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        return quick(args)
    import tempfile

    from par_studio.midi_io import read_midi

    truth = json.loads(TRUTH.read_text())["performances"] if TRUTH.exists() else {}
    out = args.out or Path(tempfile.mkdtemp(prefix="asap_scores_"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, key in test_performances(args.asap, args.only):
        t0 = time.perf_counter()
        notes = transcription(args.asap, path, args.seconds, args.cache, args.threads)
        t_tr = time.perf_counter() - t0
        ref = read_midi(args.asap / path)
        ref = ref.take(ref.onset < args.seconds)
        xml = out / (path.replace("/", "_").removesuffix(".mid") + ".musicxml")
        meter, shift_q = export_score(notes, xml)
        parts, starts, ts, got = reread(xml)
        written = WRITTEN[key]
        two = len(parts) == 2 and len(starts[0]) == len(starts[1]) > 0
        ts_exact = ts == written
        ts_bar = ts is not None and abs(bar_quarters(ts) - bar_quarters(written)) < 1e-9
        # bar lines in seconds: every measure start of the re-read score, through the grid
        bar_s = np.asarray(meter.seconds_at(np.asarray(starts[0]) - shift_q)) if starts else np.zeros(0)
        on_q = np.array([g[0] for g in got])
        f_score = note_f1(ref, np.asarray(meter.seconds_at(on_q - shift_q)), np.array([g[1] for g in got]))
        f_tr = note_f1(ref, notes.onset, notes.pitch)
        row = dict(path=path, written=written, ts=ts, quarter_bpm=round(meter.quarter_bpm, 1),
                   two_staves=two, ts_exact=ts_exact, ts_bar=ts_bar, bars=len(starts[0]) if starts else 0,
                   f1_transcription=round(f_tr, 3), f1_score=round(f_score, 3), seconds=round(t_tr, 1))
        tr = truth.get(path)
        if tr is not None:
            db = np.asarray(tr["downbeats"], float)
            lo, hi = float(notes.onset.min()) - 0.05, min(args.seconds, float(notes.onset.max())) - 0.5
            found, n_db, right, n_bl = bar_check(bar_s, db, lo, hi)
            row.update(true_ts=tr["time_signature"], downbeats_found=found, downbeats=n_db,
                       barlines_right=right, barlines=n_bl,
                       bars_correct=bool(ts_bar and n_db and found >= 0.9 * n_db and right >= 0.9 * n_bl))
        rows.append(row)
        if args.verbose:
            extra = (f" downbeats {row['downbeats_found']}/{row['downbeats']} bar lines "
                     f"{row['barlines_right']}/{row['barlines']}" if tr is not None else "")
            print(f"{path:48s} written {written:4s} score {ts or '-':5s} ♩={meter.quarter_bpm:6.1f} "
                  f"staves {'2' if two else '?'} bars {row['bars']:3d} F1 tr {f_tr:.2f} score "
                  f"{f_score:.2f}{extra}", flush=True)
    n = len(rows)
    if not n:
        print("no performances")
        return 1
    ann = [r for r in rows if "bars_correct" in r]
    print(f"ASAP test split, first {args.seconds:g} s of {n} performances, rendered (TiMidity freepats), "
          f"transcribed by PARcompact 320 ms, exported as MusicXML, re-read with music21:")
    print(f"  two staves {sum(r['two_staves'] for r in rows)}/{n}; time signature exact "
          f"{sum(r['ts_exact'] for r in rows)}/{n}, written bar length {sum(r['ts_bar'] for r in rows)}/{n}")
    print(f"  note F1 (onset 100 ms) against the performance: transcription "
          f"{np.mean([r['f1_transcription'] for r in rows]):.3f}, score notes mapped back to seconds "
          f"{np.mean([r['f1_score'] for r in rows]):.3f}")
    if ann:
        print(f"  with annotated downbeats ({len(ann)}): bars correct {sum(r['bars_correct'] for r in ann)}"
              f"/{len(ann)}; downbeats found {sum(r['downbeats_found'] for r in ann)}/"
              f"{sum(r['downbeats'] for r in ann)}, bar lines right {sum(r['barlines_right'] for r in ann)}/"
              f"{sum(r['barlines'] for r in ann)}")
        for r in ann:
            print(f"    {r['path']:48s} {r['ts'] or '-':5s} (written {r['written']}) downbeats "
                  f"{r['downbeats_found']}/{r['downbeats']} bar lines {r['barlines_right']}/{r['barlines']}"
                  f" -> {'correct' if r['bars_correct'] else 'wrong'}")
    print(f"  MusicXML files in {out}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
