"""Worker threads end with the window, whatever it is doing; the live roll fills as it plays.

A QThread still running when its window is deleted aborts the whole process ("QThread:
Destroyed while thread '' is still running"), so closing must cancel and join every one: in
the middle of a live session, of a transcription, of a model load.
"""

from __future__ import annotations

import pytest

import sys

import numpy as np

from par_studio.constants import HOP_LENGTH, SAMPLE_RATE, WINDOW_HALF

LONG = 120_000  # ms; generous for a loaded CI machine


def running(threads) -> list:
    from shiboken6 import isValid

    return [t for t in threads if isValid(t) and t.isRunning()]


def test_qt_binding_keeps_refcounts():
    """PySide6 6.12.0 on Python < 3.12 drops a reference to True on every emit and to None on
    every void call: the app then dies within seconds of live input (none_dealloc / bool_dealloc
    / segfaults). pyproject excludes it; this says so plainly if such a build is installed."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    from par_studio.gui.main_window import ensure_app

    ensure_app()

    class E(QObject):
        sig = Signal(object)

    e, label = E(), QLabel()
    e.sig.connect(lambda _x: None)
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        e.sig.emit(1)
        label.setText("x")
    after = sys.getrefcount(None), sys.getrefcount(True)
    assert after == before, (f"PySide6 {pyside_version} loses references to None/True on this Python "
                             f"(None {before[0]}→{after[0]}, True {before[1]}→{after[1]}): install another "
                             "version (pip install -e . picks one)")


def test_live_roll_gets_notes_and_close_mid_session_joins_threads(qtbot, make_window, short_audio):
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource

    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    audio = load_audio(short_audio)
    # real-time pace, looped: the session is still running when the checks are done
    src = FileSource(audio, realtime=True, loop_seconds=600)
    progress = []
    win.sigLiveProgress.connect(progress.append)
    with qtbot.waitSignal(win.sigLiveStarted, timeout=LONG):
        win.start_live(src)
    tl = win.timeline
    # finished notes reach the roll while the session runs (the display timer draws them)
    qtbot.waitUntil(lambda: len(tl.drawn_notes()) > 0, timeout=LONG)
    assert win.live is not None and win.live["state"] == "running"
    win._refresh_live()
    lv = win.live
    assert len(win.notes) > 0 and tl.notes is win.notes
    assert progress and progress == sorted(progress)
    # the spectrogram holds exactly the columns whose window has been heard, none beyond "now"
    heard = lv["samples"]
    cols = tl.live_spectrogram().shape[1]
    assert cols == (heard - WINDOW_HALF) // HOP_LENGTH + 1
    rect = tl.spec_img.mapRectToParent(tl.spec_img.boundingRect())
    assert rect.right() <= heard / SAMPLE_RATE + 1e-6
    # provisional notes (still sounding) and the look-ahead band end at "now"
    lo, hi = tl.lookahead.getRegion()
    assert tl.lookahead.isVisible() and lo <= hi <= heard / SAMPLE_RATE + 1e-6
    assert np.all(tl.provisional.onset <= hi + 1e-6)
    assert "latency 320 ms" in win.live_label.text() and "dropped blocks: 0" in win.live_label.text()

    threads = win.worker_threads()
    live_thread = lv["thread"]
    assert live_thread in threads and live_thread.isRunning()
    win.close()
    assert win.live is None
    assert running(threads) == []
    assert not src._thread.is_alive()


def test_close_while_live_model_loads_joins_threads(qtbot, make_window):
    from par_studio.gui.sources import ArraySource

    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    assert not win.model_cache
    win.start_live(ArraySource(np.zeros(SAMPLE_RATE * 5, np.float32), realtime=True))
    assert win.live["state"] == "starting" and win.job_kind == "model"
    threads = win.worker_threads()
    assert running(threads)
    win.close()
    assert running(threads) == []
    assert win.job is None and win.live is None


def test_close_mid_transcription_joins_threads(qtbot, make_window, short_audio):
    from par_studio.gui.workers import LoadedAudio

    win = make_window()
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(short_audio), transcribe=False)
    # ~40 s: two engine chunks, so the job is still busy when the window closes
    long = np.tile(win.loaded.audio, 16)
    win.loaded = LoadedAudio("long", long, win.loaded.spectrogram)
    done = []
    win.sigTranscribed.connect(done.append)
    win.transcribe()
    assert win.job_kind == "transcribe"
    job, thread = win.job
    qtbot.waitUntil(thread.isRunning, timeout=LONG)
    threads = win.worker_threads()
    win.close()
    assert running(threads) == []
    assert job.is_cancelled()
    qtbot.wait(50)  # let queued signals arrive: a cancelled job delivers no result
    assert done == []


def test_close_mid_live_with_blocks_in_flight(qtbot, make_window, short_audio):
    """Consumer-paced input keeps the worker busy; the close skips what is queued."""
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource

    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    src = FileSource(load_audio(short_audio), realtime=False, loop_seconds=600)
    with qtbot.waitSignal(win.sigLiveProgress, timeout=LONG):
        win.start_live(src)
    assert win.live["pending"] <= 2  # the GUI never queues more than LIVE_MAX_IN_FLIGHT blocks
    threads = win.worker_threads()
    win.close()
    assert running(threads) == []


@pytest.mark.app_exec
def test_live_screenshot_mode_waits_on_progress_and_exits_clean(qtbot, models_dir, short_audio, tmp_path,
                                                                monkeypatch):
    """`par-studio --screenshot OUT --live`: the shot is taken mid-session once enough input is
    processed (the progress signal, no sleep), and no worker thread outlives it."""
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from par_studio.gui import app as gui_app
    from par_studio.gui.main_window import MainWindow

    monkeypatch.setenv("PAR_STUDIO_MODEL", "par-compact")
    monkeypatch.setattr(gui_app, "LIVE_SCREENSHOT_SECONDS", 1.0)
    stopped = []
    monkeypatch.setattr(MainWindow, "_on_live_finished", lambda self, r: stopped.append(r))
    out = tmp_path / "live.png"
    rc = gui_app.run_app(audio=str(short_audio), screenshot=str(out), live=True, models_dir=models_dir)
    assert rc == 0 and QImage(str(out)).width() > 0
    assert stopped == []  # taken during the session, not after the input ran out
    wins = [w for w in QApplication.topLevelWidgets()
            if isinstance(w, MainWindow) and w.windowTitle().startswith("Live")]
    assert wins
    for w in wins:
        assert w.live is None and running(w.worker_threads()) == []
        w.close()


@pytest.mark.app_exec
def test_file_screenshot_waits_for_the_spectrum_behind_the_notes(qtbot, models_dir, short_audio, tmp_path,
                                                                 monkeypatch):
    """`par-studio --screenshot OUT FILE`: the shot waits for the notes and for the spectrum
    behind them, which a busy machine can finish well after the notes (here: 1.5 s later)."""
    import time as _time

    from PySide6.QtGui import QImage

    from par_studio.gui import app as gui_app
    from par_studio.gui import spectrum
    from par_studio.gui.main_window import MainWindow

    real = spectrum.pitch_spectrogram

    def slow(*a, **k):
        _time.sleep(1.5)
        return real(*a, **k)

    monkeypatch.setattr(spectrum, "pitch_spectrogram", slow)
    monkeypatch.setenv("PAR_STUDIO_MODEL", "par-compact")
    shown = []
    grab = MainWindow.grab
    monkeypatch.setattr(MainWindow, "grab", lambda self, *a: shown.append(
        (len(self.notes), self.loaded.pitch_spectrogram is not None)) or grab(self, *a))
    out = tmp_path / "main.png"
    rc = gui_app.run_app(audio=str(short_audio), screenshot=str(out), models_dir=models_dir)
    assert rc == 0 and QImage(str(out)).width() > 0
    assert len(shown) == 1 and shown[0][1], shown


@pytest.mark.app_exec
def test_file_screenshot_past_its_time_limit_fails(qtbot, models_dir, short_audio, tmp_path, monkeypatch,
                                                  capsys):
    """A shot the time limit forced (the notes or the spectrum not there yet) is written, said
    and exits 1, so scripts/screenshots.sh (set -e) stops instead of keeping a half-done shot."""
    import time as _time

    from par_studio.gui import app as gui_app
    from par_studio.gui import spectrum

    real = spectrum.pitch_spectrogram
    monkeypatch.setattr(spectrum, "pitch_spectrogram", lambda *a, **k: _time.sleep(2.0) or real(*a, **k))
    monkeypatch.setattr(gui_app, "SCREENSHOT_TIMEOUT_MS", 200)
    monkeypatch.setenv("PAR_STUDIO_MODEL", "par-compact")
    out = tmp_path / "main.png"
    rc = gui_app.run_app(audio=str(short_audio), screenshot=str(out), models_dir=models_dir)
    err = capsys.readouterr().err
    assert rc == 1 and out.exists() and "without the" in err and "spectrum" in err, err


def test_live_recording_to_disk_failing_is_a_notice_not_a_stop(qtbot, tmp_path):
    """The live worker records what it is pushed; when the file cannot be written the session
    goes on (a notice names the file), and the display keeps coming."""
    import soundfile as sf

    from par_studio.gui.workers import LiveWorker

    ok = LiveWorker(None, record_to=tmp_path / "ok.wav")
    ok.begin()
    for _ in range(3):
        ok.push(np.full(1600, 0.1, np.float32))
    ok.finish()  # a normal end: the crash-safe WAV becomes a FLAC
    assert ok.recorded_path == tmp_path / "ok.flac" and not (tmp_path / "ok.wav").exists()
    assert np.allclose(sf.read(ok.recorded_path, dtype="float32")[0], 0.1, atol=1e-4)
    bad = LiveWorker(None, record_to=tmp_path / "missing" / "x.wav")
    notices, updates = [], []
    bad.notice.connect(notices.append)
    bad.update.connect(updates.append)
    bad.begin()
    bad.push(np.zeros(1600, np.float32))
    assert len(notices) == 1 and "x.wav" in notices[0] and not bad.dead and len(updates) == 1


@pytest.mark.app_exec
def test_the_app_without_input_opens_the_bundled_example_on_every_start(qtbot, tmp_path, models_dir):
    """`par-studio` with no file shows the example each time (not only on the first start)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from par_studio.gui import app as gui_app
    from par_studio.gui.main_window import EXAMPLE, MainWindow

    ini = str(tmp_path / "settings.ini")
    opened = []

    def check():
        wins = [w for w in QApplication.topLevelWidgets()
                if isinstance(w, MainWindow) and w.settings.fileName() == ini and w.isVisible()]
        if wins and wins[0].loaded is not None:
            opened.append(wins[0].loaded.path)
            wins[0].close()
            QApplication.quit()
        else:
            QTimer.singleShot(50, check)

    def give_up():  # a start that never opens anything must fail the test, not hang it
        for w in QApplication.topLevelWidgets():
            if isinstance(w, MainWindow) and w.settings.fileName() == ini and w.isVisible():
                w.close()
        QApplication.quit()

    for _ in range(2):
        QTimer.singleShot(50, check)
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.timeout.connect(give_up)
        deadline.start(60_000)
        assert gui_app.run_app(settings_path=ini, models_dir=models_dir) == 0
        deadline.stop()
    assert opened == [str(EXAMPLE)] * 2
