"""The PAR model family: config and presets, layers, the full model and checkpoints.

``PARModel`` loads torch on first use, so the torch-free parts (:mod:`.config`,
:mod:`.shipped`) import at once (the window lists the installed models before any loads).
"""

from .config import PRESETS, ModelConfig, preset_config

__all__ = ["PRESETS", "ModelConfig", "PARModel", "preset_config"]


def __getattr__(name):
    if name == "PARModel":
        from .par import PARModel

        return PARModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
