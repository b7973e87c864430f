"""Entry point of the desktop app: ``run_app`` (called by ``par-studio`` with no subcommand)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

LIVE_SCREENSHOT_SECONDS = 9.0
SCREENSHOT_TIMEOUT_MS = 300_000


def run_app(audio: str | None = None, screenshot: str | None = None, live: bool = False,
            settings_path: str | None = None, models_dir=None) -> int:
    """Open the main window (and ``audio``, else the bundled example on first start).

    With ``screenshot``: open ``audio`` (or the example), transcribe it — or with ``live`` play
    it as live input for a few seconds — save a PNG of the window there and return.
    """
    if screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer

    from .main_window import EXAMPLE, MainWindow, ensure_app, make_settings

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
    elif settings.value("app/first_run_done") not in (True, "true"):
        settings.setValue("app/first_run_done", True)
        win.open_example()
    if live:
        if audio:
            win.sigLoaded.connect(lambda _p: QTimer.singleShot(0, win.start_live))
        else:
            QTimer.singleShot(0, win.start_live)
    return int(app.exec())


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


def _screenshot(app, win, audio: str, out: str, live: bool) -> int:
    from PySide6.QtCore import QTimer

    win.resize(1480, 900)
    win.show()
    state = {"rc": 0, "saved": False}

    def save(*_):
        if state["saved"]:
            return
        state["saved"] = True
        app.processEvents()
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        ok = win.grab().save(str(out))
        print(f"screenshot: {out}" if ok else f"error: could not write {out}", file=sys.stderr)
        state["rc"] = 0 if ok else 1
        win.shutdown()
        app.quit()

    def later(*_):
        QTimer.singleShot(400, save)

    if live:
        def go_live(_path):
            win.start_live()
            QTimer.singleShot(int(LIVE_SCREENSHOT_SECONDS * 1000), save)
        win.sigLoaded.connect(go_live)
        win.open_file(audio, transcribe=False)
    else:
        win.sigTranscribed.connect(later)
        win.sigTranscriptionSkipped.connect(later)
        win.open_file(audio)
    win.sigError.connect(later)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, save)
    app.exec()
    return state["rc"]
