"""Evaluation with mir_eval: note, note+offset, note+offset+velocity and frame metrics,
overall and per pitch band; `par-studio evaluate DIR`.

DIR holds audio files with MIDI files of the same stem (`a.wav` + `a.mid`); the reference is
the MIDI with pedal-extended offsets. Overall figures are means over files (each file's F1
computed on its own), the convention of the MAESTRO literature.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..constants import FRAME_SECONDS, MIN_MIDI, N_KEYS
from ..notes import Notes, notes_from_midi

PITCH_BANDS = {"21-43": (21, 43), "44-65": (44, 65), "66-87": (66, 87), "88-108": (88, 108)}


def _prf(fn, *a, **k) -> dict:
    p, r, f, *_ = fn(*a, **k)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def frame_roll(notes: Notes, n_frames: int) -> np.ndarray:
    """(n_frames, 88) bool: key sounding at frame centre k × 32 ms."""
    roll = np.zeros((n_frames, N_KEYS), bool)
    for on, off, p in zip(notes.onset, notes.offset, notes.pitch):
        a = int(np.ceil(on / FRAME_SECONDS - 1e-9))
        b = int(np.ceil(off / FRAME_SECONDS - 1e-9))
        roll[max(a, 0):min(b, n_frames), int(p) - MIN_MIDI] = True
    return roll


def frame_metrics(ref: Notes, est: Notes) -> dict:
    """mir_eval.multipitch precision/recall/F1 on the 32 ms frame grid."""
    import mir_eval

    T = int(np.ceil(max(ref.end_time(), est.end_time()) / FRAME_SECONDS)) + 1
    times = np.arange(T) * FRAME_SECONDS
    def freqs(roll):
        return [440.0 * 2 ** ((np.flatnonzero(r) + MIN_MIDI - 69) / 12.0) for r in roll]
    scores = mir_eval.multipitch.evaluate(times, freqs(frame_roll(ref, T)), times, freqs(frame_roll(est, T)))
    p, r = scores["Precision"], scores["Recall"]
    return {"precision": float(p), "recall": float(r), "f1": float(2 * p * r / (p + r)) if p + r else 0.0}


def note_metrics(ref: Notes, est: Notes, frames: bool = True) -> dict:
    """mir_eval transcription metrics of ``est`` against ``ref`` (both in seconds/MIDI)."""
    import mir_eval.transcription as tr
    import mir_eval.transcription_velocity as tv

    out: dict = {"n_ref": len(ref), "n_est": len(est)}
    if len(ref) == 0 or len(est) == 0:
        zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        if len(ref) == 0 and len(est) == 0:
            zero = {"precision": 1.0, "recall": 1.0, "f1": 1.0}
        for k in ("note", "note_offset", "note_offset_velocity", "frame"):
            out[k] = dict(zero)
        return out
    ri, rp, ei, ep = ref.intervals(), ref.pitches_hz(), est.intervals(), est.pitches_hz()
    out["note"] = _prf(tr.precision_recall_f1_overlap, ri, rp, ei, ep, onset_tolerance=0.05, offset_ratio=None)
    out["note_offset"] = _prf(tr.precision_recall_f1_overlap, ri, rp, ei, ep, onset_tolerance=0.05)
    out["note_offset_velocity"] = _prf(
        tv.precision_recall_f1_overlap, ri, rp, ref.velocity.astype(float), ei, ep,
        est.velocity.astype(float), onset_tolerance=0.05, velocity_tolerance=0.1)
    if frames:
        out["frame"] = frame_metrics(ref, est)
    return out


def band_metrics(ref: Notes, est: Notes) -> dict:
    out = {}
    for name, (lo, hi) in PITCH_BANDS.items():
        r = ref.take((ref.pitch >= lo) & (ref.pitch <= hi))
        e = est.take((est.pitch >= lo) & (est.pitch <= hi))
        if len(r) == 0 and len(e) == 0:
            continue
        out[name] = note_metrics(r, e, frames=False)
    return out


def summarize(per_file: list[dict]) -> dict:
    """Mean of each metric over files; per band, over the files that have notes in the band."""
    keys = ("note", "note_offset", "note_offset_velocity", "frame")
    overall = {k: {m: float(np.mean([f["metrics"][k][m] for f in per_file]))
                   for m in ("precision", "recall", "f1")} for k in keys}
    bands = {}
    for name in PITCH_BANDS:
        rows = [f["bands"][name] for f in per_file if name in f["bands"] and f["bands"][name]["n_ref"] > 0]
        if rows:
            bands[name] = {k: {m: float(np.mean([r[k][m] for r in rows]))
                               for m in ("precision", "recall", "f1")}
                           for k in ("note", "note_offset", "note_offset_velocity")}
            bands[name]["files"] = len(rows)
    return {"files": len(per_file), "overall": overall, "bands": bands}


def evaluate_pairs(pairs, model, progress=None, tuning=None, dereverb: bool = False,
                   verify_notes=True) -> dict:
    """Score every pair that can be read; a pair that cannot (unreadable or NaN audio, a
    ``.mid`` that is not MIDI, a folder or pipe named like audio, too little memory) is listed
    in ``result["failed"]`` as {"audio", "error"} and the others go on. ``tuning``: as
    :func:`~par_studio.engine.offline.transcribe` (None: measured per file, as the app does);
    each file's row has the tuning used, in cents. ``dereverb``: reduce the reverberation first.
    ``verify_notes``: with the model's note verifier when it has one (as the app); False: the
    decoder alone; or the :class:`~par_studio.verifier.NoteVerifier` to use."""
    from ..audio.io import load_audio
    from ..engine.offline import transcribe
    from ..errors import ParStudioError
    from ..names import shown

    per_file, failed = [], []
    t_audio = t_compute = 0.0
    for i, pair in enumerate(pairs):
        try:
            ref = notes_from_midi(pair.midi, sustain=True)
            audio = load_audio(pair.audio)
            t0 = time.perf_counter()
            tr = transcribe(audio, model, tuning=tuning, dereverb=dereverb, verify_notes=verify_notes)
            dt = time.perf_counter() - t0
            row = {"audio": shown(pair.audio), "metrics": note_metrics(ref, tr.notes),
                   "bands": band_metrics(ref, tr.notes), "tuning_cents": tr.tuning.cents,
                   "tuning_source": tr.tuning.source, "tuning_corrected": tr.tuning.corrects,
                   "note_check": tr.info.get("verifier")}
        except ParStudioError as exc:
            failed.append({"audio": shown(pair.audio), "error": str(exc)})
        except MemoryError:
            failed.append({"audio": shown(pair.audio), "error": "not enough memory for this file"})
        except Exception as exc:  # a bad pair never ends the evaluation of the others
            failed.append({"audio": shown(pair.audio), "error": f"{type(exc).__name__}: {exc}"})
        else:
            t_compute += dt
            t_audio += tr.duration
            per_file.append(row)
        if progress:
            progress(i + 1, len(pairs))
    result = summarize(per_file) if per_file else {"files": 0}
    result["per_file"] = per_file
    result["failed"] = failed
    result["audio_seconds"] = t_audio
    result["real_time_factor"] = t_compute / t_audio if t_audio else None
    result["dereverb"] = bool(dereverb)
    return result


def format_report(res: dict) -> str:
    n = res["files"]
    lines = [f"{n} file{'s' if n != 1 else ''}, {res['audio_seconds']:.0f} s of audio, "
             f"real-time factor {res['real_time_factor']:.3f}"
             f"{' (with the reverberation reduced first, --dereverb)' if res.get('dereverb') else ''}"]
    checked = [f["note_check"] for f in res.get("per_file", []) if f.get("note_check")]
    if checked:
        lines.append(f"note check: {sum(c['kept'] for c in checked)} of {sum(c['proposed'] for c in checked)} "
                     f"proposed notes kept (in {len(checked)} files)")
    rows = [f for f in res.get("per_file", []) if "tuning_cents" in f]
    cents = [f["tuning_cents"] for f in rows]
    if rows and all(f.get("tuning_source") == "off" for f in rows):
        lines.append("piano tuning not measured (--tuning off)")
    elif cents:
        fixed = sum(bool(f.get("tuning_corrected")) for f in res["per_file"])
        lines.append(f"piano tuning {min(cents):+.0f}..{max(cents):+.0f} cents from A440 "
                     f"(median {float(np.median(cents)):+.0f}); brought to A440 in {fixed} of {len(cents)} files")
    lines.append(f"{'':24}{'P':>8}{'R':>8}{'F1':>8}")
    for k, label in (("note", "note"), ("note_offset", "note+offset"),
                     ("note_offset_velocity", "note+offset+velocity"), ("frame", "frame")):
        m = res["overall"][k]
        lines.append(f"{label:24}{m['precision']:8.4f}{m['recall']:8.4f}{m['f1']:8.4f}")
    lines.append("per pitch band (note F1 / note+offset F1 / files):")
    for name, b in res["bands"].items():
        lines.append(f"  MIDI {name:8} {b['note']['f1']:.4f} / {b['note_offset']['f1']:.4f} / {b['files']}")
    return "\n".join(lines)


def cmd_evaluate(args) -> int:
    """Exit 0 when every pair was scored, 1 when some could not be (they are listed; the
    others are scored) or there are none, 2 when none of the pairs could be scored."""
    from ..cli import load_model_from_args
    from ..names import shown
    from ..outputs import check_writable, write_or_fallback
    from .dataset import dir_pairs

    if not args.directory.strip() or not Path(args.directory).is_dir():
        print(f"error: {shown(args.directory)!r} is not a folder of audio + MIDI pairs", file=sys.stderr)
        return 1
    pairs = dir_pairs(args.directory)
    if args.limit:
        pairs = pairs[: args.limit]
    if not pairs:
        print(f"error: {shown(args.directory)}: no audio files with a MIDI file of the same stem", file=sys.stderr)
        return 1
    if args.json:
        check_writable(Path(args.json))  # before hours of work, not after
    model, meta = load_model_from_args(args)
    print(f"evaluating {model.cfg.preset} ({model.latency_ms} ms) from {shown(meta.get('path'))} on "
          f"{len(pairs)} files", file=sys.stderr)
    res = evaluate_pairs(pairs, model, progress=lambda i, n: print(f"  {i}/{n}", file=sys.stderr, end="\r"),
                         tuning=getattr(args, "tuning", None), dereverb=getattr(args, "dereverb", False),
                         verify_notes=getattr(args, "note_check", True))
    print(" " * 24, file=sys.stderr, end="\r")  # the progress line does not run into the report
    res["model"] = {"preset": model.cfg.preset, "latency_ms": model.latency_ms, "path": shown(meta.get("path")),
                    "note_check": getattr(args, "note_check", True)}
    if res["files"]:
        print(format_report(res))
    for bad in res["failed"]:
        print(f"error: not scored: {bad['error'] if bad['audio'] in bad['error'] else bad['audio'] + ': ' + bad['error']}",
              file=sys.stderr)
    if res["failed"]:
        print(f"{len(res['failed'])} of {len(pairs)} pairs could not be scored (listed above); "
              f"{res['files']} scored", file=sys.stderr)
    if args.json:
        from ..midi_io import atomic_write_bytes

        written, msg = write_or_fallback(lambda data, path: atomic_write_bytes(path, data), Path(args.json),
                                         json.dumps(res, indent=2).encode())
        print(f"error: {msg}" if msg else f"wrote {shown(written)}", file=sys.stderr)
        if msg:
            return 1
    if not res["files"]:
        return 2
    return 1 if res["failed"] else 0


def add_evaluate_parser(sub) -> None:
    from ..cli import add_dereverb_arg, add_model_args, add_note_check_arg, add_tuning_arg

    p = sub.add_parser("evaluate", help="score a model on audio + MIDI pairs with mir_eval")
    p.add_argument("directory", metavar="DIR", help="folder of audio files with same-stem MIDI files")
    add_model_args(p)
    p.add_argument("--json", metavar="FILE", help="write all figures (per file too) as JSON")
    p.add_argument("--limit", type=int, default=None, help="only the first N pairs")
    add_tuning_arg(p)
    add_dereverb_arg(p)
    add_note_check_arg(p)
    from ..cli import threads_arg

    p.add_argument("--threads", type=threads_arg, default=None)
    p.set_defaults(func=cmd_evaluate)
