"""The PAR Studio desktop app (PySide6 + pyqtgraph). Shows and asks; the engine does the work.

Modules: :mod:`app` (entry point, ``run_app``), :mod:`main_window`, :mod:`views` (spectrogram,
piano roll with keyboard, velocity lane), :mod:`workers` (QThread jobs: load, transcribe,
live), :mod:`playback` (sounddevice output), :mod:`theme` (dark Fusion palette, colour maps).
"""
