"""Piano timbres available on this machine for rendering the training corpus.

A *timbre* is one way of turning MIDI into piano audio: a renderer (``fluidsynth`` or
``timidity``), the instrument bank it reads (a SoundFont, or a timidity config pointing at
GUS patches) and the General MIDI program to force on every note.

Two roles:

* ``"train"``  timbres are rendered by fluidsynth from the Debian SoundFonts
  (FluidR3_GM, MuseScore_General Lite, TimGM6mb). Training and validation use only these.
  *Extra* training timbres (the csound GM bank) join the training split only of corpora built
  with ``--timbre-variety``, so the validation pieces stay the same across corpus versions.
* ``"test"``   the held-out timbre: timidity with the ``freepats`` GUS patch set. A different
  renderer *and* different piano samples, never used for training, so the test score says
  something about unseen pianos.

Everything here is discovery only; rendering lives in :mod:`par_studio.train.corpus`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from par_studio.errors import ParStudioError

#: Debian packages that provide the renderers and instrument banks below (CI installs these).
APT_PACKAGES = (
    "fluidsynth",
    "fluid-soundfont-gm",
    "musescore-general-soundfont-small",
    "timgm6mb-soundfont",
    "csound-soundfont",
    "timidity",
    "freepats",
)

SF_DIRS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3"))

TRAIN = "train"
TEST = "test"


class SoundFontError(ParStudioError):
    """No usable renderer / instrument bank is installed."""


@dataclass(frozen=True)
class Timbre:
    """One piano sound. ``path`` is the .sf2/.sf3 file (fluidsynth) or timidity .cfg."""

    name: str
    renderer: str  # "fluidsynth" or "timidity"
    path: str
    program: int  # General MIDI program forced on every note (0 = acoustic grand)
    split: str  # "train" or "test"
    extra: bool = False  # only in corpora built with timbre variety, and never for validation

    def to_dict(self) -> dict:
        return asdict(self)


# (name, renderer, candidate file names, package, program, split[, extra])
_CANDIDATES = (
    ("fluidr3", "fluidsynth", ("FluidR3_GM.sf2",), "fluid-soundfont-gm", 0, TRAIN),
    ("fluidr3_bright", "fluidsynth", ("FluidR3_GM.sf2",), "fluid-soundfont-gm", 1, TRAIN),
    (
        "musescore",
        "fluidsynth",
        ("MuseScore_General_Lite.sf3", "MuseScore_General.sf3", "MuseScore_General.sf2"),
        "musescore-general-soundfont-small",
        0,
        TRAIN,
    ),
    ("timgm6mb", "fluidsynth", ("TimGM6mb.sf2",), "timgm6mb-soundfont", 0, TRAIN),
    ("csound", "fluidsynth", ("sf_GMbank.sf2",), "csound-soundfont", 0, TRAIN, True),
    ("freepats", "timidity", ("freepats.cfg",), "freepats", 0, TEST),
)


def _dpkg_files(package: str) -> list[Path]:
    """Files installed by a Debian package ([] when dpkg is absent or the package is not)."""
    if shutil.which("dpkg") is None:
        return []
    try:
        out = subprocess.run(
            ["dpkg", "-L", package], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [Path(line) for line in out.splitlines() if line.strip()]


def _find_file(names: tuple[str, ...], package: str, extra_dirs: tuple[Path, ...]) -> Path | None:
    for name in names:
        for d in extra_dirs:
            p = d / name
            if p.is_file():
                return p.resolve()
        for p in _dpkg_files(package):
            if p.name == name and p.is_file():
                return p.resolve()
    return None


def _freepats_ok(cfg: Path) -> bool:
    """The freepats config must exist and its acoustic grand patch must be installed."""
    return cfg.is_file() and any(Path("/usr/share/midi/freepats/Tone_000").glob("000_*.pat"))


def discover_timbres(require: bool = True) -> list[Timbre]:
    """All piano timbres installed here, train ones first.

    Raises :class:`SoundFontError` (naming the apt packages) when ``require`` and no training
    timbre is available.
    """
    found: list[Timbre] = []
    for name, renderer, files, package, program, split, *extra in _CANDIDATES:
        if shutil.which(renderer) is None:
            continue
        if renderer == "timidity":
            path = _find_file(files, "timidity", (Path("/etc/timidity"),))
            if path is None or not _freepats_ok(path):
                continue
        else:
            path = _find_file(files, package, SF_DIRS)
            if path is None:
                continue
        found.append(Timbre(name, renderer, str(path), program, split, bool(extra and extra[0])))
    if require and not any(t.split == TRAIN for t in found):
        raise SoundFontError(
            "No piano SoundFont renderer found. Install them with:\n"
            f"  sudo apt-get install {' '.join(APT_PACKAGES)}"
        )
    return found


def train_timbres(timbres: list[Timbre] | None = None) -> list[Timbre]:
    ts = [t for t in (timbres if timbres is not None else discover_timbres()) if t.split == TRAIN]
    if not ts:
        raise SoundFontError(
            "No training SoundFont found. Install: sudo apt-get install " + " ".join(APT_PACKAGES)
        )
    return ts


def test_timbres(timbres: list[Timbre] | None = None) -> list[Timbre]:
    ts = [t for t in (timbres if timbres is not None else discover_timbres()) if t.split == TEST]
    if not ts:
        raise SoundFontError(
            "The held-out test timbre (timidity + freepats) is not installed. Install: "
            "sudo apt-get install timidity freepats"
        )
    return ts


test_timbres.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


if __name__ == "__main__":  # pragma: no cover
    for t in discover_timbres():
        print(f"{t.split:5s} {t.name:15s} {t.renderer:10s} prog {t.program:3d} {t.path}")
