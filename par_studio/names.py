"""File names as text a user can read (no numpy, no Qt: the command line imports this first)."""

from __future__ import annotations

import os


def shown(path) -> str:
    """``path`` as printable text, whatever bytes its name holds (non-UTF-8 names keep their
    other characters; the odd bytes show as �)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "replace")
