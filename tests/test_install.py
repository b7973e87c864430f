"""The README's two set-up commands, .ci/run and scripts/install.sh agree with each other.

(The install itself is checked from a fresh clone with only the system Python; see the README.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Set up"):]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands_using_the_venv():
    cmds = setup_commands()
    assert len(cmds) == 2, cmds
    install, test = cmds
    assert install.startswith("bash scripts/install.sh && .venv/bin/par-studio")
    assert test.startswith("bash scripts/install.sh --test && ")
    # never the system interpreter: PEP 668 forbids pip installs into it
    assert ".venv/bin/python -m pytest" in test and "python3 -m pytest" not in test


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert setup_commands()[1] in ci.splitlines()


def test_install_script_parses_and_rejects_unknown_options():
    script = ROOT / "scripts" / "install.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    r = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    r = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "PAR_TORCH=cpu" in r.stdout
    # the system Python is never pip-installed into; pip runs in the venv only
    body = script.read_text(encoding="utf-8")
    assert "python3 -m pip" not in body and '"$PY" -m pip install' in body
