"""Where results go, decided and checked before any work starts, and a safe place for them
when the chosen place fails at the end.

* :func:`plan_outputs` maps each input of ``par-studio transcribe`` to its output file(s):
  next to the input, mirrored under an output folder, or one named file. No two inputs of one
  run get the same output and no output is an input; names that would collide are
  disambiguated and each change is reported. Ambiguous requests are refused
  (:class:`OutputError`).
* :func:`check_writable` proves a file can be created in a folder (by creating and removing a
  temp file of the atomic writer's own pattern), so an unwritable place is reported before a
  long transcription or live session, not after it.
* :func:`write_or_fallback` writes with a writer function; if that fails it writes to the
  user's data folder (:func:`fallback_dir`) and says where.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .names import shown
from .errors import ParStudioError
from .inputs import Input

MIDI_SUFFIXES = (".mid", ".midi")
NAME_MAX = 255  #: bytes in one file name on Linux, macOS and Windows file systems


class OutputError(ParStudioError):
    """An output location is ambiguous, clashes with an input or cannot be written."""


@dataclass
class Planned:
    """Outputs of one input: ``midi`` and/or ``csv`` (None when not written)."""

    src: Path
    midi: Path | None
    csv: Path | None


def _fit_name(path: Path) -> Path:
    """``path`` with its stem cut so the name fits :data:`NAME_MAX` bytes."""
    raw = os.fsencode(path.name)
    if len(raw) <= NAME_MAX:
        return path
    suffix = os.fsencode(path.suffix)
    stem = os.fsencode(path.stem)[: NAME_MAX - len(suffix) - 1]
    while stem:
        try:
            stem.decode("utf-8")
            break
        except UnicodeDecodeError:  # do not cut a character in half
            stem = stem[:-1]
    return path.with_name(os.fsdecode(stem + suffix))


def plan_outputs(inputs: list[Input], out: str | None, csv: bool) -> tuple[list[Planned], list[str]]:
    """(one :class:`Planned` per input, notes on renamed outputs).

    ``out`` None: beside each input. ``out`` ending in .mid/.midi: that file (one input only;
    with ``csv`` the CSV goes beside it). ``out`` ending in .csv: that CSV (one input only;
    no MIDI). ``out`` an existing folder, ending in a path separator or without a suffix: a
    folder in which each input's place under the folder argument it came from is mirrored.
    Anything else (``-o take.wav``) is refused."""
    notes: list[str] = []
    if out is not None and not out.strip():
        raise OutputError("-o is empty (an unset variable in a script?); give a .mid file or a folder.")
    mode = "beside"
    if out is not None:
        o = Path(out)
        is_dir_like = out.endswith(("/", os.sep)) or o.is_dir()
        suffix = "" if is_dir_like else o.suffix.lower()
        if suffix in MIDI_SUFFIXES or suffix == ".csv":
            mode = "file"
            if len(inputs) > 1:
                raise OutputError(f"-o {shown(out)} names one file, but {len(inputs)} inputs were given. "
                                  "Give a folder instead (-o FOLDER/).")
        elif is_dir_like or not suffix:
            mode = "folder"
            if o.exists() and not o.is_dir():
                raise OutputError(f"-o {shown(out)} is a file, not a folder; {len(inputs)} inputs need a folder.")
        else:
            raise OutputError(f"-o {shown(out)}: an output ends in .mid (MIDI) or .csv (notes as text), "
                              "or is a folder (end it with / to create one).")
    plans: list[Planned] = []
    for inp in inputs:
        if mode == "file":
            o = Path(out)
            if o.suffix.lower() == ".csv":
                plans.append(Planned(inp.path, None, o))
            else:
                plans.append(Planned(inp.path, o, o.with_suffix(".csv") if csv else None))
            continue
        base = inp.path.parent / inp.path.name if mode == "beside" else Path(out) / inp.rel
        mid = _fit_name(base.with_suffix(".mid"))
        plans.append(Planned(inp.path, mid, mid.with_suffix(".csv") if csv else None))
    _disambiguate(plans, {_key(i.path) for i in inputs}, notes)
    return plans, notes


def _key(p: Path):
    return os.path.normcase(os.path.abspath(p))


def _disambiguate(plans: list[Planned], input_keys: set, notes: list[str]) -> None:
    """Rename outputs that two inputs share or that are an input: ``a.wav`` + ``a.flac`` →
    ``a.wav.mid`` + ``a.flac.mid``; ``take.mid`` (audio) → ``take.transcribed.mid``; still
    equal → ``-2``, ``-3``."""
    for field in ("midi", "csv"):
        groups: dict = {}
        for pl in plans:
            target = getattr(pl, field)
            if target is not None:
                groups.setdefault(_key(target), []).append(pl)
        used = set(groups)
        for key, group in groups.items():
            clash = len(group) > 1
            self_clash = key in input_keys
            if not (clash or self_clash):
                continue
            for pl in group:
                old = getattr(pl, field)
                ext = old.suffix
                if clash:
                    new = old.with_name(f"{pl.src.stem}{pl.src.suffix}{ext}")
                else:
                    new = old.with_name(f"{old.stem}.transcribed{ext}")
                new = _fit_name(new)
                n = 2
                while _key(new) in used or _key(new) in input_keys:
                    new = _fit_name(old.with_name(f"{old.stem}-{n}{ext}"))
                    n += 1
                used.add(_key(new))
                setattr(pl, field, new)
                why = "is the input itself" if self_clash and not clash else "is shared by several inputs"
                notes.append(f"{shown(pl.src)}: output {shown(old)} {why}; writing {shown(new)}")


def check_writable(path: Path, probed: set | None = None) -> None:
    """Raise :class:`OutputError` (naming ``path``) unless a file can be created at ``path``:
    its folder (or the nearest existing folder above it, where the folders will be made)
    accepts a new file and ``path`` is not a folder. ``probed``: folders already proven
    writable in this run (each is probed once)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {shown(path)}: it is a folder.")
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise OutputError(f"cannot write {shown(path)}: the name is longer than {NAME_MAX} bytes.")
    folder = path.parent
    while not folder.exists():
        if folder.is_symlink() or folder == folder.parent:
            raise OutputError(f"cannot write {shown(path)}: {shown(folder)} is a broken link.")
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {shown(path)}: {shown(folder)} is a file, not a folder.")
    if probed is not None and folder in probed:
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=".par-studio-check.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"cannot write {shown(path)}: {exc.strerror or exc} in {shown(folder)}. "
                          "Choose another place.") from None
    if probed is not None:
        probed.add(folder)


def fallback_dir() -> Path:
    """``<user data folder>/par-studio/unsaved``: XDG_DATA_HOME (default ~/.local/share) on
    Linux, Application Support on macOS, %APPDATA% on Windows."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "par-studio" / "unsaved"


def write_or_fallback(writer, path: Path, *args) -> tuple[Path, str | None]:
    """``writer(*args, path)``; if that raises OSError, the same into :func:`fallback_dir`
    under a time-stamped name. Returns (path written, message or None). Raises OSError only
    if the fallback fails too."""
    try:
        return writer(*args, path), None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        folder = fallback_dir()
        safe = _fit_name(Path(f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}"))
        alt = folder / safe.name
        written = writer(*args, alt)
        return written, (f"could not write {shown(path)} ({reason}); the result was saved to "
                         f"{shown(written)} instead")
