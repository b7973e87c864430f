"""What a checkpoint's parts may hold, checked before any model is built.

A checkpoint is data from elsewhere: its config decides how much memory the model takes (a
negative or huge width must never reach ``torch.empty``), its metadata is printed by
``par-studio info`` and its weights decide every note. :func:`check_config`,
:func:`check_metadata` and :func:`check_state_dict` each return a message (what is wrong) or
None; :mod:`.checkpoint` turns a message into a :class:`CheckpointError` naming the file.

:func:`display_metadata` strips machine paths from metadata for display: a path becomes the
name of the data set or file it points to.
"""

from __future__ import annotations

import math
import re

from ..constants import CONV_TIME_WIDTHS

#: field → (type, lowest, highest) for numbers; widths are capped far above the presets
_INT_FIELDS = {
    "n_mels": (8, 512), "channels": (1, 512), "proj_channels": (1, 128), "proj_hidden": (0, 1024),
    "pitch_features": (1, 512), "vel_features": (1, 512), "vel_proj_hidden": (0, 512),
    "lstm_hidden": (1, 2048), "lstm_layers": (1, 8), "vel_hidden": (1, 2048), "context_dim": (1, 64),
    "film_hidden": (1, 1024),
}
_FLOAT_FIELDS = {"dropout": (0.0, 1.0), "offset_shift_s": (0.0, 1.0)}
MAX_PARAMETERS = 50_000_000  #: the presets have 0.44 M and 1.26 M
MAX_METADATA_CHARS = 1_000_000
MAX_DEPTH = 6
_META_TYPES = {"training_data": str, "trained_at": str, "initialised_from": str, "recipe": str,
               "test_set": str, "steps": int, "cpu_hours": (int, float), "cpu_seconds": (int, float),
               "metrics": dict}
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def check_config(cfg) -> str | None:
    """A message if ``cfg`` (the checkpoint's ``config`` dict) is not a config PAR Studio can
    build within bounded memory, else None."""
    if not isinstance(cfg, dict):
        return f"its config is a {type(cfg).__name__}, not a table of settings"
    for key, (lo, hi) in _INT_FIELDS.items():
        if key in cfg and not (_is_int(cfg[key]) and lo <= cfg[key] <= hi):
            return f"config {key} = {cfg[key]!r:.40} is not a whole number in {lo}..{hi}"
    for key, (lo, hi) in _FLOAT_FIELDS.items():
        if key in cfg and not (_is_number(cfg[key]) and lo <= cfg[key] <= hi):
            return f"config {key} = {cfg[key]!r:.40} is not a number in {lo}..{hi}"
    if "preset" in cfg and not (isinstance(cfg["preset"], str) and 0 < len(cfg["preset"]) <= 64):
        return f"config preset {cfg['preset']!r:.40} is not a short name"
    if "projection" in cfg and cfg["projection"] not in ("fc", "grouped"):
        return f"config projection {cfg['projection']!r:.40} is not 'fc' or 'grouped'"
    widths = cfg.get("conv_widths", [3] * 6)
    if not (isinstance(widths, (list, tuple)) and len(widths) == 6
            and all(_is_int(w) and w in CONV_TIME_WIDTHS for w in widths)):
        return f"config conv_widths {widths!r:.60} is not six values of 1, 2 or 3"
    bias = cfg.get("state_bias", [0.0] * 5)
    if not (isinstance(bias, (list, tuple)) and len(bias) == 5 and all(_is_number(b) and abs(b) <= 100 for b in bias)):
        return f"config state_bias {bias!r:.60} is not five numbers in −100..100"
    return None


def count_parameters(cfg) -> int:
    """Parameters of the model ``cfg`` (a ModelConfig) describes, counted without allocating
    any weights (built on torch's meta device)."""
    import torch

    from .par import PARModel

    with torch.device("meta"):
        model = PARModel(cfg)
    return sum(p.numel() for p in model.parameters())


def _json_like(v, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if v is None or isinstance(v, (str, bool, int)):
        return True
    if isinstance(v, float):
        return True
    if isinstance(v, (list, tuple)):
        return all(_json_like(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _json_like(x, depth + 1) for k, x in v.items())
    return False


def check_metadata(meta) -> str | None:
    """A message if ``meta`` is not a table of plain values of a sane size, else None."""
    if not isinstance(meta, dict):
        return f"its metadata is a {type(meta).__name__}, not a table"
    if not _json_like(meta):
        return "its metadata holds values that are not plain text, numbers, lists or tables"
    if len(repr(meta)) > MAX_METADATA_CHARS:
        return f"its metadata is larger than {MAX_METADATA_CHARS:,} characters"
    for key, kind in _META_TYPES.items():
        if key in meta and meta[key] is not None:
            v = meta[key]
            ok = isinstance(v, kind) and not (kind is int and isinstance(v, bool))
            if not ok:
                return f"metadata {key} = {v!r:.40} has the wrong type"
    for key, value in (meta.get("metrics") or {}).items():
        if not (_is_number(value) or isinstance(value, str)):
            return f"metadata metric {key} = {value!r:.40} is not a number"
    return None


def check_state_dict(state) -> str | None:
    """A message if ``state`` is not a table of finite floating-point tensors (BatchNorm's
    ``num_batches_tracked`` counters excepted), else None."""
    import torch

    if not isinstance(state, dict):
        return f"its weights are a {type(state).__name__}, not a table of tensors"
    for key, t in state.items():
        if not isinstance(key, str) or not isinstance(t, torch.Tensor):
            return f"weight {key!r:.60} is not a tensor"
        if key.endswith("num_batches_tracked"):  # BatchNorm's counter is the one integer
            continue
        if str(t.dtype).replace("torch.", "") not in _FLOAT_DTYPES:
            return f"weight {key} holds {str(t.dtype).replace('torch.', '')} values, not floating point"
        if t.numel() and not bool(torch.isfinite(t).all()):
            return f"weight {key} holds NaN or infinite values"
    return None


_PATH = re.compile(r"(?<![\w.\-])(?:~|[A-Za-z]:)?(?:[/\\][^\s/\\()\[\]{},;'\"]+)+[/\\]?")
_SPLITS = {"train", "test", "valid", "validation", "val", "dev", "eval"}


def _shorten(match: re.Match) -> str:
    parts = [p for p in re.split(r"[/\\]", match.group(0)) if p and p != "~" and not p.endswith(":")]
    if not parts:
        return match.group(0)
    if len(parts) >= 2 and parts[-1].lower() in _SPLITS:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def strip_paths(text: str) -> str:
    """``text`` with every absolute path replaced by the name it ends in (a data set's split
    keeps its data set's name: ``/x/corpus2/test`` → ``corpus2/test``)."""
    return _PATH.sub(_shorten, text)


def display_metadata(meta):
    """A copy of ``meta`` safe to show: strings without machine paths, recursively."""
    if isinstance(meta, str):
        return strip_paths(meta)
    if isinstance(meta, dict):
        return {k: display_metadata(v) for k, v in meta.items()}
    if isinstance(meta, (list, tuple)):
        return [display_metadata(v) for v in meta]
    return meta
