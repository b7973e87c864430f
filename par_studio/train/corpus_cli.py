"""The command line of the corpus-v1 renderer (``par-studio build-corpus``, ``python -m
par_studio.train.corpus``): its arguments, the run and the printed summary. The rendering is in
:mod:`par_studio.train.corpus`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ParStudioError
from .corpus import (HELD_RAMP_P, REGISTER_SHIFT_MAX, REGISTER_ZONES_P, RELEASE_VARIATION_P,
                     ZONE_SHIFT_MAX, ZONE_SHIFT_P, build_corpus, default_asap_dir)


def print_summary(summary: dict) -> None:
    print(f"Corpus in {summary['out_dir']}  ({summary['wall_s']} s)")
    for s, v in summary["splits"].items():
        print(f"  {s:10s} {v['items']:6d} items  {v['hours']:7.2f} h")
    print(f"  rendered {summary['rendered']}, skipped (existing) {summary['skipped']}, "
          f"failed {summary['failed']}, empty segments {summary['empty_segments']}")
    print("  timbres: " + ", ".join(f"{k} ({v})" for k, v in summary["timbres"].items()))
    if summary["stopped_at_limit_hours"]:
        print("  stopped scheduling training sources at --limit-hours")
    for f in summary["failures"]:
        print(f"  FAILED {f}")


def add_build_corpus_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``build-corpus`` on an argparse subparsers object; sets ``func``."""
    p = subparsers.add_parser(
        "build-corpus",
        help="render the synthetic training corpus (ASAP MIDI + procedural pieces)",
        description="Render piano MIDI with several SoundFonts into an augmented FLAC+MIDI corpus.",
    )
    _add_arguments(p)
    p.set_defaults(func=run_build_corpus)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder of the corpus")
    p.add_argument("--asap", type=Path, default=None,
                   help=f"ASAP dataset folder with split.csv (default: {default_asap_dir()})")
    p.add_argument("--no-asap", action="store_true", help="procedural training items only")
    p.add_argument("--procedural", type=int, default=300, help="procedural training pieces (300)")
    p.add_argument("--max-train-performances", type=int, default=None,
                   help="at most this many ASAP training performances (default all)")
    p.add_argument("--segments-per-performance", type=int, default=None,
                   help="render at most this many random segments of each training performance")
    p.add_argument("--max-val", type=int, default=20, help="validation segments (20)")
    p.add_argument("--max-test", type=int, default=30, help="test segments, held-out timbre (30)")
    p.add_argument("--segment-seconds", type=float, default=60.0, help="segment length cap (60)")
    p.add_argument("--limit-hours", type=float, default=None,
                   help="stop scheduling training sources after this many hours of train audio")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timbre-variety", action="store_true",
                   help="training items also from the extra SoundFonts (csound GM bank) and, for "
                        f"{RELEASE_VARIATION_P * 100:.0f}%% of them, a release time 0.7-4x the SoundFont's "
                        "own (validation and test items are unchanged)")
    p.add_argument("--zone-shift", action="store_true",
                   help=f"play {ZONE_SHIFT_P * 100:.0f}%% of the training items from the SoundFont's samples "
                        f"for keys 1-{ZONE_SHIFT_MAX} semitones away, retuned to the right pitch: "
                        "new piano timbres from the same samples (validation and test unchanged)")
    p.add_argument("--register-zones", action="store_true",
                   help=f"cut the keyboard of {REGISTER_ZONES_P * 100:.0f}%% of the training items into 2-4 "
                        "registers, each on its own MIDI channel with its own sample-zone shift "
                        f"(up to {REGISTER_SHIFT_MAX} keys) and release: a patchwork piano "
                        "(validation and test unchanged)")
    p.add_argument("--held-ramps", action="store_true",
                   help=f"let the held notes of {HELD_RAMP_P * 100:.0f}%% of the training items decay more "
                        "slowly or settle on a plateau (a rising expression per note while it is "
                        "held), as some pianos do (validation and test unchanged)")
    p.add_argument("--validation-ramps", action="store_true",
                   help="render every validation item with held ramps: a second validation set "
                        "(build it in its own folder, e.g. with --max-train-performances 0 "
                        "--procedural 0 --max-test 0) whose held notes settle on a plateau")
    p.add_argument("--jobs", type=int, default=os.cpu_count(), help="worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_build_corpus(args: argparse.Namespace) -> int:
    try:
        summary = build_corpus(
            args.out, args.asap, procedural=args.procedural,
            max_train_performances=args.max_train_performances,
            max_val=args.max_val, max_test=args.max_test,
            segment_seconds=args.segment_seconds,
            segments_per_performance=args.segments_per_performance,
            seed=args.seed, jobs=args.jobs, limit_hours=args.limit_hours,
            use_asap=not args.no_asap, progress=not args.quiet,
            timbre_variety=args.timbre_variety, zone_shift=args.zone_shift,
            register_zones=args.register_zones, held_ramps=args.held_ramps,
            validation_ramps=args.validation_ramps,
        )
    except ParStudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 1 if summary["failed"] and not summary["rendered"] and not summary["skipped"] else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.corpus",
                                description="Render the PAR Studio training corpus.")
    _add_arguments(p)
    return run_build_corpus(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
