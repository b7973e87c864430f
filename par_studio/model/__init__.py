"""The PAR model family: config and presets, layers, the full model and checkpoints."""

from .config import PRESETS, ModelConfig, preset_config
from .par import PARModel

__all__ = ["PRESETS", "ModelConfig", "PARModel", "preset_config"]
