"""The main window: open → transcribe → look, listen, export; or live input.

One :class:`~par_studio.notes.Notes` object (``self.notes``) is the source of truth: the roll
draws it and export writes it. The model runs only in worker threads (:mod:`.workers`).
Edits (:mod:`.editing`) replace that object through ``self.undo_stack``; :mod:`.session`
autosaves them and offers them back; :mod:`.mixer` plays the notes synthesised with the source.

This module only builds the window and wires its parts together; each concern is a mixin in its
own module: :mod:`.actions` (actions, menus, enabling, Help), :mod:`.toolbar`, :mod:`.settings`,
:mod:`.file_session` (open, transcribe, the job slot), :mod:`.transport` (play, seek, loop),
:mod:`.live_session` and :mod:`.export`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..notes import Notes
from . import theme
from .actions import ActionsMixin
from .candidates import CandidateController
from .editing import NoteEditor, VelocityLaneEditor
from .export import LIVE_INPUT, ExportMixin
from .file_session import AUDIO_FILTER, EXAMPLE, RESOURCES, EmptyHint, FileSessionMixin
from .inspector import NoteInspector
from .live_session import LiveSessionMixin
from .mixer import MixController
from .playback import Player, output_device_name
from .score_actions import ScoreMixin
from .session import EditSession
from .settings import APPLICATION, ORGANIZATION, SettingsMixin, make_settings
from .speed import SpeedController
from .toolbar import MODELS, SENSITIVITY_STEPS, ToolbarMixin
from .transport import TransportMixin
from .views import TimelineWidget
from .workers import LoadedAudio, stop_job

__all__ = ["MainWindow", "ensure_app", "make_settings", "EXAMPLE", "RESOURCES", "LIVE_INPUT", "AUDIO_FILTER",
           "MODELS", "SENSITIVITY_STEPS", "ORGANIZATION", "APPLICATION"]


class MainWindow(ActionsMixin, ToolbarMixin, SettingsMixin, FileSessionMixin, TransportMixin, LiveSessionMixin,
                 ExportMixin, ScoreMixin, QMainWindow):
    # signals tests and the screenshot mode wait on
    sigLoaded = Signal(str)
    sigTranscribed = Signal(object)  #: Transcription
    sigTranscriptionSkipped = Signal(str)  #: no weights for the chosen model: the message
    sigError = Signal(str)
    sigLiveStarted = Signal()
    sigLiveStopped = Signal(object)  #: Transcription or None
    sigLiveProgress = Signal(float)  #: seconds of live input the worker has processed so far
    sigIdle = Signal()
    sigPitchSpectrum = Signal()  #: the pitch spectrogram of the open audio is shown
    # to the live worker (queued across threads)
    _sigLiveAudio = Signal(object)
    _sigLiveFinish = Signal(object)  #: the take's input, (n,) float32 16 kHz mono, to refine its velocities

    def __init__(self, settings: QSettings | None = None, models_dir=None, autosave_dir=None):
        super().__init__()
        self.autosave_dir = autosave_dir
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(100)  # snapshots: ~26 bytes per note per step
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.settings = settings if settings is not None else QSettings(ORGANIZATION, APPLICATION)
        self.models_dir = Path(models_dir) if models_dir else None
        self.loaded: LoadedAudio | None = None
        self.transcription = None
        self.notes = Notes()
        self.model_cache: dict[tuple, tuple] = {}
        self.job = None
        self.job_kind = ""
        self.live = None
        self.player = Player()
        self.last_error = ""
        self._error_box = None
        self._follow_paused = False
        self._features_for = None
        self._shut_down = False
        self._side_jobs: dict = {}  #: jobs outside the main job slot (pitch spectrogram) → their audio
        self._detected_tempo: tuple[Notes | None, float | None] = (None, None)  #: (notes, BPM)
        self._tempo_for = None  #: the LoadedAudio whose transcription the BPM was detected from
        self._build_score_ui()

        self.setWindowTitle("PAR Studio[*]")  # [*]: "*" while there are unexported edits
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self._build_menus()
        self._build_score_actions()  # beat grid, tempo/meter, Export score (score_actions.py)
        self._build_toolbar()
        self._restore_settings()
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(33)
        self.play_timer.timeout.connect(self._tick_playback)
        self._update_enabled()
        self.timeline.setFocus()  # the roll takes the keys (Tab, arrows, Space) from the start

    # ================================================================== UI
    def _build_ui(self) -> None:
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(f"background:{theme.WARNING_BG}; color:{theme.WARNING_FG}; padding:6px 10px;")
        self.banner.setVisible(False)
        lay.addWidget(self.banner)
        self.timeline = TimelineWidget()
        self.timeline.sigSeek.connect(self.seek)
        self.timeline.sigUserNavigated.connect(self._user_navigated)
        self.editor = NoteEditor(self)
        self.velocity_editor = VelocityLaneEditor(self.editor, self.timeline.vel_vb)
        self.editor.sigSelectionChanged.connect(lambda _n: self._update_edit_actions())
        self.session = EditSession(self, self.autosave_dir)
        self.recordings_dir = self.session.store.root.parent / "recordings"  #: live sessions, beside autosave
        self.mixer = MixController(self)
        self.speed = SpeedController(self)
        self.inspector = NoteInspector(self)
        self.candidates = CandidateController(self)
        self.editor.candidate_handler = self.candidates  # a click on a ghost note accepts it
        self.editor.sigSelectionChanged.connect(self._selection_changed)
        self.editor.sigEdited.connect(self.candidates.update)
        self.candidates.sigChanged.connect(lambda n: (self._show_candidate_count(n), self._update_edit_actions()))
        lay.addWidget(self.session.bar)
        lay.addWidget(self.timeline, 1)
        lay.addWidget(self.inspector)
        self.setCentralWidget(central)
        self.empty_hint = EmptyHint(self.timeline)

        # status bar
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.info_label = QLabel("")
        self.model_label = QLabel("")
        self.live_label = QLabel("")
        self.device_label = QLabel("")
        for w in (self.progress, self.cancel_button, self.info_label, self.live_label,
                  self.model_label, self.device_label):
            sb.addPermanentWidget(w)
        out = output_device_name()
        self.device_label.setText(f"output: {out}" if out else "output: none")
        self.device_label.setToolTip("Audio output device used for playback")

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002 (Qt names)
        """Tab / Shift+Tab select the next / previous note wherever the keyboard focus is (a
        toolbar control, the restore bar...), not only once the roll was clicked."""
        act = self.act_next_note if next else self.act_prev_note
        if act.isEnabled():
            act.trigger()
            return True
        return super().focusNextPrevChild(next)

    def _selection_changed(self, n: int) -> None:
        if n:
            self.candidates.clear_focus()  # a note or a candidate is in the inspector, not both
        self.inspector.refresh()

    # ================================================================== shutdown
    def closeEvent(self, ev):  # noqa: N802
        self.shutdown()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        super().closeEvent(ev)

    def shutdown(self) -> None:
        """Stop playback, live input and jobs, and join every worker thread.

        No QThread may outlive this: Qt aborts the process ("QThread: Destroyed while thread
        is still running") when a running one is deleted with the window. Jobs are cancelled
        first (a transcription stops at its next chunk, a live worker skips its queue), so the
        joins are short; a model being loaded is waited for.
        """
        self._shut_down = True  # nothing new starts after this (e.g. a debounced re-transcription)
        self._sensitivity_timer.stop()
        self.player.stop()
        self.player.stop_audition()
        self.play_timer.stop()
        self.session.flush()
        if self.job is not None:
            self.job[0].cancel()
        if self.mixer.job is not None:
            self.mixer.job[0].cancel()
        if self.speed.job is not None:
            self.speed.job[0].cancel()
        for job in list(self._side_jobs):
            job.cancel()
        if self.live is not None:
            self._teardown_live(wait=True)
        self.mixer.shutdown()
        self.speed.shutdown()
        if self.job is not None:
            stop_job(*self.job)
            self.job = None
            self.job_kind = ""
        self.join_threads()

    def worker_threads(self) -> list:
        """Every QThread this window (or its mixer) started that Qt has not deleted yet."""
        from shiboken6 import isValid

        return [t for t in self.findChildren(QThread) if isValid(t)]

    def join_threads(self) -> None:
        """Wait for every worker thread to end (jobs that were cancelled or are finishing)."""
        for t in self.worker_threads():
            t.quit()  # a job's thread also quits by itself once its job is done
            t.wait()

    # ================================================================== state shown
    def busy(self) -> bool:
        return self.job is not None

    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    def _set_info(self) -> None:
        self.refresh_grid()  # the beat grid follows notes and tempo (score_actions.py)
        if self.loaded is None:
            self.info_label.setText("")
            return
        text = f"{self.loaded.duration:.1f} s · {len(self.notes)} notes"
        notes, bpm = self._detected_tempo
        if notes is not self.notes and self._tempo_for is not self.loaded:
            bpm = None  # detected for other audio
        if bpm is not None and not self.export_tempo_setting():
            text += f" · ≈{bpm:.0f} BPM"
        self.info_label.setText(text)
        self.info_label.setToolTip("Tempo detected from the note onsets; written to exported MIDI "
                                   "files (File → MIDI tempo)" if "BPM" in text else "")

    def show_banner(self, text: str | None) -> None:
        self.banner.setText(text or "")
        self.banner.setVisible(bool(text))

    def show_error(self, message: str, title: str = "PAR Studio") -> None:
        """Plain-words error dialog (non-blocking: the app keeps running underneath)."""
        self.last_error = message
        self.statusBar().showMessage(message, 10000)
        self.sigError.emit(message)
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setWindowModality(Qt.WindowModal)
        box.open()
        self._error_box = box


def ensure_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    theme.apply_dark_theme(app)
    return app
