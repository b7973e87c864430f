"""Entry point of the desktop app: ``run_app`` (called by ``par-studio`` with no subcommand)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

#: live screenshot: taken once the engine has processed this much input (its progress signal,
#: not a clock: a slow or loaded machine just takes longer) ...
LIVE_SCREENSHOT_SECONDS = 14.0
#: ... or after this long in the live session, with whatever it has processed by then
LIVE_SCREENSHOT_BUDGET_MS = 120_000
SCREENSHOT_TIMEOUT_MS = 300_000


def run_app(audio: str | None = None, screenshot: str | None = None, live: bool = False,
            settings_path: str | None = None, models_dir=None, fast_exit: bool = False) -> int:
    """Open the main window on ``audio``, or on the bundled example when none is given.

    With ``screenshot``: open ``audio`` (or the example), transcribe it — or with ``live`` play
    it as live input for a few seconds — save a PNG of the window there and return.
    ``fast_exit`` (the ``par-studio`` program): end the process as soon as the window has
    closed (see :func:`_exit_now`) instead of returning.
    """
    if screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer

    from .main_window import EXAMPLE, MainWindow, ensure_app, make_settings

    _warn_broken_binding()
    from ..logfile import install_excepthook

    install_excepthook()  # an error no one caught goes to the log file, one line on stderr
    app = ensure_app()
    if screenshot:
        tmp = tempfile.TemporaryDirectory()
        settings = make_settings(settings_path or str(Path(tmp.name) / "settings.ini"))
        _preset_from_env(settings, models_dir)
    else:
        settings = make_settings(settings_path)
    win = MainWindow(settings, models_dir=models_dir)
    if audio and not Path(audio).exists():
        print(f"error: {audio}: file not found", file=sys.stderr)
        if screenshot:
            return 1
    if screenshot:
        return _screenshot(app, win, audio or str(EXAMPLE), screenshot, live)
    win.show()
    if audio:
        win.open_file(audio)
    else:  # every start without input shows something real to look at, not an empty roll
        win.open_example()
    if live:
        if audio:
            win.sigLoaded.connect(lambda _p: QTimer.singleShot(0, win.start_live))
        else:
            QTimer.singleShot(0, win.start_live)
    rc = int(app.exec())
    if fast_exit:
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> None:
    """End the process right after the window closed. By then everything is saved: the window's
    closeEvent joined every worker thread, wrote the autosave and synced the settings, and a
    live take's file is closed. Python's own teardown of torch, Qt and numpy objects would take
    another 2.5-3.5 s here (measured after the window closed on the bundled example), which users
    see as a hung app."""
    import logging

    logging.shutdown()  # flush the log file
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(rc)


def _warn_broken_binding() -> None:
    """PySide6 6.12.0 drops a reference to None/True on every void call and signal emit: on
    Python < 3.12 (where they are not immortal) the app then crashes within seconds of live
    input. pyproject excludes that version; say so if it is installed anyway."""
    import PySide6

    if sys.version_info < (3, 12) and PySide6.__version__ == "6.12.0":
        print("warning: PySide6 6.12.0 crashes on Python < 3.12 (reference counting bug); install "
              "another version: pip install 'PySide6-Essentials>=6.5,!=6.12.0'", file=sys.stderr)


def _preset_from_env(settings, models_dir) -> None:
    """PAR_STUDIO_MODEL=preset[:ms|:min] picks the model for a screenshot run."""
    spec = os.environ.get("PAR_STUDIO_MODEL")
    if not spec:
        return
    from ..model.checkpoint import available_latencies

    preset, _, ms = spec.partition(":")
    settings.setValue("model/preset", preset)
    have = available_latencies(preset, models_dir)
    if ms == "min" and have:
        settings.setValue("model/latency_ms", have[0])
    elif ms.isdigit():
        settings.setValue("model/latency_ms", int(ms))


def _stage(win, shot: str) -> None:
    """PAR_STUDIO_SHOT for a file screenshot, at a laptop's 1280 × 720: "inspector" selects a
    note (as Tab does) and shows it in the inspector; "candidates" shows candidate notes (the
    Candidates slider at +1.5) where they are densest and focuses the first, as N does."""
    if shot not in ("inspector", "candidates") or win.live is not None or not len(win.notes):
        return
    import numpy as np

    win.resize(1280, 720)
    if shot == "candidates":  # the 8 s with the most candidates; the first of them focused
        win.candidates_slider.setValue(15)
        on = win.candidates.shown.onset
        if not len(on):
            return
        counts = [np.sum((on >= t) & (on < t + 8.0)) for t in on]
        t0 = float(on[int(np.argmax(counts))])
        win.timeline.set_playhead(max(0.0, t0 - 0.01))
        i = win.candidates.step(1)
        t = float(win.candidates.shown.onset[i])
        win.timeline.roll_vb.setXRange(max(0.0, t - 1.0), t + 7.0, padding=0)
        span = win.notes.take((win.notes.onset < t + 7.0) & (win.notes.offset > t - 1.0))
        pitches = np.concatenate([span.pitch, win.candidates.shown.pitch]).astype(float)
        win.timeline.roll_vb.setYRange(pitches.min() - 3, pitches.max() + 3, padding=0)
        return
    win.timeline.set_playhead(float(win.notes.onset[min(12, len(win.notes) - 1)]) - 0.01)
    win.act_next_note.trigger()
    t = float(win.notes.onset[win.editor.selection[0]])
    win.timeline.roll_vb.setXRange(max(0.0, t - 3.0), t + 5.0, padding=0)


def _screenshot(app, win, audio: str, out: str, live: bool) -> int:
    """Transcribe ``audio`` (or play it as live input) and save a PNG of the window at ``out``.

    File mode: the shot is taken once the transcription is drawn and, when the spectrum behind
    the notes is on, that spectrum too. Live mode: the file is played
    as live input in real time from the toolbar's default input ("Open file as live input"), and
    the shot is taken mid-session, once the worker reports ``LIVE_SCREENSHOT_SECONDS`` of input
    processed. Either way the window is then shut down (every worker thread joined) and the
    function returns 0 if the PNG was written and no error was shown, else 1.
    """
    from PySide6.QtCore import QTimer

    from ..constants import SAMPLE_RATE

    win.resize(1480, 900)
    win.show()
    state = {"rc": 0, "saved": False, "error": "", "waiting": set()}

    def save(*_):
        if state["saved"]:
            return
        state["saved"] = True
        if win.live is not None:
            win._refresh_live()  # the view as of the latest processed block
            heard = win.live["samples"] / SAMPLE_RATE
            if heard < LIVE_SCREENSHOT_SECONDS:
                print(f"live screenshot after {heard:.1f} s of input (the time budget ran out first)",
                      file=sys.stderr)
        app.processEvents()
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        ok = win.grab().save(str(out))
        print(f"screenshot: {out}" if ok else f"error: could not write {out}", file=sys.stderr)
        if state["error"]:
            print(f"error shown in the window: {state['error']}", file=sys.stderr)
        late = sorted(state["waiting"]) if not state["error"] else []
        if late:  # the time limit came first: the shot shows a window still at work
            print(f"error: screenshot taken after {SCREENSHOT_TIMEOUT_MS // 1000} s without the "
                  f"{' and the '.join(late)} (machine too busy?)", file=sys.stderr)
        state["rc"] = 0 if ok and not state["error"] and not late else 1
        win.shutdown()  # cancels jobs, stops live input, joins every worker thread
        app.quit()

    def later(*_):
        _stage(win, os.environ.get("PAR_STUDIO_SHOT", ""))
        QTimer.singleShot(400, save)

    def failed(message):
        state["error"] = message
        later()

    if live:
        def progress(seconds):
            if seconds >= LIVE_SCREENSHOT_SECONDS and not state["saved"]:
                QTimer.singleShot(0, save)  # not from inside the window's update handler

        win.sigLoaded.connect(lambda _path: win.start_live())
        win.sigLiveStarted.connect(lambda: QTimer.singleShot(LIVE_SCREENSHOT_BUDGET_MS, save))
        win.sigLiveProgress.connect(progress)
        win.sigLiveStopped.connect(later)  # the input ended first (a short file)
        win.open_file(audio, transcribe=False)
    else:
        # the shot waits for the notes and, when it is shown, the spectrum behind them (computed
        # beside the transcription; on a busy machine it can end minutes after the notes)
        waiting = state["waiting"]
        waiting |= {"notes"} | ({"spectrum"} if win.act_pitch_spectrum.isChecked() else set())

        def ready(what):
            if what in waiting:
                waiting.discard(what)
                if not waiting:
                    later()

        win.sigTranscribed.connect(lambda *_: ready("notes"))
        win.sigTranscriptionSkipped.connect(lambda *_: ready("notes"))
        win.sigPitchSpectrum.connect(lambda *_: ready("spectrum"))
        win.open_file(audio)
    win.sigError.connect(failed)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, save)
    app.exec()
    win.shutdown()  # (again: a no-op unless the loop ended some other way)
    return state["rc"]
