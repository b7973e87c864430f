"""Playback speed: hear a fast passage slowed down (75 % or 50 %), at its own pitch.

The speed is a checkable group of actions (Transcribe → Playback speed, ``[`` slower, ``]``
faster), remembered in the settings. At a speed below 100 % the source is time-stretched once
per file and speed by :class:`StretchJob` in a worker (:mod:`par_studio.audio.stretch`); the
notes track is rendered on the stretched time axis by the mixer. The player keeps reporting
positions in source seconds, so the playhead, the loop band and the roll stay where they are.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton

from ..audio.stretch import SPEEDS, StretchCancelled, time_stretch
from .workers import Job, _CancelledError, start_job, stop_job


class StretchJob(Job):
    def __init__(self, audio: np.ndarray, speed: float):
        super().__init__()
        self.audio, self.speed = audio, speed

    def work(self):
        try:
            return self.speed, time_stretch(self.audio, self.speed, should_cancel=self.is_cancelled)
        except StretchCancelled:
            raise _CancelledError() from None


class SpeedController(QObject):
    """Owns the speed setting and the stretched source of the open file."""

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self._stretched: tuple[object, float, np.ndarray] | None = None  #: (loaded, speed, audio)
        self.job = None
        self._job_for = None  #: the LoadedAudio the running job stretches
        self._play_after: float | None = None
        saved = float(window.settings.value("playback/speed", 1.0))
        self.group = QActionGroup(self)
        self.actions: list[QAction] = []
        for s in SPEEDS:
            a = QAction(f"{round(s * 100)} %", self)
            a.setCheckable(True)
            a.setData(s)
            a.setChecked(abs(s - saved) < 1e-6)
            a.triggered.connect(lambda _=False, v=s: self.set_speed(v))
            self.group.addAction(a)
            self.actions.append(a)
        if self.group.checkedAction() is None:
            self.actions[0].setChecked(True)
        self.act_slower = QAction("Slower", self)
        self.act_slower.setShortcut("[")
        self.act_slower.triggered.connect(lambda: self.step(+1))
        self.act_faster = QAction("Faster", self)
        self.act_faster.setShortcut("]")
        self.act_faster.triggered.connect(lambda: self.step(-1))
        for a in (self.act_slower, self.act_faster):
            a.setToolTip(f"{a.text()} playback, at the same pitch ({a.shortcut().toString()})")
            window.addAction(a)
        # toolbar: the current speed, a click opens the choice
        self.button = QToolButton()
        self.button.setPopupMode(QToolButton.InstantPopup)
        self.button.setFocusPolicy(Qt.ClickFocus)
        self.button.setToolTip("Playback speed: slow a passage down to hear its notes, at the same "
                               "pitch ([ slower, ] faster)")
        menu = QMenu(self.button)
        for a in self.actions:
            menu.addAction(a)
        self.button.setMenu(menu)
        self._show()

    def _show(self) -> None:
        self.button.setText(f"Speed {round(self.speed * 100)} %")

    @property
    def speed(self) -> float:
        a = self.group.checkedAction()
        return float(a.data()) if a is not None else 1.0

    def set_speed(self, speed: float) -> None:
        """Choose the speed; a running playback goes on from where it is at the new speed."""
        for a in self.actions:
            a.setChecked(abs(float(a.data()) - speed) < 1e-6)
        self.win.settings.setValue("playback/speed", float(self.speed))
        self._show()
        self.win.statusBar().showMessage(f"Playback speed {round(self.speed * 100)} %", 4000)
        if self.win.player.playing:
            self.win.mixer.play_from(self.win.player.position())

    def step(self, direction: int) -> None:
        """+1: the next slower speed, -1: the next faster one (no wrap-around)."""
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - self.speed))
        self.set_speed(SPEEDS[int(np.clip(i + direction, 0, len(SPEEDS) - 1))])

    # ------------------------------------------------------------------ source
    def source(self) -> np.ndarray | None:
        """The audio to play at the current speed (None while it is still being prepared)."""
        loaded = self.win.loaded
        if loaded is None:
            return None
        if self.speed == 1.0:
            return loaded.audio
        st = self._stretched
        if st is not None and st[0] is loaded and st[1] == self.speed:
            return st[2]
        return None

    def play_when_ready(self, start: float) -> None:
        """Prepare the stretched source, then start playback at ``start`` s (source time)."""
        self._play_after = start
        if self.job is not None:
            if self.job[0].speed == self.speed and self._job_for is self.win.loaded:
                return
            self.job[0].cancel()  # a stale one: its result is dropped, a new one starts after it
            return
        self._start()

    def _start(self) -> None:
        loaded = self.win.loaded
        if loaded is None:
            return
        self.win.statusBar().showMessage(f"Preparing playback at {round(self.speed * 100)} %…")
        job = StretchJob(loaded.audio, self.speed)
        self._job_for = loaded
        job.finished.connect(self._on_stretched)
        job.failed.connect(self._on_failed)
        job.done.connect(self._on_done)
        self.job = (job, start_job(job, self))

    def _on_stretched(self, result) -> None:
        speed, audio = result
        if self._job_for is self.win.loaded:
            self._stretched = (self._job_for, speed, audio)

    def _on_failed(self, message: str) -> None:
        self._play_after = None
        self.win.statusBar().showMessage(f"Could not slow the audio down: {message}", 8000)

    def _on_done(self) -> None:
        self.job = None
        if self._play_after is None or self.win.loaded is None:
            return
        if self.source() is None:  # the speed or the file changed meanwhile
            self._start()
            return
        start, self._play_after = self._play_after, None
        self.win.statusBar().clearMessage()
        self.win.mixer.play_from(start)

    def reset(self) -> None:
        """A new file: forget the stretched audio and any pending start."""
        self._stretched, self._play_after = None, None
        if self.job is not None:
            self.job[0].cancel()

    def shutdown(self) -> None:
        if self.job is not None:
            stop_job(*self.job, timeout_ms=10000)
            self.job = None
