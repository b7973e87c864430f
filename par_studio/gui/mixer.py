"""Hear the transcription with the source: the balance control and the notes rendering job.

The balance (0 = source only, 50 = both, 100 = notes only) is a toolbar slider and a
"Listen to" menu. When notes are to be heard, :class:`SynthJob` renders the window's notes with
:mod:`.synth` in a worker thread (incrementally after an edit) and the player mixes that track
with the source; edits made while playing are rendered and swapped in without stopping.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QLabel, QSlider

from ..audio.stretch import stretched_length
from ..notes import Notes
from .synth import NotesRenderer, balance_gains
from .workers import Job, start_job, stop_job

PRESETS = (("Source only", 0), ("Source + notes", 50), ("Notes only", 100))
NOTES_LEVEL = 0.7  #: the notes track is scaled to this fraction of the source's peak


class SynthJob(Job):
    """Render ``notes`` as heard at ``speed``: on the time axis of the stretched source (note
    times / speed, ``n_samples`` long), so the notes keep their pitch and line up with it."""

    def __init__(self, renderer: NotesRenderer, notes: Notes, n_samples: int, speed: float = 1.0):
        super().__init__()
        self.renderer, self.notes, self.n_samples, self.speed = renderer, notes, n_samples, speed

    def work(self):
        n = self.notes
        if self.speed != 1.0:
            n = Notes(n.onset / self.speed, n.offset / self.speed, n.pitch, n.velocity)
        return self.notes, self.speed, self.renderer.render(n, self.n_samples)


class MixController(QObject):
    sigRendered = Signal(object)  #: the notes track (float32, as long as the source)

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.renderer = NotesRenderer()
        self.notes_audio: np.ndarray | None = None  #: rendering of ``rendered_for``, level-matched
        self.rendered_for: Notes | None = None
        self.rendered_speed = 1.0  #: the playback speed ``notes_audio`` was rendered for
        self._raw_for: tuple | None = None
        self.job = None
        self._again = False
        self._play_after: float | None = None

        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setFixedWidth(110)
        self.slider.setFocusPolicy(Qt.ClickFocus)
        self.slider.setToolTip("Playback balance: source recording ◄ ► synthesised notes (middle: both)")
        self.slider.setValue(int(window.settings.value("playback/balance", 0)))
        self.slider.valueChanged.connect(self._balance_changed)
        self.left_label, self.right_label = QLabel(" Source"), QLabel("Notes ")
        self.group = QActionGroup(self)
        self.group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.actions: list[QAction] = []
        for text, value in PRESETS:
            a = QAction(text, self)
            a.setCheckable(True)
            a.setData(value)
            a.triggered.connect(lambda _=False, v=value: self.slider.setValue(v))
            self.group.addAction(a)
            self.actions.append(a)
        self._sync_actions()
        window.editor.sigEdited.connect(self.notes_changed)

    # ------------------------------------------------------------------ balance
    def balance(self) -> float:
        return self.slider.value() / 100.0

    def wants_notes(self) -> bool:
        return balance_gains(self.balance())[1] > 0 and len(self.win.notes) > 0

    def stale(self) -> bool:
        """The notes track does not match the notes or the playback speed (any more)."""
        return self.rendered_for is not self.win.notes or self.rendered_speed != self.win.speed.speed

    def gains(self) -> tuple[float, float]:
        g_src, g_notes = balance_gains(self.balance())
        return g_src, (g_notes if self.notes_audio is not None else 0.0)

    def _sync_actions(self) -> None:
        v = self.slider.value()
        for a in self.actions:
            a.setChecked(a.data() == v)

    def _balance_changed(self, value: int) -> None:
        self.win.settings.setValue("playback/balance", int(value))
        self._sync_actions()
        if self.win.player.playing:
            if self.wants_notes() and self.stale():
                self.request_render()
            same_axis = self.rendered_speed == self.win.player.speed
            self.win.player.set_mix(self.notes_audio if same_axis else None, self.gains())

    # ------------------------------------------------------------------ playing
    def play_from(self, start: float) -> None:
        """Start playback at ``start`` with the current balance and speed (slowing the source
        down first, and rendering the notes, if they are to be heard and the rendering is
        stale)."""
        if self.win.loaded is not None and self.win.speed.source() is None:
            self.win.speed.play_when_ready(start)
            return
        if self.wants_notes() and self.stale():
            self._play_after = start
            self.win.statusBar().showMessage("Rendering the notes for playback…")
            self.request_render()
            return
        self.win._start_player(start, self.notes_audio if self.wants_notes() else None, self.gains())

    def notes_changed(self) -> None:
        """After an edit: re-render in the background if the notes are being heard."""
        if self.win.player.playing and self.wants_notes():
            self.request_render()

    def request_render(self) -> None:
        if self.win.loaded is None:
            return
        if self.job is not None:
            self._again = True
            return
        self._again = False
        speed = self.win.speed.speed
        job = SynthJob(self.renderer, self.win.notes, stretched_length(len(self.win.loaded.audio), speed), speed)
        job.finished.connect(self._on_rendered)
        job.failed.connect(self._on_failed)
        job.done.connect(self._on_done)
        self.job = (job, start_job(job, self))

    def _on_rendered(self, result) -> None:
        notes, speed, raw = result
        if self.win.loaded is None or len(raw) != stretched_length(len(self.win.loaded.audio), speed):
            return
        src_peak = float(np.abs(self.win.loaded.audio).max()) if len(self.win.loaded.audio) else 0.0
        peak = float(np.abs(raw).max()) if len(raw) else 0.0
        level = float(np.clip(NOTES_LEVEL * src_peak / peak, 0.1, 10.0)) if peak > 0 and src_peak > 0 else 1.0
        self.notes_audio = (raw * np.float32(level)).astype(np.float32, copy=False)
        self.rendered_for, self.rendered_speed = notes, speed
        if self.win.player.playing and speed == self.win.player.speed:
            self.win.player.set_mix(self.notes_audio, self.gains())
        self.sigRendered.emit(self.notes_audio)

    def _on_failed(self, message: str) -> None:
        self._play_after = None
        self.win.statusBar().showMessage(f"Could not render the notes: {message}", 8000)

    def _on_done(self) -> None:
        self.job = None
        if self._again or (self.stale() and self.win.player.playing and self.wants_notes()):
            self.request_render()
            return
        if self._play_after is not None:
            start, self._play_after = self._play_after, None
            self.win.statusBar().clearMessage()
            self.play_from(start)  # renders again if the notes or the speed changed meanwhile

    def reset(self) -> None:
        """A new file: forget the rendering."""
        self.renderer = NotesRenderer() if self.job is None else self.renderer
        self.notes_audio, self.rendered_for, self._play_after = None, None, None
        self.rendered_speed = 1.0

    def shutdown(self) -> None:
        if self.job is not None:
            stop_job(*self.job, timeout_ms=10000)
            self.job = None
