"""The `par-studio` command line: argparse subcommands that parse and call the engine.

With no subcommand it opens the desktop app. Subcommands register themselves through
``add_parser(subparsers)`` functions in their own modules so this file stays a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .constants import LATENCY_SETTINGS_MS
from .names import shown
from .errors import ParStudioError

from .inputs import AUDIO_EXTENSIONS  # noqa: F401  (imported from here by train.dataset)


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


# --------------------------------------------------------------------------- transcribe
def cmd_transcribe(args) -> int:
    """See :mod:`par_studio.transcribe_cli`."""
    from .transcribe_cli import cmd_transcribe as run

    return run(args)


def threads_arg(text: str) -> int:
    """argparse type of ``--threads``: a whole number of CPU threads, 1..1024."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= n <= 1024:
        raise argparse.ArgumentTypeError(f"{n} threads: give 1 or more (up to 1024)")
    return n


def meter_arg(text: str) -> str:
    """argparse type of ``--meter``: a time signature such as 3/4 or 6/8."""
    from .tempo import parse_time_signature

    try:
        num, den = parse_time_signature(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return f"{num}/{den}"


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
                        "false), below 0 fewer (default 0: as calibrated)")


def add_note_check_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-note-check", dest="note_check", action="store_false",
                   help="keep every note the decoder proposes at its calibrated sensitivity, "
                        "without the model's note verifier (which decodes more loosely and keeps "
                        "the proposals it judges real: on the calibration recordings it finds "
                        "more notes with fewer false ones)")


def tuning_arg(text: str):
    """argparse type of ``--tuning``: None for auto, else a :class:`~par_studio.tuning.Tuning`."""
    from .tuning import parse_tuning

    try:
        return parse_tuning(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_tuning_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tuning", type=tuning_arg, default=None, metavar="auto|off|CENTS|HZ",
                   help="the piano's tuning: auto (default) measures it and brings a piano that "
                        "is off A440 back to it before transcribing; off leaves the audio as it "
                        "is; or give it as cents from A440 (+35, -20) or A4 in Hz (442)")


def add_dereverb_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dereverb", action="store_true",
                   help="reduce the room's reverberation before transcribing (WPE): for recordings "
                        "in a reverberant hall or church, where note ends otherwise come out late; "
                        "about 5 s more per minute of audio, and not needed for dry or small rooms")


def add_transcribe_parser(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files to MIDI (and CSV)",
                       description="Transcribe audio files, folders or globs to MIDI.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders or glob patterns")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output .mid or .csv file (one input), or a folder in which the inputs' "
                        "folders are mirrored (default: next to each input); outputs that would "
                        "collide or overwrite an input are renamed, and the renaming is shown")
    add_model_args(p)
    p.add_argument("--csv", action="store_true", help="also write a CSV of notes")
    p.add_argument("--musicxml", action="store_true",
                   help="also write a MusicXML score (.musicxml: two staves, notes quantised to "
                        "the detected beats, key, time signature, tempo) for MuseScore, Sibelius, "
                        "Dorico")
    p.add_argument("--meter", type=meter_arg, default=None, metavar="N/D",
                   help="time signature for the score and the MIDI file, e.g. 3/4 or 6/8 "
                        "(default: detected)")
    p.add_argument("--quantise", action="store_true",
                   help="write the MIDI file quantised to the beat grid (steady tempo, notes on "
                        "16ths or triplets, as in the score) instead of the played times")
    add_sensitivity_arg(p)
    add_note_check_arg(p)
    add_tuning_arg(p)
    add_dereverb_arg(p)
    p.add_argument("--tempo", type=tempo_arg, default="auto", metavar="BPM|auto",
                   help="MIDI tempo: a BPM, or auto (default) to detect it from the notes; note "
                        "times in seconds are the same either way, the tempo places the bar lines")
    p.add_argument("--threads", type=threads_arg, default=None, metavar="N",
                   help="CPU threads for the acoustic network (default: automatic, the cores "
                        "idle now, so a busy computer is not slowed down further; the decoder "
                        "always uses one)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_transcribe)


# --------------------------------------------------------------------------- info
def cmd_info(args) -> int:
    from .model.complexity import describe

    from .model.checkpoint import MODELS_DIR
    from .model.checkpoint_schema import display_metadata

    model, meta = load_model_from_args(args)
    # metadata written on a training machine names that machine's paths: show data set and
    # file names only; the file read is shown as given (models/NAME for shipped weights)
    path = Path(meta.get("path", ""))
    shown_path = f"models/{path.name}" if path.parent == MODELS_DIR else str(path)
    meta = {**display_metadata({k: v for k, v in meta.items() if k != "path"}), "path": shown_path}
    d = describe(model)
    d["metadata"] = meta
    d["state_bias"] = list(model.cfg.state_bias)
    d["offset_shift_s"] = model.cfg.offset_shift_s
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    m = d["macs_per_frame"]
    print(f"model:        {d['preset']}  ({shown(meta.get('path', ''))})")
    print(f"parameters:   {d['parameters']:,}")
    print(f"look-ahead:   {d['latency_ms']} ms  (conv time widths {d['conv_widths']})")
    print(f"MACs/frame:   {m['total']:,}  (front end {m['frontend']:,}, CNN {m['cnn']:,}, "
          f"projection {m['projection']:,}, decoder {m['decoder']:,}); 31.25 frames/s")
    b = model.cfg.state_bias
    print(f"decoding:     onset bias {b[2]:+g}, offset bias {b[1]:+g}, note ends "
          f"+{1000 * model.cfg.offset_shift_s:.0f} ms (calibrated; without a note check "
          "--sensitivity adds to the onset bias)")
    from .verifier import find_verifier

    v = find_verifier(model)
    d["note_check"] = None if v is None else {"shift": v.shift, "keep_above": v.keep_above}
    print("note check:   " + ("none for these weights (notes as the decoder finds them)" if v is None else
                             f"verifier: proposals at onset bias +{v.shift:g}, kept when p >= {v.keep_above:g} "
                             "(--sensitivity moves the threshold)"))
    for key in ("training_data", "steps", "cpu_hours", "trained_at"):
        if key in meta:
            print(f"{key.replace('_', ' ') + ':':<13} {meta[key]}")
    if meta.get("teacher"):
        print(f"distilled:    from {meta['teacher']} (its decoder, and an acoustic module that learnt its "
              "features at this look-ahead; steps and CPU hours above are the distillation's)")
    elif meta.get("initialised_from"):
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
    "build-corpus": ("par_studio.train.corpus_cli", "add_build_corpus_parser",
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
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print, never crash
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
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
    return int(run_app(audio=args.audio, screenshot=args.screenshot, live=args.live,
                       fast_exit=not args.screenshot) or 0)


if __name__ == "__main__":
    sys.exit(main())
