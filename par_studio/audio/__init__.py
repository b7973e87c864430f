"""Audio in: decoding files to 16 kHz mono, and (see :mod:`.live`) live sources."""

from .io import load_audio, audio_info

__all__ = ["load_audio", "audio_info"]
