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
from .checkpoint_schema import (
    MAX_PARAMETERS,
    check_config,
    check_metadata,
    check_state_dict,
    count_parameters,
)
from .config import PRESETS, ModelConfig
from .par import PARModel
from .shipped import MODELS_DIR, available_latencies, shipped_path  # noqa: F401 (re-exported)

FORMAT = "par-studio-checkpoint"
VERSION = 1


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


MAX_FILE_BYTES = 512 * 1024 * 1024  #: the shipped checkpoints are about 5 MB


def _check_file(path: Path) -> None:
    import stat

    from ..names import shown

    name = shown(path)
    if not str(path).strip():
        raise CheckpointError("No model file given (an empty name). Use --model par, --model "
                              "par-compact or the path of a checkpoint file.")
    try:
        st = path.stat()
    except FileNotFoundError:
        link = " (a broken link)" if path.is_symlink() else ""
        raise CheckpointError(f"Model file {name} does not exist{link}. Check the path, or use a "
                              f"shipped model: --model par or --model par-compact.") from None
    except OSError as exc:
        raise CheckpointError(f"Model file {name} cannot be opened ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(f"Model file {name} is a folder; give the checkpoint file in it (.pt).")
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"Model file {name} is not a regular file (a pipe or device).")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"Model file {name} cannot be read: permission denied.")
    if st.st_size == 0:
        raise CheckpointError(f"Model file {name} is empty. Re-download or re-train it.")
    if st.st_size > MAX_FILE_BYTES:
        raise CheckpointError(f"Model file {name} is {st.st_size / 2**20:,.0f} MB, far larger than "
                              "any PAR model; it is not a PAR Studio checkpoint.")


def read_checkpoint(path) -> dict:
    """Read and validate the raw checkpoint dict (no model built): file, format, version and
    the schema of its config, metadata and weights (:mod:`.checkpoint_schema`)."""
    from ..names import shown

    path = Path(path)
    _check_file(path)
    name = shown(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise CheckpointError(f"Model file {name} needs more memory than there is to load; it is "
                              "not a PAR Studio checkpoint.") from None
    except Exception as exc:
        raise CheckpointError(
            f"Model file {name} is corrupt or truncated ({type(exc).__name__}). "
            f"Re-download or re-train it.") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a PAR Studio model checkpoint.")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"{name} has checkpoint version {blob.get('version')!r:.20}; this PAR "
                              f"Studio reads version {VERSION}. Update PAR Studio or re-train.")
    for key in ("config", "state_dict", "metadata"):
        if key not in blob:
            raise CheckpointError(f"Model file {name} lacks its {key!r}; it is damaged.")
    for check, part in ((check_config, "config"), (check_metadata, "metadata"), (check_state_dict, "state_dict")):
        problem = check(blob[part])
        if problem:
            raise CheckpointError(f"Model file {name} is damaged: {problem}. Re-download or re-train it.")
    return blob


def load_checkpoint(path) -> tuple[PARModel, dict]:
    """Build the model a checkpoint describes, load its weights, return (model in eval mode,
    metadata). Metadata ``path`` is the file actually read (never one stored in the file)."""
    from ..names import shown

    blob = read_checkpoint(path)
    name = shown(path)
    try:
        cfg = ModelConfig.from_dict(blob["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"Model file {name} has an invalid config: {exc}") from exc
    n = count_parameters(cfg)
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"Model file {name} describes a model of {n:,} parameters (PAR has "
                              "1.26 M); it is damaged or not a PAR Studio checkpoint.")
    model = PARModel(cfg)
    try:
        model.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"Model file {name} does not match its own config ({first}). It is damaged or was "
            f"written by an incompatible version.") from exc
    model.eval()
    meta = dict(blob["metadata"])
    meta["path"] = str(path)
    return model, meta


def resolve_model(spec: str = "par", latency_ms: int | None = None, models_dir: Path | None = None
                  ) -> tuple[PARModel, dict]:
    """Load a model from a preset name ("par", "par-compact") or a checkpoint path.

    For a preset, the shipped checkpoint at ``latency_ms`` (default 320 ms) is loaded; if
    no weights for that latency are shipped, the error lists the ones that are.
    """
    if not str(spec).strip():
        raise CheckpointError("No model given (--model is empty). Use --model par, --model "
                              "par-compact or the path of a checkpoint file.")
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
