"""Transcribe → CPU threads (kept in the settings, handed to the engine) and the progress bar's
time left while a transcription runs."""

from __future__ import annotations

import numpy as np

LONG = 120_000  # ms; generous for a loaded CI machine


def test_threads_setting_is_kept_and_reaches_the_engine(qtbot, make_window, short_audio, monkeypatch):
    from par_studio.engine import offline

    seen = []
    real = offline.transcribe

    def spy(*args, **kwargs):
        seen.append(kwargs.get("threads"))
        return real(*args, **kwargs)

    monkeypatch.setattr(offline, "transcribe", spy)
    win = make_window()
    labels = [a.text() for a in win.threads_menu.actions()]
    assert labels[0].startswith("Automatic") and "1" in labels
    assert win.cpu_threads() == 0 and win.threads_menu.actions()[0].isChecked()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.open_file(str(short_audio))
    assert seen[-1] is None  # automatic
    one = next(a for a in win.threads_menu.actions() if a.data() == 1)
    one.trigger()
    assert win.cpu_threads() == 1 and one.isChecked() and not win.threads_menu.actions()[0].isChecked()
    win.transcription.info.pop("features", None)  # a full run, not a decoder-only re-run
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.transcribe()
    assert seen[-1] == 1
    # kept for the next start
    win2 = make_window()
    assert win2.cpu_threads() == 1
    assert next(a for a in win2.threads_menu.actions() if a.data() == 1).isChecked()


def test_progress_bar_shows_the_time_left(qtbot, make_window, short_audio):
    from par_studio.gui.workers import LoadedAudio

    win = make_window()
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(short_audio), transcribe=False)
    win.loaded = LoadedAudio("long", np.tile(win.loaded.audio, 16), win.loaded.spectrogram)  # ~40 s
    formats = []
    win.progress.valueChanged.connect(lambda _v: formats.append(win.progress.format()))
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.transcribe()
    assert any(" left" in f for f in formats), formats[-5:]
    assert len(formats) >= 5  # several reports within the file, not one per chunk
