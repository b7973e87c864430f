"""The main window: open → transcribe → look, listen, export; or live input.

One :class:`~par_studio.notes.Notes` object (``self.notes``) is the source of truth: the roll
draws it and export writes it. The model runs only in worker threads (:mod:`.workers`).
Edits (:mod:`.editing`) replace that object through ``self.undo_stack``; :mod:`.session`
autosaves them and offers them back; :mod:`.mixer` plays the notes synthesised with the source.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..audio.recorder import new_recording_path
from ..constants import DEFAULT_LATENCY_MS, FRAME_SECONDS, SAMPLE_RATE
from ..errors import ParStudioError
from ..midi_io import DEFAULT_TEMPO
from ..notes import Notes
from . import theme
from .editing import NoteEditor, VelocityLaneEditor
from .mixer import MixController
from .playback import Player, output_device_name
from .speed import SpeedController
from .session import EditSession
from .synth import audition_clip
from .views import TimelineWidget
from .workers import (
    JobKeeper,
    LiveWorker,
    LoadedAudio,
    LoadJob,
    ModelJob,
    ModelSpec,
    PitchSpectrumJob,
    TranscribeJob,
    start_job,
    stop_job,
)

ORGANIZATION = "PAR Studio"
APPLICATION = "PAR Studio"
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
EXAMPLE = RESOURCES / "example.flac"
LIVE_INPUT = "live input"  #: LoadedAudio.path of a live recording (no file yet)
AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.oga *.opus *.mp3 *.aif *.aiff *.m4a *.au);;All files (*)"
MODELS = (("PAR", "par"), ("PARcompact", "par-compact"))
LOOP_MARGIN_S = 0.1  #: Loop plays this much before the first and after the last selected note
SENSITIVITY_STEPS = 20  #: slider positions either side of 0; sensitivity = position / 20
AUDITION_VELOCITY = 80  #: velocity of a key clicked on the keyboard
MAX_RECENT = 8
#: live: audio blocks on their way to the worker at most; beyond that the input waits in the
#: source's ring buffer (bounded; a full ring counts dropped blocks) instead of piling up,
#: unbounded, in the worker thread's event queue
LIVE_MAX_IN_FLIGHT = 2
LIVE_MAX_BATCH = 8192  #: samples sent to the worker at once at most (0.5 s: it catches up in big steps)


class MainWindow(QMainWindow):
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
    _sigLiveFinish = Signal()

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

        self.setWindowTitle("PAR Studio[*]")  # [*]: "*" while there are unexported edits
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self._restore_settings()
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(33)
        self.play_timer.timeout.connect(self._tick_playback)
        self._update_enabled()

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
        lay.addWidget(self.session.bar)
        lay.addWidget(self.timeline, 1)
        self.setCentralWidget(central)

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

    def _build_actions(self) -> None:
        st = self.style()
        mb = self.menuBar()

        def act(text, slot, shortcut=None, icon=None, checkable=False, tip=None):
            a = QAction(text, self)
            if icon is not None:
                a.setIcon(st.standardIcon(icon))
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.setCheckable(checkable)
            if tip:
                a.setToolTip(tip)
                a.setStatusTip(tip)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.act_open = act("&Open audio…", lambda: self.open_dialog(), QKeySequence.Open,
                            QStyle.SP_DialogOpenButton, tip="Open an audio file (Ctrl+O); you can also drop files here")
        self.act_export = act("&Export MIDI…", lambda: self.export_dialog("mid"), "Ctrl+E",
                              QStyle.SP_DialogSaveButton, tip="Export the notes shown as a MIDI file (Ctrl+E)")
        self.act_export_csv = act("Export &CSV…", lambda: self.export_dialog("csv"), "Ctrl+Shift+E",
                                  tip="Export the notes shown as CSV: onset, offset, pitch, velocity")
        self.act_save_audio = act("Save &recording…", lambda: self.save_recording_dialog(), "Ctrl+Shift+S",
                                  tip="Save the audio of the last live session (FLAC or WAV), e.g. to "
                                      "transcribe it again later with PAR")
        self.act_import = act("&Import notes…", lambda: self.import_dialog(), "Ctrl+I",
                              tip="Replace the notes with those of a MIDI or CSV file, e.g. an earlier "
                                  "export to go on checking it (one undo step)")
        self.act_tempo_auto = act("Detect from the notes", lambda: self.set_export_tempo(0.0), checkable=True,
                                  tip="Write the MIDI tempo detected from the notes' onsets, so that "
                                      "notation software draws bars near the played ones")
        self.act_tempo_fixed = act("Fixed tempo…", self.ask_export_tempo, checkable=True,
                                   tip="Write a tempo you choose (note times in seconds stay the same)")
        self.act_quit = act("&Quit", self.close, QKeySequence.Quit)
        self.act_transcribe = act("&Transcribe", lambda: self.transcribe(), "Ctrl+R",
                                  QStyle.SP_BrowserReload, tip="Transcribe the loaded audio again (Ctrl+R)")
        self.act_cancel = act("Cancel", self.cancel, "Esc", tip="Cancel the running job (Esc)")
        self.act_play = act("Play", self.toggle_play, "Space", QStyle.SP_MediaPlay,
                            tip="Play / pause the audio from the playhead (Space)")
        self.act_live = act("Live", self.toggle_live, "Ctrl+L", QStyle.SP_MediaSeekForward, checkable=True,
                            tip="Start / stop live transcription from the input chosen at the right (Ctrl+L)")
        self.act_loop = act("Loop", self._loop_toggled, "L", checkable=True,
                            tip="Play the selected notes over and over (no selection: the span in "
                                "view), to check them against the recording (L)")
        self.act_follow = act("Follow", lambda on: self.settings.setValue("view/follow", bool(on)), "F",
                              QStyle.SP_ArrowRight, checkable=True, tip="Keep the playhead in view (F)")
        self.act_pitch_spectrum = act("&Spectrum behind the notes", self._pitch_spectrum_toggled, "B",
                                      checkable=True,
                                      tip="Show a spectrogram with one row per key behind the notes, so "
                                          "each note sits on the energy of its pitch (B)")
        self.act_zoom_in = act("Zoom in", lambda: self.timeline.zoom(0.7), QKeySequence.ZoomIn)
        self.act_zoom_out = act("Zoom out", lambda: self.timeline.zoom(1 / 0.7), QKeySequence.ZoomOut)
        self.act_fit = act("Fit all", lambda: self.timeline.fit(), "Ctrl+0")
        self.act_about = act("About PAR Studio", self.about)
        self.act_shortcuts = act("&Keyboard shortcuts", self.show_shortcuts, QKeySequence.HelpContents,
                                 tip="All keys and mouse gestures (F1)")
        # editing (keys act on the selected notes of the roll)
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts([QKeySequence.Undo])
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for a in (self.act_undo, self.act_redo):
            self.addAction(a)
        ed = self.editor
        self.act_delete = act("&Delete notes", ed.delete_selected, QKeySequence.Delete,
                              tip="Delete the selected notes (Delete)")
        self.act_delete.setShortcuts([QKeySequence.Delete, QKeySequence("Backspace")])
        self.act_select_all = act("Select &all notes", ed.select_all, QKeySequence.SelectAll)
        self.act_next_note = act("Next note", lambda: ed.select_step(1, self.timeline.playhead()), "Tab",
                                 tip="Select the next note in time (from the playhead when nothing is "
                                     "selected), show it and play it (Tab)")
        self.act_prev_note = act("Previous note", lambda: ed.select_step(-1, self.timeline.playhead()), "Shift+Tab",
                                 tip="Select the previous note in time, show it and play it (Shift+Tab)")
        self.act_left = act("Move earlier (32 ms)", lambda: ed.nudge(frames=-1), "Left")
        self.act_right = act("Move later (32 ms)", lambda: ed.nudge(frames=1), "Right")
        self.act_up = act("Move up a semitone", lambda: ed.nudge(semitones=1), "Up")
        self.act_down = act("Move down a semitone", lambda: ed.nudge(semitones=-1), "Down")
        self.act_oct_up = act("Move up an octave", lambda: ed.nudge(semitones=12), "Shift+Up")
        self.act_oct_down = act("Move down an octave", lambda: ed.nudge(semitones=-12), "Shift+Down")
        self.act_longer = act("Longer (32 ms)", lambda: ed.nudge_length(1), "Shift+Right",
                              tip="Make the selected notes one frame longer (Shift+Right)")
        self.act_shorter = act("Shorter (32 ms)", lambda: ed.nudge_length(-1), "Shift+Left",
                               tip="Make the selected notes one frame shorter (Shift+Left)")
        self.act_join = act("&Join notes", ed.join_selected, "J",
                            tip="Join the selected notes of each key into one note (J)")
        self.act_split = act("&Split at playhead", lambda: ed.split_selected(self.timeline.playhead()), "S",
                             tip="Split the selected notes at the playhead (S)")
        self.quantise_actions = []
        for div, key in ((8, None), (16, "Q"), (32, None)):
            a = act(f"Quantise to 1/{div} notes", lambda _=False, d=div: ed.quantise(d, self.export_tempo()), key,
                    tip=f"Snap the selected notes (or all) to a 1/{div}-note grid at the MIDI tempo "
                        "(File → MIDI tempo); one undo step")
            self.quantise_actions.append(a)
        self.act_louder = act("Velocity +8", lambda: ed.change_velocity(8), "+")
        self.act_louder.setShortcuts([QKeySequence("+"), QKeySequence("="), QKeySequence("Shift+=")])
        self.act_softer = act("Velocity −8", lambda: ed.change_velocity(-8), "-")
        ed.sigSelectionChanged.connect(lambda _n: self._loop_toggled() if self.act_loop.isChecked() else None)
        self.act_audition = act("&Hear notes while editing",
                                lambda on: self.settings.setValue("edit/audition", bool(on)), checkable=True,
                                tip="Play a note when you click it or a key, add it or move it to another "
                                    "pitch (mixed into the playback while it runs)")
        ed.sigAudition.connect(self.audition_notes)
        self.timeline.sigKeyClicked.connect(lambda pitch: self.audition_notes([pitch], [AUDITION_VELOCITY]))
        self.edit_actions = (self.act_delete, self.act_left, self.act_right, self.act_up, self.act_down,
                             self.act_oct_up, self.act_oct_down, self.act_longer, self.act_shorter,
                             self.act_join, self.act_split, self.act_louder, self.act_softer)

        fm = mb.addMenu("&File")
        fm.addAction(self.act_open)
        self.recent_menu = fm.addMenu("Open &recent")
        fm.addSeparator()
        fm.addAction(self.act_export)
        fm.addAction(self.act_export_csv)
        fm.addAction(self.act_import)
        fm.addAction(self.act_save_audio)
        tempo_menu = fm.addMenu("MIDI &tempo")
        tempo_menu.addAction(self.act_tempo_auto)
        tempo_menu.addAction(self.act_tempo_fixed)
        fm.addSeparator()
        fm.addAction(self.act_quit)
        em = mb.addMenu("&Edit")
        em.addAction(self.act_undo)
        em.addAction(self.act_redo)
        em.addSeparator()
        em.addAction(self.act_select_all)
        em.addAction(self.act_next_note)
        em.addAction(self.act_prev_note)
        for a in self.edit_actions:
            em.addAction(a)
        em.addSeparator()
        for a in self.quantise_actions:
            em.addAction(a)
        em.addSeparator()
        em.addAction(self.act_audition)
        em.addSeparator()
        hint = QAction("Click: select · Shift/Ctrl+click: add to selection · drag a note: move · "
                       "drag a note's edge: resize · drag empty space: select · double-click: add note", self)
        hint.setEnabled(False)
        em.addAction(hint)
        vm = mb.addMenu("&View")
        for a in (self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_follow, self.act_pitch_spectrum):
            vm.addAction(a)
        vm.addSeparator()
        hint = QAction("Wheel: scroll · Ctrl+wheel: zoom · Shift+wheel: pitch · click: seek · "
                       "middle-drag: pan", self)
        hint.setEnabled(False)
        vm.addAction(hint)
        tm = mb.addMenu("&Transcribe")
        for a in (self.act_transcribe, self.act_cancel, self.act_live, self.act_play, self.act_loop):
            tm.addAction(a)
        listen = tm.addMenu("&Listen to")
        for a in self.mixer.actions:
            listen.addAction(a)
        speed_menu = tm.addMenu("Playback &speed")
        for a in self.speed.actions:
            speed_menu.addAction(a)
        speed_menu.addSeparator()
        speed_menu.addAction(self.speed.act_slower)
        speed_menu.addAction(self.speed.act_faster)
        hm = mb.addMenu("&Help")
        hm.addAction(self.act_shortcuts)
        hm.addAction(self.act_about)

        tb = QToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        for a in (self.act_open, self.act_transcribe, self.act_play):
            tb.addAction(a)
        tb.addAction(self.act_loop)
        tb.addWidget(self.speed.button)
        tb.addWidget(self.mixer.left_label)
        tb.addWidget(self.mixer.slider)
        tb.addWidget(self.mixer.right_label)
        tb.addAction(self.act_follow)
        tb.addSeparator()
        tb.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        for label, preset in MODELS:
            self.model_combo.addItem(label, preset)
        self.model_combo.setToolTip("PAR: the full model. PARcompact: smaller and faster, for live use.")
        tb.addWidget(self.model_combo)
        tb.addWidget(QLabel(" Look-ahead "))
        self.latency_combo = QComboBox()
        self.latency_combo.setToolTip("How far the model listens ahead before it decides (algorithmic "
                                      "latency). Only settings with installed weights are offered.")
        tb.addWidget(self.latency_combo)
        tb.addWidget(QLabel(" Sensitivity "))
        self.sensitivity_slider = QSlider(Qt.Horizontal)
        self.sensitivity_slider.setRange(-SENSITIVITY_STEPS, SENSITIVITY_STEPS)
        self.sensitivity_slider.setPageStep(4)
        self.sensitivity_slider.setFixedWidth(110)
        self.sensitivity_slider.setToolTip(
            "Note sensitivity. Left: fewer notes (fewer false notes, more missed ones); right: "
            "more notes. The middle is the model's calibration. The file is transcribed again "
            "when you let go; a live session uses the setting it started with.")
        tb.addWidget(self.sensitivity_slider)
        self.sensitivity_label = QLabel("")
        self.sensitivity_label.setMinimumWidth(40)
        tb.addWidget(self.sensitivity_label)
        self._sensitivity_timer = QTimer(self)
        self._sensitivity_timer.setSingleShot(True)
        self._sensitivity_timer.setInterval(400)  # debounce: re-transcribe once the slider rests
        self._sensitivity_timer.timeout.connect(self._apply_sensitivity)
        tb.addSeparator()
        tb.addAction(self.act_live)
        self.input_combo = QComboBox()
        self.input_combo.setToolTip("Live input: a microphone, or the open file played as live input")
        tb.addWidget(self.input_combo)
        tb.addSeparator()
        tb.addAction(self.act_export)
        for w in (self.model_combo, self.latency_combo, self.input_combo, self.sensitivity_slider):
            w.setFocusPolicy(Qt.ClickFocus)
        self.sensitivity_slider.valueChanged.connect(self._sensitivity_changed)
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.latency_combo.currentIndexChanged.connect(self._latency_changed)
        self._fill_inputs()

    def _fill_inputs(self) -> None:
        from .sources import input_devices

        self.input_combo.clear()
        self.input_combo.addItem("Open file as live input", ("file", None))
        for dev, name in input_devices():
            self.input_combo.addItem(f"Mic: {name}", ("mic", dev))

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1360, 860)
        preset = s.value("model/preset", "par")
        idx = max(0, self.model_combo.findData(preset))
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(idx)
        self.model_combo.blockSignals(False)
        self._fill_latencies(int(s.value("model/latency_ms", DEFAULT_LATENCY_MS)))
        self.act_follow.setChecked(s.value("view/follow", True) in (True, "true", 1, "1"))
        self.act_audition.setChecked(s.value("edit/audition", True) in (True, "true", 1, "1"))
        self.act_pitch_spectrum.setChecked(s.value("view/pitch_spectrum", True) in (True, "true", 1, "1"))
        self.timeline.pitch_img.setVisible(self.act_pitch_spectrum.isChecked())
        self._update_recent_menu()
        self._update_model_label()
        self._show_tempo_setting()
        try:
            sens = float(s.value("model/sensitivity", 0.0))
        except (TypeError, ValueError):
            sens = 0.0
        self.sensitivity_slider.blockSignals(True)
        self.sensitivity_slider.setValue(round(max(-1.0, min(1.0, sens)) * SENSITIVITY_STEPS))
        self.sensitivity_slider.blockSignals(False)
        self.sensitivity_label.setText(f"{self.sensitivity():+.2f}" if self.sensitivity() else "0")

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

    def recent_files(self) -> list[str]:
        v = self.settings.value("files/recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def _add_recent(self, path: str) -> None:
        items = [p for p in self.recent_files() if p != path]
        items.insert(0, path)
        self.settings.setValue("files/recent", items[:MAX_RECENT])
        self.settings.setValue("files/last_folder", str(Path(path).parent))
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_file(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ================================================================== model / latency
    def current_spec(self) -> ModelSpec:
        lat = self.latency_combo.currentData()
        return ModelSpec(self.model_combo.currentData(), int(lat or DEFAULT_LATENCY_MS), self.models_dir)

    def _fill_latencies(self, prefer: int | None = None) -> None:
        from ..model.checkpoint import available_latencies

        preset = self.model_combo.currentData()
        have = available_latencies(preset, self.models_dir)
        self.latency_combo.blockSignals(True)
        self.latency_combo.clear()
        if have:
            for ms in have:
                self.latency_combo.addItem(f"{ms} ms", ms)
            pick = prefer if prefer in have else (DEFAULT_LATENCY_MS if DEFAULT_LATENCY_MS in have else have[-1])
            self.latency_combo.setCurrentIndex(have.index(pick))
            self.latency_combo.setToolTip("Algorithmic look-ahead of the model; shorter reacts sooner, "
                                          "longer is more accurate. Only installed settings are listed.")
        else:
            self.latency_combo.addItem(f"{DEFAULT_LATENCY_MS} ms", DEFAULT_LATENCY_MS)
            self.latency_combo.setToolTip("No trained weights are installed for this model, so there is "
                                          "no look-ahead to choose.")
        self.latency_combo.blockSignals(False)
        self._has_weights = bool(have)

    def _model_changed(self) -> None:
        self.settings.setValue("model/preset", self.model_combo.currentData())
        self._fill_latencies(int(self.settings.value("model/latency_ms", DEFAULT_LATENCY_MS)))
        self._settings_changed()

    def _latency_changed(self) -> None:
        if self.latency_combo.currentData() is not None:
            self.settings.setValue("model/latency_ms", int(self.latency_combo.currentData()))
        self._settings_changed()

    def sensitivity(self) -> float:
        """Note sensitivity from the slider, −1..1 (0: as the model is calibrated)."""
        return self.sensitivity_slider.value() / SENSITIVITY_STEPS

    def _sensitivity_changed(self, _value=None) -> None:
        s = self.sensitivity()
        self.sensitivity_label.setText(f"{s:+.2f}" if s else "0")
        self.settings.setValue("model/sensitivity", s)
        self._sensitivity_timer.start()

    def _apply_sensitivity(self) -> None:
        if self._shut_down or self.loaded is None or self.live is not None or not self._has_weights:
            return
        if self.job is not None and self.job_kind == "transcribe":
            self._cancel_and_wait()
        self.transcribe()

    def _settings_changed(self) -> None:
        self._update_model_label()
        self._update_enabled()
        if self.loaded is not None and self.live is None and self.job is None:
            self.transcribe()

    def _update_model_label(self) -> None:
        spec = self.current_spec()
        label = self.model_combo.currentText()
        self.model_label.setText(f"{label} · {spec.latency_ms} ms" + ("" if self._has_weights else " (no weights)"))

    def _missing_weights_message(self, spec: ModelSpec) -> str | None:
        from ..model.checkpoint import resolve_model, shipped_path

        if shipped_path(spec.preset, spec.latency_ms, self.models_dir).exists():
            return None
        try:
            resolve_model(spec.preset, spec.latency_ms, models_dir=self.models_dir)
        except ParStudioError as exc:
            return str(exc)
        return None

    # ================================================================== enable / busy
    def busy(self) -> bool:
        return self.job is not None

    def _update_enabled(self) -> None:
        running = self.job is not None and self.job_kind in ("transcribe", "model")
        live = self.live is not None
        self.model_combo.setEnabled(not running and not live)
        self.latency_combo.setEnabled(not running and not live and self.latency_combo.count() > 1)
        self.input_combo.setEnabled(not live)
        self.sensitivity_slider.setEnabled(not live)  # a live session keeps the one it began with
        self.act_loop.setEnabled(not live)
        self.act_import.setEnabled(not live)
        self.act_transcribe.setEnabled(self.loaded is not None and not running and not live)
        self.act_cancel.setEnabled(self.job is not None)
        has_notes = len(self.notes) > 0
        self.act_export.setEnabled(has_notes)
        self.act_export_csv.setEnabled(has_notes)
        self.act_save_audio.setEnabled(not live and self.loaded is not None and self.is_live_recording())
        self.act_play.setEnabled(self.loaded is not None and not live)
        self.act_live.setChecked(live)
        self.act_live.setText("Stop live" if live else "Live")
        working = self.job is not None
        self.progress.setVisible(working)
        self.cancel_button.setVisible(working)
        self._update_edit_actions()

    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    def _update_edit_actions(self) -> None:
        live = self.live is not None
        self.editor.enabled = not live
        has_sel = len(self.editor.selection) > 0 and not live
        for a in self.edit_actions:
            a.setEnabled(has_sel)
        self.act_select_all.setEnabled(len(self.notes) > 0 and not live)
        self.act_next_note.setEnabled(len(self.notes) > 0 and not live)
        self.act_prev_note.setEnabled(len(self.notes) > 0 and not live)
        for a in self.quantise_actions:
            a.setEnabled(len(self.notes) > 0 and not live)

    def _set_info(self) -> None:
        if self.loaded is None:
            self.info_label.setText("")
            return
        text = f"{self.loaded.duration:.1f} s · {len(self.notes)} notes"
        notes, bpm = self._detected_tempo
        if notes is self.notes and bpm is not None and not self.export_tempo_setting():
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

    # ================================================================== jobs
    def _start(self, job, kind: str) -> None:
        thread = start_job(job, self)
        self.job, self.job_kind = (job, thread), kind
        job.done.connect(self._job_done)
        job.progress.connect(self._on_progress)
        self.progress.setValue(0)
        self.progress.setRange(0, 1000 if kind == "transcribe" else 0)
        self.progress.setFormat({"load": "Loading %p%", "transcribe": "Transcribing %p%",
                                 "model": "Loading model"}.get(kind, "%p%"))
        self._update_enabled()

    def _job_done(self) -> None:
        self._release(self.sender())

    def _release(self, job) -> None:
        """The job has produced its result: the GUI is no longer busy with it."""
        if self.job is not None and self.job[0] is job:
            self.job = None
            self.job_kind = ""
            self._update_enabled()
            self.sigIdle.emit()

    def _on_progress(self, frac: float) -> None:
        self.progress.setValue(int(1000 * frac))

    def cancel(self) -> None:
        if self.job is not None:
            self.job[0].cancel()
            self.statusBar().showMessage("Cancelling…", 3000)

    def _cancel_and_wait(self) -> None:
        if self.job is not None:
            stop_job(*self.job, timeout_ms=10000)
            self.job = None
            self.job_kind = ""
            self._update_enabled()

    # ================================================================== open
    def open_dialog(self) -> None:
        folder = self.settings.value("files/last_folder", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", str(folder), AUDIO_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path, transcribe: bool = True) -> None:
        """Load ``path`` in a worker; on success show it and (by default) transcribe it."""
        if self.live is not None:
            self._teardown_live(wait=True)
        self.player.stop()
        self.play_timer.stop()
        self._cancel_and_wait()
        job = LoadJob(str(path))
        job.auto_transcribe = transcribe
        job.error_title = "Cannot open this file"
        job.finished.connect(self._on_loaded)
        job.failed.connect(self._on_job_failed)
        self.statusBar().showMessage(f"Opening {Path(path).name}…")
        self._start(job, "load")

    def _on_job_failed(self, message: str) -> None:
        job = self.sender()
        self._release(job)
        self.show_error(message, getattr(job, "error_title", "PAR Studio"))

    def _on_job_cancelled(self) -> None:
        self._release(self.sender())
        self.statusBar().showMessage("Cancelled.", 5000)

    def _on_loaded(self, res: LoadedAudio) -> None:
        transcribe = getattr(self.sender(), "auto_transcribe", True)
        self._release(self.sender())
        self.session.begin(res.path)  # first: a pending autosave of the previous file is written
        self.loaded = res
        self.transcription = None
        self.notes = Notes()
        self.editor.reset()
        self.mixer.reset()
        self.speed.reset()
        self.timeline.set_notes(self.notes)
        self.timeline.set_provisional(Notes())
        self.timeline.set_lookahead(None)
        self.timeline.set_spectrogram(res.spectrogram)
        self.timeline.set_pitch_spectrogram(None)
        self._compute_pitch_spectrogram(res)  # beside the transcription; shown when ready
        self.timeline.set_extent(res.duration)
        self.timeline.fit(res.duration)
        self.timeline.set_playhead(0.0)
        name = Path(res.path).name
        self.setWindowTitle(f"{name}[*] — PAR Studio")
        if Path(res.path).resolve() != EXAMPLE.resolve():
            self._add_recent(res.path)
        self.statusBar().showMessage(f"Opened {name} ({res.duration:.1f} s)", 5000)
        self._set_info()
        self._update_enabled()
        self.sigLoaded.emit(res.path)
        if transcribe:
            QTimer.singleShot(0, self.transcribe)
        else:
            self.session.transcription_ready(self.notes)

    def open_example(self) -> None:
        if EXAMPLE.exists():
            self.open_file(str(EXAMPLE))

    def dragEnterEvent(self, ev):  # noqa: N802
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev):  # noqa: N802
        files = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if files:
            self.open_file(files[0])
            ev.acceptProposedAction()

    # ================================================================== transcribe
    def transcribe(self) -> None:
        if self._shut_down or self.loaded is None or self.live is not None:
            return
        if self.job is not None:
            if self.job_kind == "transcribe":
                return
            self._cancel_and_wait()
        spec = self.current_spec()
        missing = self._missing_weights_message(spec)
        if missing:
            self.show_banner(f"{missing}  The audio and its spectrogram are shown; notes need trained weights.")
            self.statusBar().showMessage("No trained weights for this model: showing the audio only.", 8000)
            self.session.transcription_ready(self.notes)
            self.sigTranscriptionSkipped.emit(missing)
            return
        self.show_banner(None)
        cached = self.model_cache.get(spec.key())
        kept = self.transcription.info.get("features") if self.transcription is not None else None
        if kept is not None and (self._features_for is not self.loaded or cached is None
                                 or kept.model is not cached[0]):
            kept = None
        job = TranscribeJob(self.loaded.audio, spec, *(cached or (None, None)), sensitivity=self.sensitivity(),
                            features=kept)
        job.model_ready.connect(self._cache_model)
        job.finished.connect(self._on_transcribed)
        job.error_title = "Transcription failed"
        job.failed.connect(self._on_job_failed)
        job.cancelled.connect(self._on_job_cancelled)
        self.statusBar().showMessage(f"Transcribing with {self.model_combo.currentText()} "
                                     f"({spec.latency_ms} ms)…")
        self._start(job, "transcribe")

    def _cache_model(self, item) -> None:
        spec, model, meta = item
        self.model_cache = {spec.key(): (model, meta)}  # keep one model in memory

    def _on_transcribed(self, res) -> None:
        self._release(self.sender())
        tr = res.transcription
        self.transcription = tr
        self._detected_tempo = (tr.notes, res.tempo)
        self._features_for = self.loaded  # the audio these acoustic features belong to
        if self.undo_stack.count():  # edits exist: replacing them is one undoable step
            self.editor.replace_all(tr.notes, "Transcribe again")
        else:
            self.set_notes(tr.notes)
        self.session.transcription_ready(tr.notes)
        rtf = res.seconds / max(tr.duration, 1e-9)
        self.statusBar().showMessage(
            f"{len(tr.notes)} notes in {res.seconds:.1f} s ({tr.model}, {tr.latency_ms} ms; "
            f"{rtf:.2f}× real time{'; decoder only' if tr.info.get('decoder_only') else ''})", 10000)
        self.sigTranscribed.emit(tr)

    def set_notes(self, notes: Notes) -> None:
        """Make ``notes`` the notes shown and exported (one object for both); new notes from
        outside (transcription, live), so the edit history starts afresh."""
        self.editor.reset()
        self.show_notes(notes)
        if self.loaded is not None and self.live is None:
            (x0, x1), _ = self.timeline.roll_vb.viewRange()
            self.timeline.fit(x1 - x0 if x0 > 0 else self.loaded.duration)
            if x0 > 0:
                self.timeline.roll_vb.setXRange(x0, x1, padding=0)

    def show_notes(self, notes: Notes) -> None:
        """Make ``notes`` the drawn and exported notes, keeping the view (edits use this)."""
        self.notes = notes
        self.timeline.set_notes(notes)
        self._light_keys(self.timeline.playhead())
        self._set_info()
        self._update_enabled()

    # ================================================================== export
    def export_dialog(self, kind: str) -> None:
        if not len(self.notes):
            self.statusBar().showMessage("Nothing to export yet: no notes.", 5000)
            return
        folder = Path(str(self.settings.value("files/export_folder", self.settings.value("files/last_folder", Path.home()))))
        stem = Path(self.loaded.path).stem if self.loaded else "transcription"
        filt = "MIDI files (*.mid *.midi)" if kind == "mid" else "CSV files (*.csv)"
        path, _ = QFileDialog.getSaveFileName(self, "Export MIDI" if kind == "mid" else "Export CSV",
                                              str(folder / f"{stem}.{kind}"), filt)
        if path:
            self.export(path)

    def export_tempo_setting(self) -> float:
        """The MIDI tempo setting: 0 = detect from the notes, else a fixed BPM."""
        try:
            return float(self.settings.value("export/tempo", 0.0))
        except (TypeError, ValueError):
            return 0.0

    def set_export_tempo(self, bpm: float) -> None:
        self.settings.setValue("export/tempo", float(bpm))
        self._show_tempo_setting()
        self._set_info()

    def ask_export_tempo(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        current = self.export_tempo_setting() or self.export_tempo()
        bpm, ok = QInputDialog.getDouble(self, "MIDI tempo", "Tempo written to exported MIDI files (BPM):",
                                         current, 20.0, 400.0, 1)
        if ok:
            self.set_export_tempo(bpm)
        else:
            self._show_tempo_setting()

    def _show_tempo_setting(self) -> None:
        fixed = self.export_tempo_setting()
        self.act_tempo_auto.setChecked(not fixed)
        self.act_tempo_fixed.setChecked(bool(fixed))
        self.act_tempo_fixed.setText(f"Fixed tempo: {fixed:g} BPM…" if fixed else "Fixed tempo…")

    def export_tempo(self) -> float:
        """The tempo (BPM) the next MIDI export writes: the fixed setting, or the tempo detected
        from the notes shown (cached per notes object; 120 when there are too few notes)."""
        from ..tempo import estimate_tempo

        fixed = self.export_tempo_setting()
        if fixed:
            return fixed
        notes, bpm = self._detected_tempo
        if notes is not self.notes:
            bpm = estimate_tempo(self.notes)
            self._detected_tempo = (self.notes, bpm)
        return bpm if bpm is not None else DEFAULT_TEMPO

    def import_dialog(self) -> None:
        folder = str(self.settings.value("files/export_folder", self.settings.value("files/last_folder", Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Import notes", folder,
                                              "Notes (*.mid *.midi *.csv);;All files (*)")
        if path:
            self.import_notes(path)

    def import_notes(self, path) -> bool:
        """Show the notes of a MIDI/CSV file instead of the current ones (one undoable step)."""
        from ..midi_io import read_notes

        if self.live is not None:
            return False
        try:
            notes = read_notes(path)
        except ParStudioError as exc:
            self.show_error(str(exc), "Import failed")
            return False
        self.editor.replace_all(notes.sorted(), f"Import {Path(path).name}")
        if self.loaded is None:
            self.timeline.set_extent(max(notes.end_time(), 1.0))
            self.timeline.fit(notes.end_time() or 1.0)
        self.statusBar().showMessage(f"Imported {len(notes)} notes from {path}", 8000)
        return True

    def export(self, path) -> Path | None:
        """Write the notes shown (``self.notes``) to ``path`` (.csv → CSV, else MIDI)."""
        from ..midi_io import write_csv, write_midi

        path = Path(path)
        try:
            if path.suffix.lower() == ".csv":
                out = write_csv(self.notes, path)
            else:
                if path.suffix.lower() not in (".mid", ".midi"):
                    path = path.with_suffix(".mid")
                tempo = self.export_tempo()
                out = write_midi(self.notes, path, tempo=tempo)
        except (ParStudioError, OSError, ValueError) as exc:
            self.show_error(str(exc) if isinstance(exc, ParStudioError) else
                            f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}", "Export failed")
            return None
        self.settings.setValue("files/export_folder", str(path.parent))
        self.undo_stack.setClean()
        self.session.mark_exported()
        at = "" if out.suffix.lower() == ".csv" else f" at {tempo:g} BPM"
        self.statusBar().showMessage(f"Exported {len(self.notes)} notes to {out}{at}", 8000)
        return out

    def is_live_recording(self) -> bool:
        """The audio shown comes from a live session (kept in the recordings folder, or only
        in memory)."""
        if self.loaded is None:
            return False
        p = Path(self.loaded.path)
        return self.loaded.path == LIVE_INPUT or p.parent.resolve() == self.recordings_dir.resolve()

    def save_recording_dialog(self) -> None:
        if self.loaded is None:
            return
        folder = self.settings.value("files/export_folder", str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(self, "Save recording", str(Path(folder) / "recording.flac"),
                                              "FLAC (*.flac);;WAV (*.wav)")
        if path:
            self.save_recording(path)

    def save_recording(self, path) -> Path | None:
        """Write the live recording (the audio shown) to ``path`` atomically (FLAC or WAV)."""
        from ..audio.io import write_audio

        try:
            out = write_audio(self.loaded.audio, path)
        except (OSError, RuntimeError, ValueError) as exc:
            self.show_error(f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}. "
                            "Choose another folder or free some disk space.", "Save failed")
            return None
        self.settings.setValue("files/export_folder", str(out.parent))
        self.statusBar().showMessage(f"Saved the recording ({self.loaded.duration:.1f} s) to {out}", 8000)
        return out

    # ================================================================== playback
    def toggle_play(self) -> None:
        if self.live is not None or self.loaded is None:
            return
        if self.player.playing:
            pos = self.player.stop()
            self.play_timer.stop()
            self.timeline.set_playhead(pos)
            self.act_play.setText("Play")
            self.act_play.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))
            return
        start = self.timeline.playhead()
        if start >= self.loaded.duration - 0.05:
            start = 0.0
        self.mixer.play_from(start)

    def _start_player(self, start: float, notes_audio=None, gains=(1.0, 0.0)) -> bool:
        """Play the source (mixed with ``notes_audio`` at ``gains``) from ``start`` s."""
        if self.loaded is None or self.live is not None:
            return False
        try:
            audio = self.speed.source()
            if audio is None:  # not slowed down yet: the mixer asks the speed controller first
                return False
            self.player.play(audio, start, notes_audio, gains, loop=self.loop_span(),
                             speed=self.speed.speed)
        except ParStudioError as exc:
            self.statusBar().showMessage(str(exc), 10000)
            self.last_error = str(exc)
            return False
        self._follow_paused = False
        self.act_play.setText("Pause")
        self.act_play.setIcon(self.style().standardIcon(QStyle.SP_MediaPause))
        self.play_timer.start()
        return True

    def _pitch_spectrum_toggled(self, on: bool) -> None:
        self.settings.setValue("view/pitch_spectrum", bool(on))
        self.timeline.pitch_img.setVisible(bool(on))

    def audition_notes(self, pitches, velocities) -> None:
        """Let the user hear these notes (a clicked note or key, a note added or moved to
        another pitch), unless Hear notes while editing is off or a live session runs."""
        if self._shut_down or self.live is not None or not self.act_audition.isChecked() or not len(pitches):
            return
        self.player.audition(audition_clip(pitches, velocities))

    def loop_span(self) -> tuple[float, float] | None:
        """The span Loop plays, in seconds: the selected notes with 100 ms either side, or the
        time range in view when nothing is selected; None while Loop is off."""
        if not self.act_loop.isChecked() or self.loaded is None:
            return None
        sel = self.editor.selection
        if len(sel):
            n = self.notes.take(sel)
            lo, hi = float(n.onset.min()) - LOOP_MARGIN_S, float(n.offset.max()) + LOOP_MARGIN_S
        else:
            (lo, hi), _ = self.timeline.roll_vb.viewRange()
        lo, hi = max(0.0, lo), min(self.loaded.duration, hi)
        return (lo, hi) if hi - lo >= 0.1 else None

    def _loop_toggled(self, on: bool = False) -> None:
        span = self.loop_span()
        self.timeline.set_loop(span)
        if self.player.playing:  # pick up the new span (or leave the loop) where we are
            self.mixer.play_from(self.player.position() if span is None else span[0])

    def _tick_playback(self) -> None:
        t = self.player.position()
        self.timeline.set_playhead(t)
        self._light_keys(t)
        if self.act_follow.isChecked() and not self._follow_paused:
            self.timeline.follow(t)
        if not self.player.playing:
            self.play_timer.stop()
            self.player.stop()
            self.act_play.setText("Play")
            self.act_play.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))

    def _light_keys(self, t: float) -> None:
        n = self.notes
        on = (n.onset <= t) & (n.offset > t)
        self.timeline.keyboard.set_active(n.pitch[on])

    def seek(self, t: float) -> None:
        if self.live is not None:
            return
        end = self.loaded.duration if self.loaded else 0.0
        t = float(np.clip(t, 0.0, end))
        self.timeline.set_playhead(t)
        self._light_keys(t)
        if self.player.playing:
            self.mixer.play_from(t)

    def _user_navigated(self) -> None:
        if self.player.playing or self.live is not None:
            self._follow_paused = True  # resumes on the next play / live start

    # ================================================================== live
    def toggle_live(self) -> None:
        if self.live is not None:
            self.stop_live()
        else:
            self.start_live()
        self._update_enabled()

    def start_live(self, source=None) -> None:
        """Start live transcription from ``source`` (default: the input chosen in the toolbar).

        ``source``: any object with start()/stop()/read()/dropped/exhausted (see :mod:`.sources`).
        """
        from . import sources

        if self.live is not None:
            return
        self.player.stop()
        self.play_timer.stop()
        self._cancel_and_wait()
        if source is None:
            kind, dev = self.input_combo.currentData() or ("file", None)
            try:
                if kind == "mic":
                    source = sources.microphone_source(dev)
                else:
                    source = sources.file_source(self.loaded.audio if self.loaded else str(EXAMPLE))
            except (ParStudioError, ImportError, OSError) as exc:
                self.act_live.setChecked(False)
                self.show_error(str(exc) if isinstance(exc, ParStudioError) else
                                f"Live input is not available: {exc}", "Cannot start live input")
                return
        source = sources.as_source(source)
        spec = self.current_spec()
        try:  # the input is recorded as it arrives: a crash keeps all but the last second
            recording = new_recording_path(self.recordings_dir)
            self._add_recent(str(recording))
        except OSError:
            recording = None
        missing = self._missing_weights_message(spec)
        self.live = {"source": source, "spec": spec, "state": "starting", "blocks": [], "parts": [],
                     "recording": recording,
                     "new": [], "sounding": Notes(), "frames": 0, "samples": 0, "pending": 0, "sent": 0,
                     "ticks": 0, "worker": None, "thread": None, "compute": 0.0, "model_name": ""}
        self._clear_for_live()  # the file's spectrogram and notes are not what is being heard
        self._update_enabled()
        if missing:
            self.show_banner(f"{missing}  Live view shows the spectrogram only.")
            self._begin_live(None, {})
            return
        self.show_banner(None)
        cached = self.model_cache.get(spec.key())
        if cached:
            self._begin_live(*cached)
            return
        job = ModelJob(spec)
        job.finished.connect(self._on_live_model_ready)
        job.failed.connect(self._on_live_model_failed)
        self._start(job, "model")

    def _on_live_model_ready(self, item) -> None:
        spec, model, meta = item
        self._release(self.sender())
        self._cache_model(item)
        if self.live is not None and self.live["state"] == "starting":
            self._begin_live(model, meta)

    def _on_live_model_failed(self, message: str) -> None:
        self._release(self.sender())
        if self.live is not None and self.live["state"] == "starting":
            self._teardown_live(wait=False)
            self._show_loaded()
        self.show_error(message, "Cannot load the model")

    def _on_live_notice(self, message: str) -> None:
        self.last_error = message
        self.statusBar().showMessage(message, 15000)

    def _on_live_failed(self, message: str) -> None:
        self.show_error(message, "Live transcription failed")
        self.stop_live()  # the worker takes no more audio: end the session with what it has

    def _clear_for_live(self) -> None:
        """Empty views for a live session: only what is heard from now on is drawn."""
        tl = self.timeline
        tl.begin_live_spectrogram(tl.spec_n_mels)
        tl.set_notes(Notes())
        tl.set_provisional(Notes())
        tl.set_lookahead(None)
        tl.set_playhead(0.0)
        tl.keyboard.set_active([])
        self.info_label.setText("")

    def _show_loaded(self) -> None:
        """Back to the open file's view (a live session that could not start)."""
        tl = self.timeline
        if self.loaded is None:
            tl.set_spectrogram(None)
            return
        tl.set_spectrogram(self.loaded.spectrogram)
        tl.set_extent(self.loaded.duration)
        tl.set_notes(self.notes)
        tl.fit(self.loaded.duration)
        self._set_info()

    def _begin_live(self, model, meta) -> None:
        lv = self.live
        worker = LiveWorker(model, self.sensitivity(), pitch_spectrum=self.act_pitch_spectrum.isChecked(),
                            record_to=lv.get("recording"))
        thread = QThread(self)
        thread.setObjectName("par-LiveWorker")
        worker.moveToThread(thread)
        thread.started.connect(worker.begin)
        self._sigLiveAudio.connect(worker.push)
        self._sigLiveFinish.connect(worker.finish)
        worker.update.connect(self._on_live_update)
        worker.finished.connect(self._on_live_finished)
        worker.failed.connect(self._on_live_failed)
        worker.notice.connect(self._on_live_notice)  # a bound method: queued to this thread
        lv.update(worker=worker, thread=thread, state="running", model=model,
                  model_name=self.model_combo.currentText() if model is not None else "no model")
        thread.start()
        self._clear_for_live()
        self.session.end()
        self.editor.reset()
        self.mixer.reset()
        self.speed.reset()
        self.notes = Notes()
        self.timeline.set_notes(self.notes)
        self.timeline.set_provisional(Notes())
        self.timeline.set_extent(3600.0)
        self.timeline.roll_vb.setXRange(-self.timeline.LIVE_WINDOW_S * 0.9, self.timeline.LIVE_WINDOW_S * 0.1,
                                        padding=0)
        self._follow_paused = False
        try:
            lv["source"].start()
        except Exception as exc:
            self._teardown_live(wait=True)
            self.show_error(str(exc) if isinstance(exc, ParStudioError) else f"Cannot open the input: {exc}",
                            "Cannot start live input")
            return
        lv["t_start"] = time.monotonic()
        self.drain_timer = QTimer(self)
        self.drain_timer.setInterval(10)
        self.drain_timer.timeout.connect(self._drain_live)
        self.drain_timer.start()
        self.display_timer = QTimer(self)
        self.display_timer.setInterval(33)
        self.display_timer.timeout.connect(self._refresh_live)
        self.display_timer.start()
        self.setWindowTitle("Live[*] — PAR Studio")
        self.statusBar().showMessage("Live: listening…")
        self._update_enabled()
        self.sigLiveStarted.emit()

    def _drain_live(self) -> None:
        lv = self.live
        if lv is None or lv["state"] != "running":
            return
        if lv["pending"] >= LIVE_MAX_IN_FLIGHT:
            return  # the worker is busy: the input waits in the source's ring buffer
        src = lv["source"]
        block = src.read(LIVE_MAX_BATCH)
        if len(block):
            lv["blocks"].append(block)
            lv["pending"] += 1
            lv["sent"] += len(block)
            self._sigLiveAudio.emit(block)
        elif getattr(src, "exhausted", False):
            self.stop_live()

    def _on_live_update(self, upd) -> None:
        lv = self.live
        if lv is None:
            return
        lv["pending"] = max(0, lv["pending"] - 1)
        self.timeline.append_spectrogram(upd.spec_t0, upd.spec_cols)
        self.timeline.append_pitch_spectrogram(upd.pitch_t0, upd.pitch_cols)
        if len(upd.finished):
            lv["new"].append(upd.finished)
        lv["sounding"] = upd.sounding
        lv["frames"] = max(lv["frames"], upd.frames_emitted)
        lv["samples"] = max(lv["samples"], upd.samples_pushed)
        lv["compute"] = 0.9 * lv["compute"] + 0.1 * upd.compute_s
        self.sigLiveProgress.emit(lv["samples"] / SAMPLE_RATE)

    def _refresh_live(self) -> None:
        """Display timer (30 Hz): repaint what changed since the last tick."""
        lv = self.live
        if lv is None:
            return
        lv["ticks"] += 1
        if lv["new"]:
            (x0, x1), _ = self.timeline.roll_vb.viewRange()
            self.timeline.set_notes_window(x0 - 2 * (x1 - x0))
            new = Notes.concat(lv["new"])
            lv["parts"].append(new)
            lv["new"] = []
            self.notes = Notes.concat(lv["parts"])
            self.timeline.append_notes(new, self.notes)
        now = lv["samples"] / SAMPLE_RATE
        decided = lv["frames"] * FRAME_SECONDS
        sounding = lv["sounding"]
        self.timeline.set_provisional(sounding)
        self.timeline.keyboard.set_active(sounding.pitch)
        if lv.get("model") is not None:
            self.timeline.set_lookahead(decided, max(decided, now))
        self.timeline.set_playhead(now)
        if self.act_follow.isChecked() and not self._follow_paused:
            self.timeline.follow(now, live=True)
        self.timeline.refresh_live_spectrogram()
        src = lv["source"]
        behind = self.live_backlog_ms()
        lat = lv["model"].latency_ms if lv.get("model") is not None else None
        self.live_label.setText(
            f"LIVE {lv['model_name']}" + (f" · latency {lat} ms" if lat else "")
            + f" · dropped blocks: {src.dropped}" + (f" · queue {behind:.0f} ms" if behind > 100 else ""))
        self.info_label.setText(f"{now:.1f} s · {len(self.notes)} notes")

    def stop_live(self) -> None:
        lv = self.live
        if lv is None or lv["state"] not in ("running", "starting"):
            return
        if lv["state"] == "starting" or lv["worker"] is None:
            self._teardown_live(wait=False)
            self._show_loaded()
            return
        lv["state"] = "finishing"
        self.drain_timer.stop()
        try:
            lv["source"].stop()
        except Exception:
            pass
        self.statusBar().showMessage("Live: finishing…")
        self._sigLiveFinish.emit()

    def _on_live_finished(self, result) -> None:
        lv = self.live
        if lv is None:
            return
        self._refresh_live()
        audio = np.concatenate(lv["blocks"]) if lv["blocks"] else np.zeros(1, np.float32)
        spec = np.ascontiguousarray(self.timeline.live_spectrogram())
        pitch = np.ascontiguousarray(self.timeline.live_pitch_spectrogram())
        self._teardown_live(wait=True)
        self.timeline.set_notes_window(None)
        rec = lv.get("recording")
        recorded = rec is not None and rec.exists() and rec.stat().st_size > 44
        self.loaded = LoadedAudio(str(rec) if recorded else LIVE_INPUT, audio, spec)
        if recorded:
            self.session.begin(rec)  # edits of the live result are autosaved against the recording
        self.timeline.set_spectrogram(spec)
        if pitch.shape[1] == spec.shape[1]:  # drawn live (Spectrum behind the notes was on)
            self.loaded.pitch_spectrogram = pitch
            self.timeline.set_pitch_spectrogram(pitch)
        else:
            self._compute_pitch_spectrogram(self.loaded)
        self.timeline.set_extent(self.loaded.duration)
        self.timeline.set_provisional(Notes())
        self.timeline.set_lookahead(None)
        self.transcription = result
        self.set_notes(result.notes if result is not None else self.notes)
        self.timeline.set_playhead(self.loaded.duration)
        self.setWindowTitle("Live recording[*] — PAR Studio")
        self.statusBar().showMessage(f"Live stopped: {len(self.notes)} notes in {self.loaded.duration:.1f} s. "
                                     "Export with Ctrl+E, or press Space to listen.", 10000)
        self.sigLiveStopped.emit(result)

    def _compute_pitch_spectrogram(self, loaded: LoadedAudio) -> None:
        """Compute the pitch spectrogram behind the roll in a worker, beside the main job (a
        transcription); shown if ``loaded`` is still the open audio when it ends.

        The job's signals go to this window's methods, so they run queued in the GUI thread
        (a plain function would run in the worker's thread), and the job is referenced until
        its ``done`` has been handled here."""
        if self._shut_down:
            return
        for older in self._side_jobs:  # for audio no longer shown: stop at its next chunk
            older.cancel()
        job = PitchSpectrumJob(loaded.audio)
        self._side_jobs[job] = loaded
        job.finished.connect(self._on_pitch_spectrum)
        job.failed.connect(self._on_side_job_failed)
        job.done.connect(self._on_side_job_done)
        start_job(job, self)

    def _on_pitch_spectrum(self, img) -> None:
        loaded = self._side_jobs.get(self.sender())
        if loaded is None:
            return
        loaded.pitch_spectrogram = img
        if self.loaded is loaded and self.live is None:
            self.timeline.set_pitch_spectrogram(img)
            self.sigPitchSpectrum.emit()

    def _on_side_job_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 5000)

    def _on_side_job_done(self) -> None:
        self._side_jobs.pop(self.sender(), None)

    def _teardown_live(self, wait: bool) -> None:
        lv = self.live
        if lv is None:
            return
        self.timeline.set_notes_window(None)
        for name in ("drain_timer", "display_timer"):
            t = getattr(self, name, None)
            if t is not None:
                t.stop()
        try:
            lv["source"].stop()
        except Exception:
            pass
        worker, thread = lv.get("worker"), lv.get("thread")
        if worker is not None:
            worker.abort()  # skip the blocks still queued: the join below is then quick
            for sig, slot in ((self._sigLiveAudio, worker.push), (self._sigLiveFinish, worker.finish)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        if thread is not None:
            thread.quit()
            if wait:
                thread.wait()  # never leave it running: see shutdown()
            if thread.isRunning():
                if worker is not None:  # let go of (and so delete) it only once the thread is gone
                    JobKeeper.of(self).keep(thread, worker)
                thread.finished.connect(thread.deleteLater)
            else:
                thread.deleteLater()  # (the worker, parentless, goes with its Python reference)
            if worker is not None and not thread.isRunning():
                worker.close_recording()  # a session torn down before finish(): header up to date
            if worker is not None and worker.prev_threads and not thread.isRunning():
                import torch

                torch.set_num_threads(worker.prev_threads)  # the live session's 1 thread
        self.live = None
        self.live_label.setText("")
        self._update_enabled()

    def live_backlog_ms(self) -> float:
        """Live input heard but not processed yet (sent to the worker, or waiting in the source)."""
        lv = self.live
        if lv is None:
            return 0.0
        waiting = int(getattr(lv["source"], "backlog", 0) or 0)
        return 1000.0 * (lv["sent"] - lv["samples"] + waiting) / SAMPLE_RATE

    def live_display_ticks(self) -> int:
        return self.live["ticks"] if self.live else 0

    # ================================================================== misc
    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(menu, action, keys) for every menu action that has a shortcut, in menu order: built
        from the actions themselves, so the list cannot drift from what the keys do."""
        rows = []

        def walk(menu, path):
            for a in menu.actions():
                if a.menu() is not None:
                    walk(a.menu(), f"{path} → {a.menu().title().replace('&', '')}")
                elif a.shortcuts():
                    keys = ", ".join(k.toString(QKeySequence.NativeText) for k in a.shortcuts())
                    rows.append((path, a.text().replace("&", ""), keys))

        for top in self.menuBar().actions():
            if top.menu() is not None:
                walk(top.menu(), top.menu().title().replace("&", ""))
        return rows

    def show_shortcuts(self) -> None:
        from html import escape

        rows = "".join(f"<tr><td>{escape(m)}</td><td>{escape(a)}</td><td><b>{escape(k)}</b></td></tr>"
                       for m, a, k in self.shortcut_rows())
        mouse = ("Click a note: select (Shift/Ctrl+click adds) · drag a note: move · drag its edge: "
                 "resize · drag empty space: select · double-click: add a note · click a key or a "
                 "note: hear it · velocity lane: click a stem to select, drag it to change the "
                 "velocity · wheel: scroll · Ctrl+wheel: zoom · Shift+wheel: pitch · middle-drag: pan")
        box = QMessageBox(QMessageBox.NoIcon, "Keyboard shortcuts",
                          f"<table cellspacing=6>{rows}</table><p>{escape(mouse)}</p>", QMessageBox.Close, self)
        box.setTextFormat(Qt.RichText)
        box.setWindowModality(Qt.NonModal)
        box.open()
        self._shortcuts_box = box

    def about(self) -> None:
        QMessageBox.about(self, "About PAR Studio",
                          f"<b>PAR Studio {__version__}</b><br>Piano transcription with PAR autoregressive "
                          "models, from files and live input.<br><br>Example recording: J. S. Bach, Prelude in "
                          "C major BWV 846 (public domain), rendered with FluidR3_GM (MIT).")


def make_settings(path: str | None = None) -> QSettings:
    """QSettings in the organisation/app scope, or in an INI file at ``path`` (tests, screenshots)."""
    if path:
        return QSettings(str(path), QSettings.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def ensure_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    theme.apply_dark_theme(app)
    return app
