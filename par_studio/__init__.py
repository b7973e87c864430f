"""PAR Studio: real-time piano transcription with the PAR family of autoregressive models.

The engine (audio, features, model, notes, engine, midi_io, train) never imports Qt;
the GUI lives in :mod:`par_studio.gui` and only shows and asks.
"""

__version__ = "0.1.0"
