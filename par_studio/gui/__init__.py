"""The PAR Studio desktop app (PySide6 + pyqtgraph). Shows and asks; the engine does the work.

Modules: :mod:`app` (entry point, ``run_app``), :mod:`main_window` (wires the window's parts:
:mod:`actions` menus and keys, :mod:`toolbar`, :mod:`settings`, :mod:`file_session`,
:mod:`transport`, :mod:`live_session`, :mod:`export`), :mod:`inspector` (the selected note,
editable) with :mod:`legend` (velocity colours), :mod:`candidates` (ghost notes the model would
add at a higher sensitivity), :mod:`views` (spectrogram,
piano roll with keyboard, velocity lane), :mod:`workers` (QThread jobs: load, transcribe,
live), :mod:`playback` (sounddevice output), :mod:`theme` (dark Fusion palette, colour maps).
"""
