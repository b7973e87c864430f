"""The only place that runs the model: offline (chunked) and streaming transcription."""

from .offline import Cancelled, Transcription, transcribe, transcribe_file

__all__ = ["Cancelled", "Transcription", "transcribe", "transcribe_file"]
