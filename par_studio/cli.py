"""The `par-studio` command line: argparse subcommands that parse and call the engine.

With no subcommand it opens the desktop app. Subcommands register themselves through
``add_parser(subparsers)`` functions in their own modules so this file stays a table.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

from . import __version__
from .constants import LATENCY_SETTINGS_MS
from .errors import ParStudioError

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".m4a", ".wma", ".au"}


# --------------------------------------------------------------------------- helpers
def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="par", metavar="par|par-compact|PATH",
                   help="model preset (shipped weights) or a checkpoint file (default: par)")
    p.add_argument("--latency", type=int, default=None, choices=LATENCY_SETTINGS_MS, metavar="MS",
                   help=f"look-ahead in ms, one of {', '.join(map(str, LATENCY_SETTINGS_MS))} "
                        "(default: 320 for presets, the file's own for a checkpoint)")


def load_model_from_args(args):
    import torch

    from .model.checkpoint import resolve_model

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    return resolve_model(args.model, args.latency)


def expand_inputs(items: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (searched recursively for audio) and globs → (files, problems)."""
    files: list[Path] = []
    problems: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in AUDIO_EXTENSIONS and q.is_file())
            if not found:
                problems.append(f"{p}: no audio files in this folder")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if matches:
                files.extend(Path(m) for m in matches if Path(m).is_file())
            else:
                problems.append(f"{item}: file not found")
    seen, unique = set(), []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


def output_path(src: Path, out: str | None, n_inputs: int, suffix: str) -> Path:
    """Where the result of ``src`` goes: next to it, into folder ``out``, or file ``out``."""
    if out is None:
        return src.with_suffix(suffix)
    o = Path(out)
    if n_inputs == 1 and o.suffix.lower() in (".mid", ".midi", ".csv"):
        return o if o.suffix.lower() == suffix or suffix == ".mid" else o.with_suffix(suffix)
    return o / (src.stem + suffix)


# --------------------------------------------------------------------------- transcribe
def cmd_transcribe(args) -> int:
    from tqdm import tqdm

    from .audio.io import load_audio
    from .engine.offline import transcribe
    from .midi_io import write_csv, write_midi

    files, problems = expand_inputs(args.inputs)
    for msg in problems:
        print(f"error: {msg}", file=sys.stderr)
    if not files:
        print("error: nothing to transcribe", file=sys.stderr)
        return 1
    model, meta = load_model_from_args(args)
    print(f"model: {model.cfg.preset} ({model.n_parameters():,} parameters, "
          f"{model.latency_ms} ms look-ahead) from {meta.get('path', '?')}", file=sys.stderr)
    failed = len(problems)
    total_audio = total_compute = 0.0
    total_notes = 0
    for path in files:
        try:
            t0 = time.perf_counter()
            audio = load_audio(path)
            with tqdm(total=100, desc=path.name[:30], unit="%", leave=False,
                      disable=args.quiet or not sys.stderr.isatty()) as bar:
                def progress(f, bar=bar):
                    bar.n = round(100 * f)
                    bar.refresh()
                tr = transcribe(audio, model, progress=progress, sensitivity=args.sensitivity)
            mid = output_path(path, args.output, len(files), ".mid")
            from .tempo import resolve_tempo

            write_midi(tr.notes, mid, tempo=resolve_tempo(args.tempo, tr.notes))
            written = [mid]
            if args.csv:
                csv_path = output_path(path, args.output, len(files), ".csv")
                write_csv(tr.notes, csv_path)
                written.append(csv_path)
            dt = time.perf_counter() - t0
            total_audio += tr.duration
            total_compute += dt
            total_notes += len(tr.notes)
            if not args.quiet:
                print(f"{path}: {len(tr.notes)} notes, {tr.duration:.1f} s audio in {dt:.1f} s "
                      f"→ {', '.join(map(str, written))}")
        except ParStudioError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
        except (OSError, ValueError) as exc:
            failed += 1
            print(f"error: {path}: {exc}", file=sys.stderr)
    ok = len(files) - (failed - len(problems))
    rtf = total_compute / total_audio if total_audio else 0.0
    print(f"done: {ok} transcribed, {failed} failed; {total_notes} notes; "
          f"{total_audio:.1f} s of audio in {total_compute:.1f} s (real-time factor {rtf:.3f})",
          file=sys.stderr)
    return 1 if failed else 0


def tempo_arg(text: str):
    """argparse type of ``--tempo``: "auto" or a BPM in 20..400."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        bpm = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a BPM nor 'auto'") from None
    if not 20.0 <= bpm <= 400.0:
        raise argparse.ArgumentTypeError(f"tempo {bpm:g} BPM is outside 20..400")
    return bpm


def sensitivity_arg(text: str) -> float:
    """argparse type of ``--sensitivity``: a number in −1..1."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not -1.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"sensitivity {v:g} is outside −1..1")
    return v


def add_sensitivity_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sensitivity", type=sensitivity_arg, default=0.0, metavar="S",
                   help="note sensitivity, −1..1: above 0 finds more notes (fewer missed, more "
                        "false), below 0 fewer (default 0: as calibrated on validation data)")


