"""Checkpoints: one file holding the config, the weights and metadata.

Layout (a plain dict saved with ``torch.save``, loadable with ``weights_only=True``)::

    {"format": "par-studio-checkpoint", "version": 1, "config": {...},
     "state_dict": {...}, "metadata": {"training_data": ..., "steps": ..., "metrics": {...}}}

Loading validates every part and turns each failure into a :class:`CheckpointError` that
names the file and says what to do. Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..constants import DEFAULT_LATENCY_MS
from ..errors import CheckpointError
from ..midi_io import default_file_mode
from .config import PRESETS, ModelConfig
from .par import PARModel

FORMAT = "par-studio-checkpoint"
VERSION = 1

#: Folder of the shipped checkpoints (the repository's ``models/``).
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def save_checkpoint(model: PARModel, path, metadata: dict | None = None, extra: dict | None = None) -> Path:
    """Write ``model`` (config + weights + metadata) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    if extra:
        blob.update(extra)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.chmod(tmp, default_file_mode(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_checkpoint(path) -> dict:
    """Read and validate the raw checkpoint dict (no model built)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Model file {path} does not exist. Check the path, or use a "
                              f"shipped model: --model par or --model par-compact.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"Model file {path} is empty. Re-download or re-train it.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"Model file {path} is corrupt or truncated ({type(exc).__name__}). "
            f"Re-download or re-train it.") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a PAR Studio model checkpoint.")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {blob.get('version')}; this PAR "
                              f"Studio reads version {VERSION}. Update PAR Studio or re-train.")
    for key in ("config", "state_dict", "metadata"):
        if key not in blob:
            raise CheckpointError(f"Model file {path} lacks its {key!r}; it is damaged.")
    return blob


def load_checkpoint(path) -> tuple[PARModel, dict]:
    """Build the model a checkpoint describes, load its weights, return (model in eval mode,
    metadata)."""
    blob = read_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(blob["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"Model file {path} has an invalid config: {exc}") from exc
    model = PARModel(cfg)
    try:
        model.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"Model file {path} does not match its own config ({first}). It is damaged or was "
            f"written by an incompatible version.") from exc
    model.eval()
    meta = dict(blob["metadata"])
    meta.setdefault("path", str(path))
    return model, meta


def shipped_path(preset: str, latency_ms: int = DEFAULT_LATENCY_MS, models_dir: Path | None = None) -> Path:
    """Path of the shipped checkpoint of a preset at a latency, e.g. models/par-compact-320.pt."""
    return (models_dir or MODELS_DIR) / f"{preset}-{int(latency_ms)}.pt"


def available_latencies(preset: str, models_dir: Path | None = None) -> list[int]:
    """Latency settings (ms) for which ``preset`` has shipped weights."""
    d = models_dir or MODELS_DIR
    out = []
    for p in d.glob(f"{preset}-*.pt"):
        tail = p.stem[len(preset) + 1:]
        if tail.isdigit():
            out.append(int(tail))
    return sorted(out)


def resolve_model(spec: str = "par", latency_ms: int | None = None, models_dir: Path | None = None
                  ) -> tuple[PARModel, dict]:
    """Load a model from a preset name ("par", "par-compact") or a checkpoint path.

    For a preset, the shipped checkpoint at ``latency_ms`` (default 320 ms) is loaded; if
    no weights for that latency are shipped, the error lists the ones that are.
    """
    if spec in PRESETS:
        lat = latency_ms or DEFAULT_LATENCY_MS
        path = shipped_path(spec, lat, models_dir)
        if not path.exists():
            have = available_latencies(spec, models_dir)
            hint = (f"Shipped latencies for {spec}: {', '.join(f'{x} ms' for x in have)}."
                    if have else "No trained weights are installed for it; train them with "
                    "`par-studio train` (see models/MODEL_CARD.md).")
            raise CheckpointError(f"No trained {spec} model for {lat} ms look-ahead ({path}). {hint}")
        model, meta = load_checkpoint(path)
    else:
        model, meta = load_checkpoint(spec)
        if latency_ms is not None and latency_ms != model.latency_ms:
            raise CheckpointError(
                f"{spec} is a {model.latency_ms} ms model; --latency {latency_ms} does not apply "
                f"to a checkpoint file (leave it out or pick a matching file).")
    return model, meta
