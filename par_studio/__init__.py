"""PAR Studio: real-time piano transcription with the PAR family of autoregressive models.

The engine (audio, features, model, notes, engine, midi_io, train) never imports Qt;
the GUI lives in :mod:`par_studio.gui` and only shows and asks.
"""

import os as _os

# OpenMP threads sleep between parallel regions instead of spin-waiting (read by libgomp when
# torch loads, so it must be set before; a value the user set wins). Spinning threads starve
# other programs on a busy computer and, when descheduled, stall every barrier of ours
# (see par_studio.engine.threads).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