def add_transcribe_parser(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files to MIDI (and CSV)",
                       description="Transcribe audio files, folders or globs to MIDI.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders or glob patterns")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output .mid/.csv file (one input) or folder (default: next to each input)")
    add_model_args(p)
    p.add_argument("--csv", action="store_true", help="also write a CSV of notes")
    add_sensitivity_arg(p)
    p.add_argument("--tempo", type=tempo_arg, default="auto", metavar="BPM|auto",
                   help="MIDI tempo: a BPM, or auto (default) to detect it from the notes; note "
                        "times in seconds are the same either way, the tempo places the bar lines")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_transcribe)


# --------------------------------------------------------------------------- info
def cmd_info(args) -> int:
    from .model.complexity import describe

    model, meta = load_model_from_args(args)
    d = describe(model)
    d["metadata"] = meta
    d["state_bias"] = list(model.cfg.state_bias)
    d["offset_shift_s"] = model.cfg.offset_shift_s
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    m = d["macs_per_frame"]
    print(f"model:        {d['preset']}  ({meta.get('path', '')})")
    print(f"parameters:   {d['parameters']:,}")
    print(f"look-ahead:   {d['latency_ms']} ms  (conv time widths {d['conv_widths']})")
    print(f"MACs/frame:   {m['total']:,}  (front end {m['frontend']:,}, CNN {m['cnn']:,}, "
          f"projection {m['projection']:,}, decoder {m['decoder']:,}); 31.25 frames/s")
    b = model.cfg.state_bias
    print(f"decoding:     onset bias {b[2]:+g}, offset bias {b[1]:+g}, note ends "
          f"+{1000 * model.cfg.offset_shift_s:.0f} ms (calibrated on validation; --sensitivity adds "
          "to the onset bias)")
    for key in ("training_data", "steps", "cpu_hours", "trained_at"):
        if key in meta:
            print(f"{key.replace('_', ' ') + ':':<13} {meta[key]}")
    if meta.get("initialised_from"):
        print(f"fine-tuned:   from {meta['initialised_from']} (that file as it was then; steps and "
              "CPU hours above are the fine-tuning's, models/MODEL_CARD.md has the whole lineage)")
    for key, value in (meta.get("metrics") or {}).items():
        print(f"metric:       {key} = {value}")
    return 0


def add_info_parser(sub) -> None:
    p = sub.add_parser("info", help="describe a model: parameters, look-ahead, MACs, training")
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)


# --------------------------------------------------------------------------- main
#: Subcommands that live in their own modules: name → (module, add-parser function, one-line
#: help). Only the module of the subcommand being run is imported (they import torch, scipy,
#: librosa), so ``par-studio --help`` and argument errors answer at once.
OPTIONAL_COMMANDS = {
    "build-corpus": ("par_studio.train.corpus", "add_build_corpus_parser",
                     "render the synthetic training corpus (ASAP MIDI + procedural pieces)"),
    "build-corpus-v2": ("par_studio.train.corpus_v2", "add_build_corpus_v2_parser",
                        "render corpus v2: sampled pianos in rooms, tunings, noise and codecs"),
    "train": ("par_studio.train.trainer", "add_train_parser",
              "train a PAR / PARcompact model (resumable)"),
    "evaluate": ("par_studio.train.evaluate", "add_evaluate_parser",
                 "score a model on audio + MIDI pairs with mir_eval"),
    "live": ("par_studio.live_cli", "add_live_parser",
             "transcribe a microphone or a file as it plays"),
}


def _optional_parsers(sub, command: str | None = None) -> None:
    """Subcommands that live in their own modules (training, streaming): the real parser of
    ``command`` (imported now), a light entry with its help line for the others."""
    import importlib

    for name, (module, fn, help_line) in OPTIONAL_COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_line)
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            if exc.name and exc.name.startswith("par_studio"):
                continue
            raise
        getattr(mod, fn)(sub)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; only ``command``'s own module is imported (see
    :data:`OPTIONAL_COMMANDS`)."""
    parser = argparse.ArgumentParser(
        prog="par-studio",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="PAR Studio: piano transcription with PAR autoregressive models.",
        epilog="desktop app:\n"
               "  par-studio [AUDIO]                       open the app (on the bundled example\n"
               "                                           when no AUDIO is given)\n"
               "  par-studio --screenshot OUT.png [AUDIO] [--live]\n"
               "                                           transcribe (or play AUDIO as live input),\n"
               "                                           save a PNG of the window and exit")
    parser.add_argument("--version", action="version", version=f"par-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_transcribe_parser(sub)
    add_info_parser(sub)
    _optional_parsers(sub, command)
    return parser


SUBCOMMANDS = ("transcribe", "info", "build-corpus", "build-corpus-v2", "train", "evaluate", "live")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    if argv and argv[0] in SUBCOMMANDS or any(a in ("-h", "--help", "--version") for a in argv[:1]):
        args = parser.parse_args(argv)
    else:
        # GUI mode: optional audio file, --screenshot, --live
        gui = argparse.ArgumentParser(prog="par-studio", add_help=False)
        gui.add_argument("audio", nargs="?")
        gui.add_argument("--screenshot")
        gui.add_argument("--live", action="store_true")
        args, rest = gui.parse_known_args(argv)
        if rest:
            parser.parse_args(argv)  # prints a proper usage error
        return run_gui(args, parser)
    try:
        return int(args.func(args) or 0)
    except ParStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run_gui(args, parser) -> int:
    try:
        from .gui.app import run_app
    except ImportError:
        parser.print_help()
        return 0
    return int(run_app(audio=args.audio, screenshot=args.screenshot, live=args.live) or 0)


if __name__ == "__main__":
    sys.exit(main())
