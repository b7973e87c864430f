"""Command-line inputs: files, folders (searched recursively) and globs → the audio files to
read, each with the path its output mirrors, plus a message for everything skipped.

Nothing vanishes without a word: an empty argument (an unset ``"$FILE"`` in a script) is
refused instead of meaning "this folder"; broken links, link loops, unreadable folders and
special files found in a folder are each reported.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from .names import shown

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".m4a", ".wma", ".au"}


@dataclass(frozen=True)
class Input:
    """One file to transcribe; ``rel`` is its path relative to the folder argument it was
    found in (just its name for a file or glob argument), mirrored under an output folder."""

    path: Path
    rel: Path


def _walk(root: Path, problems: list[str]) -> list[Input]:
    found: list[Input] = []

    def onerror(exc: OSError) -> None:
        problems.append(f"{shown(exc.filename or root)}: cannot be read ({exc.strerror or exc}); skipped")

    for folder, dirs, names in os.walk(root, onerror=onerror, followlinks=False):
        dirs.sort()
        for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]):
            p = Path(folder) / name
            if p.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            if p.is_symlink():
                try:
                    p.stat()
                except OSError as exc:
                    why = "a link loop" if exc.errno == 40 else "a broken link"
                    problems.append(f"{shown(p)}: is {why}; skipped")
                    continue
            if p.is_dir():
                continue
            found.append(Input(p, p.relative_to(root)))
    return found


def expand_inputs(items: list[str]) -> tuple[list[Input], list[str]]:
    """Files, folders (searched recursively for audio) and globs → (inputs, problems).

    A file argument is returned even if it is not readable audio (loading says why); the
    same file reached twice is kept once."""
    inputs: list[Input] = []
    problems: list[str] = []
    for item in items:
        if not item.strip():
            problems.append("an empty name was given as input (an unset variable in a script?); "
                            "name the files or folders to transcribe, '.' for this folder")
            continue
        p = Path(item)
        if p.is_dir():
            found = _walk(p, problems)
            if not found:
                problems.append(f"{shown(p)}: no audio files in this folder")
            inputs.extend(found)
        elif p.exists() or p.is_symlink():
            inputs.append(Input(p, Path(p.name)))
        else:
            matches = sorted(glob.glob(item, recursive=True))
            files = [Path(m) for m in matches if not Path(m).is_dir()]
            if files:
                inputs.extend(Input(f, Path(f.name)) for f in files)
            else:
                problems.append(f"{shown(item)}: file not found")
    seen, unique = set(), []
    for inp in inputs:
        try:
            key = inp.path.resolve(strict=False)
        except (OSError, RuntimeError):  # a link loop
            key = inp.path.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(inp)
    return unique, problems
