"""The only place that runs the model: offline (chunked) and streaming transcription.

The names below load :mod:`.offline` (and torch) on first use, so light modules of this
package (:mod:`.progress`, :mod:`.threads`) import without torch.
"""

__all__ = ["Cancelled", "Transcription", "transcribe", "transcribe_file"]


def __getattr__(name):
    if name in __all__:
        from . import offline

        return getattr(offline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
