"""Where the shipped weights live and which look-aheads are installed, without importing torch
(the window lists them before any model is loaded; see :mod:`.checkpoint` for loading).

models/{preset}-{ms}.pt, e.g. models/par-compact-320.pt.
"""

from __future__ import annotations

from pathlib import Path

from ..constants import DEFAULT_LATENCY_MS

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def shipped_path(preset: str, latency_ms: int = DEFAULT_LATENCY_MS, models_dir: Path | None = None) -> Path:
    """Path of the shipped checkpoint of a preset at a latency, e.g. models/par-compact-320.pt."""
    return (models_dir or MODELS_DIR) / f"{preset}-{int(latency_ms)}.pt"


def available_latencies(preset: str, models_dir: Path | None = None) -> list[int]:
    """Latency settings (ms) for which ``preset`` has shipped weights."""
    d = Path(models_dir or MODELS_DIR)
    out = []
    for p in d.glob(f"{preset}-*.pt"):
        tail = p.stem[len(preset) + 1:]
        if tail.isdigit():
            out.append(int(tail))
    return sorted(out)
