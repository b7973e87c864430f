"""`par-studio transcribe`: audio files, folders and globs → MIDI (and CSV) files.

Order of work, so that nothing is lost and nothing is done in vain: expand the inputs
(:mod:`.inputs`), plan every output and check that each can be written (:mod:`.outputs`),
load the model, then transcribe file by file. A file that fails (unreadable, impossible
header, out of memory) is reported by name and the batch goes on; an output that cannot be
written at the end is saved in the user's data folder instead, and the message says where.
"""

from __future__ import annotations

import sys
import time
import warnings

from .names import shown
from .errors import ParStudioError


def _print_warnings(caught) -> None:
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)


def cmd_transcribe(args) -> int:
    from tqdm import tqdm

    from .cli import load_model_from_args
    from .inputs import expand_inputs
    from .outputs import OutputError, check_writable, plan_outputs, write_or_fallback

    inputs, problems = expand_inputs(args.inputs)
    for msg in problems:
        print(f"error: {msg}", file=sys.stderr)
    if any(not a.strip() for a in args.inputs):
        return 2  # an empty argument is a script's bug: do nothing at all
    if not inputs:
        print("error: nothing to transcribe", file=sys.stderr)
        return 1
    plans, renamed = plan_outputs(inputs, args.output, args.csv)  # OutputError → main: exit 2
    for msg in renamed:
        print(f"note: {msg}", file=sys.stderr)
    probed: set = set()
    for target in {p for pl in plans for p in (pl.midi, pl.csv) if p is not None}:
        try:
            check_writable(target, probed)
        except OutputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    model, meta = load_model_from_args(args)
    print(f"model: {model.cfg.preset} ({model.n_parameters():,} parameters, "
          f"{model.latency_ms} ms look-ahead) from {shown(meta.get('path', '?'))}", file=sys.stderr)
    failed = len(problems)
    done = 0
    total_audio = total_compute = 0.0
    total_notes = 0
    for plan in plans:
        path = plan.src
        try:
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                tr = _transcribe_one(path, model, args, tqdm)
            _print_warnings(caught)
            written, fell_back = _write(plan, tr.notes, args, write_or_fallback)
            dt = time.perf_counter() - t0
            done += not fell_back
            failed += fell_back
            total_audio += tr.duration
            total_compute += dt
            total_notes += len(tr.notes)
            if not args.quiet:
                print(f"{shown(path)}: {len(tr.notes)} notes, {tr.duration:.1f} s audio in {dt:.1f} s "
                      f"→ {', '.join(shown(p) for p in written)}")
        except ParStudioError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
        except MemoryError:
            failed += 1
            print(f"error: {shown(path)}: not enough memory to transcribe this file; the batch goes "
                  "on. Close other programs or split the recording.", file=sys.stderr)
        except (OSError, ValueError) as exc:
            failed += 1
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"error: {shown(path)}: {why}", file=sys.stderr)
    rtf = total_compute / total_audio if total_audio else 0.0
    print(f"done: {done} transcribed, {failed} failed; {total_notes} notes; "
          f"{total_audio:.1f} s of audio in {total_compute:.1f} s (real-time factor {rtf:.3f})",
          file=sys.stderr)
    return 1 if failed else 0


def _transcribe_one(path, model, args, tqdm):
    from .audio.io import load_audio
    from .engine.offline import transcribe
    from .engine.progress import ProgressClock, format_left

    audio = load_audio(path)
    with tqdm(total=100, desc=shown(path.name)[:30], unit="%", leave=False,
              bar_format="{desc}: {percentage:3.0f}%|{bar}|",
              disable=args.quiet or not sys.stderr.isatty()) as bar:
        clock = ProgressClock()

        def progress(f, bar=bar, clock=clock):  # from the decoder, every 0.1 s of work
            bar.n = round(100 * f)
            bar.bar_format = "{desc}: {percentage:3.0f}%|{bar}| " + format_left(clock.update(f))
            bar.refresh()
        tr = transcribe(audio, model, progress=progress, sensitivity=args.sensitivity,
                        threads=getattr(args, "threads", None), tuning=getattr(args, "tuning", None),
                        dereverb=getattr(args, "dereverb", False),
                        verify_notes=getattr(args, "note_check", True))
    if tr.tuning.corrects and not args.quiet:
        print(f"{shown(path)}: piano tuning {tr.tuning.describe()}", file=sys.stderr)
    return tr


def _write(plan, notes, args, write_or_fallback) -> tuple[list, bool]:
    """Write the planned outputs; a failed write goes to the fallback folder (said on
    stderr). Returns (paths written, whether any went to the fallback folder)."""
    from .midi_io import write_csv, write_midi
    from .tempo import estimate_meter, is_auto_tempo, resolve_tempo

    written, fell_back = [], False
    score = getattr(args, "musicxml", False) and (plan.midi or plan.csv) is not None
    if score or (plan.midi is not None and (getattr(args, "quantise", False) or getattr(args, "meter", None))):
        from .notation_export import write_notation  # score and/or quantised MIDI (H19)

        paths, msgs = write_notation(plan.midi, notes, args, write_or_fallback,
                                     (plan.midi or plan.csv).with_suffix(".musicxml"))
        written += paths
        for msg in msgs:
            fell_back = True
            print(f"error: {msg}", file=sys.stderr)
    elif plan.midi is not None:
        # played times at the estimated grid: its tempo and time signature, bar 1 on its first
        # downbeat (a recording that starts late keeps its bar lines); a typed --tempo: 4/4 from 0 s
        meter = estimate_meter(notes) if is_auto_tempo(args.tempo) and len(notes) else None
        tempo = round(meter.quarter_bpm, 1) if meter is not None else resolve_tempo(args.tempo, notes)
        ts = meter.time_signature if meter is not None else None
        downbeat = meter.downbeat_s if meter is not None else 0.0
        path, msg = write_or_fallback(
            lambda n, p: write_midi(n, p, tempo=tempo, time_signature=ts, downbeat_s=downbeat), plan.midi, notes)
        written.append(path)
        if msg:
            fell_back = True
            print(f"error: {msg}", file=sys.stderr)
    if plan.csv is not None:
        path, msg = write_or_fallback(write_csv, plan.csv, notes)
        written.append(path)
        if msg:
            fell_back = True
            print(f"error: {msg}", file=sys.stderr)
    return written, fell_back
