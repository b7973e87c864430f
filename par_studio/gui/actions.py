"""Actions and menus of the main window, and the help dialogs.

Every command is a :class:`QAction` made with :meth:`ActionsMixin._act` (text, slot, shortcut,
icon, tip), so its shortcut works everywhere in the window and appears in the F1 list by itself.
To add a command: make its action in :meth:`_build_actions` (or in a ``_build_*_actions`` method of
your own module, called from there), put it in a menu in :meth:`_build_menus` (each menu has its
own block below) and, if it belongs on the toolbar, in :mod:`.toolbar`. Enable/disable it in
:meth:`_update_enabled`. A mixin of :class:`~.main_window.MainWindow`.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QStyle

from .. import __version__
from .settings import DEREVERB_TIP

AUDITION_VELOCITY = 80  #: velocity of a key clicked on the keyboard


class ActionsMixin:
    """The window's actions, its menu bar, enabling, and Help."""

    def _act(self, text, slot, shortcut=None, icon=None, checkable=False, tip=None) -> QAction:
        """A window-wide action: ``shortcut`` (str or QKeySequence), ``icon`` (QStyle.StandardPixmap)."""
        a = QAction(text, self)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.setCheckable(checkable)
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        act = self._act
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
        self.act_dereverb = act("Reduce hall &reverb", self._dereverb_toggled, checkable=True, tip=DEREVERB_TIP)
        self.act_dereverb.setToolTip(f"<p>{escape(DEREVERB_TIP)}</p>")  # rich text: wrapped, not one long line
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
        self._build_edit_actions()

    def _build_edit_actions(self) -> None:
        """Editing (keys act on the selected notes of the roll)."""
        act = self._act
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts([QKeySequence.Undo])
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for a in (self.act_undo, self.act_redo):
            self.addAction(a)
        ed = self.editor
        self.act_delete = act("&Delete notes", self._delete_or_reject, QKeySequence.Delete,
                              tip="Delete the selected notes, or reject the focused candidate (Delete)")
        self.act_delete.setShortcuts([QKeySequence.Delete, QKeySequence("Backspace")])
        self.act_select_all = act("Select &all notes", ed.select_all, QKeySequence.SelectAll)
        self.act_next_note = act("Next note", lambda: self._step_note(1), "Tab",
                                 tip="Select the next note in time (from the playhead when nothing is "
                                     "selected), show it and play it (Tab)")
        self.act_prev_note = act("Previous note", lambda: self._step_note(-1), "Shift+Tab",
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
        self._build_candidate_actions()
        self.edit_actions = (self.act_delete, self.act_left, self.act_right, self.act_up, self.act_down,
                             self.act_oct_up, self.act_oct_down, self.act_longer, self.act_shorter,
                             self.act_join, self.act_split, self.act_louder, self.act_softer)

    def _build_candidate_actions(self) -> None:
        act, cand = self._act, self.candidates
        self.act_next_candidate = act("Next candidate", lambda: cand.step(1), "N",
                                      tip="Show and play the next candidate note (ghost note) in time (N)")
        self.act_prev_candidate = act("Previous candidate", lambda: cand.step(-1), "Shift+N",
                                      tip="Show and play the previous candidate note (Shift+N)")
        self.act_accept_candidate = act("Accept candidate", cand.accept_focused, "Return",
                                        tip="Make the focused candidate a note: one undo step (Enter; "
                                            "or click the ghost note)")
        self.act_accept_candidate.setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])
        self.act_accept_all_candidates = act("Accept all candidates shown", cand.accept_all,
                                             tip="Make every candidate shown a note (one undo step)")
        self.candidate_actions = (self.act_next_candidate, self.act_prev_candidate,
                                  self.act_accept_candidate, self.act_accept_all_candidates)

    def _step_note(self, direction: int) -> None:
        """Tab / Shift+Tab: the next / previous note; the roll takes the keyboard from there (the
        arrows then move that note, not a slider that had the focus). While typing in the
        inspector they move to its next / previous field instead."""
        if self.inspector.step_field(direction):
            return
        self.timeline.setFocus(Qt.TabFocusReason)
        self.editor.select_step(direction, self.timeline.playhead())

    def _delete_or_reject(self) -> None:
        if self.candidates.focus >= 0:
            self.candidates.reject_focused()
        else:
            self.editor.delete_selected()

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        mb = self.menuBar()
        # File
        fm = self.file_menu = mb.addMenu("&File")
        fm.addAction(self.act_open)
        self.recent_menu = fm.addMenu("Open &recent")
        fm.addSeparator()
        fm.addAction(self.act_export)
        fm.addAction(self.act_export_csv)
        fm.addAction(self.act_import)
        fm.addAction(self.act_save_audio)
        tempo_menu = self.tempo_menu = fm.addMenu("MIDI &tempo")
        tempo_menu.addAction(self.act_tempo_auto)
        tempo_menu.addAction(self.act_tempo_fixed)
        fm.addSeparator()
        fm.addAction(self.act_quit)
        # Edit
        em = self.edit_menu = mb.addMenu("&Edit")
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
        cm = self.candidates_menu = em.addMenu("&Candidate notes")
        for a in self.candidate_actions:
            cm.addAction(a)
        hint = QAction("Delete: reject the focused candidate · the Candidates slider sets how many show", self)
        hint.setEnabled(False)
        cm.addAction(hint)
        em.addSeparator()
        em.addAction(self.act_audition)
        em.addSeparator()
        hint = QAction("Click: select · Shift/Ctrl+click: add to selection · drag a note: move · "
                       "drag a note's edge: resize · drag empty space: select · double-click: add note", self)
        hint.setEnabled(False)
        em.addAction(hint)
        # View
        vm = self.view_menu = mb.addMenu("&View")
        for a in (self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_follow, self.act_pitch_spectrum):
            vm.addAction(a)
        vm.addSeparator()
        hint = QAction("Wheel: scroll · Ctrl+wheel: zoom · Shift+wheel: pitch · click: seek · "
                       "middle-drag: pan", self)
        hint.setEnabled(False)
        vm.addAction(hint)
        # Transcribe
        tm = self.transcribe_menu = mb.addMenu("&Transcribe")
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
        tm.addSeparator()  # how the file is transcribed (CPU threads follow, settings.py)
        tm.addAction(self.act_dereverb)
        tm.setToolTipsVisible(True)  # the reverb option's tip says when it helps
        # Help
        hm = self.help_menu = mb.addMenu("&Help")
        hm.addAction(self.act_shortcuts)
        hm.addAction(self.act_about)

    # ------------------------------------------------------------------ enabling
    def _update_enabled(self) -> None:
        running = self.job is not None and self.job_kind in ("transcribe", "model")
        live = self.live is not None
        self.model_combo.setEnabled(not running and not live)
        self.latency_combo.setEnabled(not running and not live and self.latency_combo.count() > 1)
        self.input_combo.setEnabled(not live)
        self.sensitivity_slider.setEnabled(not live)  # a live session keeps the one it began with
        self.tuning_combo.setEnabled(not live)  # a live session keeps the tuning it began with
        self.act_dereverb.setEnabled(not live)  # ... and not dereverberated
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
        self.empty_hint.setVisible(self.loaded is None and not live and not len(self.notes))
        working = self.job is not None
        self.progress.setVisible(working)
        self.cancel_button.setVisible(working)
        self._update_edit_actions()

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
        focused = self.candidates.focus >= 0 and not live
        self.act_delete.setEnabled(has_sel or focused)
        self.act_accept_candidate.setEnabled(focused)
        for a in (self.act_next_candidate, self.act_prev_candidate, self.act_accept_all_candidates):
            a.setEnabled(len(self.candidates.shown) > 0 and not live)

    # ------------------------------------------------------------------ help
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
        """The F1 list in a scrolling dialog that fits the screen (at most 80 % of its height)."""
        from html import escape

        from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout

        rows = "".join(f"<tr><td>{escape(m)}</td><td>{escape(a)}</td><td><b>{escape(k)}</b></td></tr>"
                       for m, a, k in self.shortcut_rows())
        mouse = ("Click a note: select (Shift/Ctrl+click adds) · drag a note: move · drag its edge: "
                 "resize · drag empty space: select · double-click: add a note · click a ghost "
                 "(candidate) note: accept it · click a key or a note: hear it · velocity lane: click a "
                 "stem to select, drag it to change the velocity · wheel: scroll · Ctrl+wheel: zoom · "
                 "Shift+wheel: pitch · middle-drag: pan")
        box = QDialog(self)
        box.setWindowTitle("Keyboard shortcuts")
        label = QLabel(f"<table cellspacing=6>{rows}</table><p>{escape(mouse)}</p>")
        label.setTextFormat(Qt.RichText)
        label.setWordWrap(True)
        label.setMargin(8)
        scroll = QScrollArea()
        scroll.setWidget(label)
        scroll.setWidgetResizable(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(box.close)
        lay = QVBoxLayout(box)
        lay.addWidget(scroll)
        lay.addWidget(buttons)
        screen = self.screen().availableGeometry() if self.screen() else None
        max_h = int(0.8 * screen.height()) if screen is not None else 700
        box.resize(min(720, label.sizeHint().width() + 40), min(max_h, label.sizeHint().height() + 80))
        box.setWindowModality(Qt.NonModal)
        box.show()
        self._shortcuts_box = box

    def about(self) -> None:
        QMessageBox.about(self, "About PAR Studio",
                          f"<b>PAR Studio {__version__}</b><br>Piano transcription with PAR autoregressive "
                          "models, from files and live input.<br><br>Example recording: J. S. Bach, Prelude in "
                          "C major BWV 846 (public domain), rendered with FluidR3_GM (MIT).")
