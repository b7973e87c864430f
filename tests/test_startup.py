"""Start-up stays light: `par-studio --help` and argument errors import no heavy library."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "scipy", "librosa", "PySide6", "numpy", "pyqtgraph", "soundfile")

PROBE = r"""
import sys
from par_studio.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY=" + ",".join(heavy))
sys.exit(0)
"""


def imported_after(*argv: str) -> tuple[list[str], str]:
    r = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
                       capture_output=True, text=True, timeout=120)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    return [m for m in line[6:].split(",") if m], r.stdout + r.stderr


def test_help_imports_nothing_heavy():
    heavy, out = imported_after("--help")
    assert heavy == [], heavy
    for name in ("transcribe", "info", "train", "evaluate", "live", "build-corpus"):
        assert name in out


def test_argument_errors_import_nothing_heavy():
    heavy, out = imported_after("transcribe")  # missing INPUT
    assert heavy == [] and "the following arguments are required" in out
    heavy, out = imported_after("transcribe", "a.wav", "--sensitivity", "7")
    assert heavy == [] and "outside" in out
    heavy, out = imported_after("--no-such-option")
    assert heavy == [] and "unrecognized arguments" in out


def test_a_subcommand_in_its_own_module_still_gets_its_real_parser():
    heavy, out = imported_after("live", "--help")
    assert "--list-devices" in out


def test_main_window_opens_without_torch():
    """The window is on screen before any model loads: building it imports no torch/scipy/librosa
    (the installed look-aheads come from model/shipped.py)."""
    code = r"""
import os, sys, tempfile
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from par_studio.gui.main_window import MainWindow, ensure_app, make_settings
app = ensure_app()
win = MainWindow(make_settings(tempfile.mkdtemp() + "/s.ini"))
win.show()
app.processEvents()
assert win.latency_combo.count() >= 1
print("HEAVY=" + ",".join(m for m in ("torch", "scipy", "librosa", "numba") if m in sys.modules))
win.shutdown()
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    assert line == "HEAVY=", line
