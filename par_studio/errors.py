"""Errors the user can read: what went wrong, with which file, and what to do."""

from __future__ import annotations


class ParStudioError(Exception):
    """Base class of every error meant to be shown to a user as one plain message."""


class AudioLoadError(ParStudioError):
    """An audio file could not be read (missing, empty, corrupt, not audio)."""


class CheckpointError(ParStudioError):
    """A model checkpoint is missing, corrupt, truncated or does not match its config."""


class MidiError(ParStudioError):
    """A MIDI file could not be read or written."""


class AudioDeviceError(ParStudioError):
    """No usable audio input/output device."""


class CorpusError(ParStudioError):
    """The corpus could not be built (bad input folder, renderer failure)."""
