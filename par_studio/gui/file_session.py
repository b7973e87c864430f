"""File session of the main window: open a recording, transcribe it (at the piano tuning the
toolbar asks for: measured, set or off; with the hall reverb reduced first if the Transcribe
menu asks for it), show its notes.

Also the job slot every long task goes through (load, transcribe, load a model): one main job
at a time (``self.job``), plus side jobs (the pitch spectrogram) beside it.
A mixin of :class:`~.main_window.MainWindow`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QLabel

from ..engine.progress import ProgressClock, format_left
from ..notes import Notes
from .workers import LoadedAudio, LoadJob, PitchSpectrumJob, TranscribeJob, start_job, stop_job

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
EXAMPLE = RESOURCES / "example.flac"
AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.oga *.opus *.mp3 *.aif *.aiff *.m4a *.au);;All files (*)"


def tuning_note(tuning) -> str:
    """The status message's words for a tuning that was corrected ("; piano at A4 = 449.0 Hz
    (+35 cents), brought to A440"); nothing when the audio was transcribed as it is."""
    if tuning is None or not tuning.corrects:
        return ""
    at = "piano at" if tuning.source == "measured" else "piano set to"
    return f"; {at} A4 = {tuning.a4_hz:.1f} Hz ({tuning.cents:+.0f} cents), brought to A440"


def checked_note(checked: dict | None) -> str:
    """The status message's words for the note verifier ("; 412 of 540 proposed notes kept");
    nothing when the model has none or it was not used."""
    if not checked:
        return ""
    return f"; {checked['kept']} of {checked['proposed']} proposed notes kept by the note check"


class EmptyHint(QLabel):
    """What to do first, centred over the empty roll (hidden once there is audio or live input)."""

    def __init__(self, parent):
        super().__init__("<p style='font-size:15pt'>Open a recording (Ctrl+O) or drop an audio file here</p>"
                         "<p>or press <b>Live</b> (Ctrl+L) to transcribe a microphone as you play</p>", parent)
        self.setAlignment(Qt.AlignCenter)
        self.setTextFormat(Qt.RichText)
        self.setStyleSheet("color:#c9cdd6; background: rgba(27,29,34,215); border: 1px dashed #59606e;"
                           "border-radius: 8px; padding: 18px 28px;")
        self.setAttribute(Qt.WA_TransparentForMouseEvents)  # drops and clicks reach the window
        parent.installEventFilter(self)
        self._place()

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        if ev.type() == QEvent.Resize:
            self._place()
        return False

    def _place(self) -> None:
        self.adjustSize()
        p = self.parentWidget()
        self.move(max(0, (p.width() - self.width()) // 2), max(0, (p.height() - self.height()) // 2))


class FileSessionMixin:
    """Open → transcribe → show; the job slot."""

    def _start(self, job, kind: str) -> None:
        thread = start_job(job, self)
        self.job, self.job_kind = (job, thread), kind
        job.done.connect(self._job_done)
        job.progress.connect(self._on_progress)
        self._progress_clock = ProgressClock()
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
        """From the engine as the decoder goes (every 0.1 s of work): the bar and the time left.
        With the hall reverb reduced, its first DEREVERB_SHARE is the dereverberation (reported
        after each block of par_studio.dereverb.BLOCK_SECONDS) and says so."""
        self.progress.setValue(int(1000 * frac))
        if self.job_kind == "transcribe":
            left = format_left(self._progress_clock.update(frac))
            doing = "Transcribing"
            if getattr(self.job[0], "reduces_reverb", False):
                from ..engine.offline import DEREVERB_SHARE  # loaded by the job already

                if frac < DEREVERB_SHARE:
                    doing = "Reducing reverb"
            self.progress.setFormat(f"{doing} %p%" + (f" · {left}" if left else ""))

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
        self.candidates.set_transcription(None)
        self._show_measured_tuning(None)  # measured again when this file is transcribed
        self.notes = Notes()
        self.editor.reset()
        self.mixer.reset()
        self.speed.reset()
        self.timeline.set_notes(self.notes)
        self.timeline.set_provisional(Notes())
        self.timeline.set_lookahead(None)
        self.timeline.set_spectrogram(res.spectrogram)
        self.timeline.set_pitch_spectrogram(None)
        # beside the transcription, at the piano's tuning it is transcribed at; shown when ready
        self._compute_pitch_spectrogram(res, self._pitch_cents_for(res))
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
        # the job runs the decoder alone only on features that serve the tuning and reverb
        # setting asked for (AcousticFeatures.serves)
        job = TranscribeJob(self.loaded.audio, spec, *(cached or (None, None)), sensitivity=self.sensitivity(),
                            features=kept, threads=self.cpu_threads(), tuning=self.tuning_setting(),
                            dereverb=self.dereverb_setting())
        job.model_ready.connect(self._cache_model)
        job.finished.connect(self._on_transcribed)
        job.error_title = "Transcription failed"
        job.failed.connect(self._on_job_failed)
        job.cancelled.connect(self._on_job_cancelled)
        self.statusBar().showMessage(f"Transcribing with {self.model_combo.currentText()} "
                                     f"({spec.latency_ms} ms)"
                                     + (", reducing the hall reverb first" if job.reduces_reverb else "") + "…")
        self._start(job, "transcribe")
        if job.reduces_reverb:  # the bar first moves when the first block is dereverberated
            self.progress.setFormat("Reducing reverb %p%")

    def _cache_model(self, item) -> None:
        spec, model, meta = item
        self.model_cache = {spec.key(): (model, meta)}  # keep one model in memory

    def _on_transcribed(self, res) -> None:
        self._release(self.sender())
        tr = res.transcription
        self.transcription = tr
        self._detected_tempo = (tr.notes, res.tempo)
        self.on_meter_detected(tr.notes, getattr(res, "meter", None))  # beat grid (score_actions.py)
        self._tempo_for = self.loaded  # shown while this audio is open, edits or not
        self._features_for = self.loaded  # the audio these acoustic features belong to
        if self.undo_stack.count():  # edits exist: replacing them is one undoable step
            self.editor.replace_all(tr.notes, "Transcribe again")
        else:
            self.set_notes(tr.notes)
        self.candidates.set_transcription(tr)
        self.session.transcription_ready(tr.notes)
        tuning = getattr(tr, "tuning", None)
        if tuning is not None and tuning.source == "measured":
            self._show_measured_tuning(tuning)
        rtf = res.seconds / max(tr.duration, 1e-9)
        self.statusBar().showMessage(
            f"{len(tr.notes)} notes in {res.seconds:.1f} s ({tr.model}, {tr.latency_ms} ms; "
            f"{rtf:.2f}× real time{'; decoder only' if tr.info.get('decoder_only') else ''})"
            + tuning_note(tuning) + ("; hall reverb reduced" if getattr(tr, "dereverb", False) else "")
            + checked_note(tr.info.get("verifier")), 10000)
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

    def _compute_pitch_spectrogram(self, loaded: LoadedAudio, cents: float | None = 0.0,
                                   unless_cents: float | None = None) -> None:
        """Compute the pitch spectrogram behind the roll in a worker, beside the main job (a
        transcription); shown if ``loaded`` is still the open audio when it ends. Its rows
        follow a piano ``cents`` from A440 (0, the default: A440, as live; None: the tuning
        measured in the worker, as Auto transcribes). ``unless_cents``: the tuning of the
        image shown, not computed again when the measured one is the same.

        The job's signals go to this window's methods, so they run queued in the GUI thread
        (a plain function would run in the worker's thread), and the job is referenced until
        its ``done`` has been handled here."""
        if self._shut_down:
            return
        for older in self._side_jobs:  # for audio no longer shown, or at another tuning: stop
            older.cancel()              # at its next chunk, and its result is not shown
        job = PitchSpectrumJob(loaded.audio, cents, unless_cents)
        self._side_jobs[job] = loaded
        job.finished.connect(self._on_pitch_spectrum)
        job.failed.connect(self._on_side_job_failed)
        job.done.connect(self._on_side_job_done)
        start_job(job, self)

    def _pitch_cents_for(self, loaded: LoadedAudio) -> float | None:
        """The tuning (cents) the pitch spectrogram of ``loaded`` follows at the tuning setting:
        the one the transcription corrects (:attr:`Tuning.applied_cents`: 0 below 2 cents);
        None for Auto when ``loaded`` was not measured yet (the pitch job measures it)."""
        setting = self.tuning_setting()
        return setting.applied_cents if setting is not None else loaded.measured_cents

    def _pitch_spectrogram_follows_tuning(self) -> None:
        """The tuning setting changed: the open file's pitch spectrogram is computed again at
        the new tuning, unless it is already at that tuning (a job at the old one is stopped).
        A live session's stays at A440 (the picker is disabled then)."""
        loaded = self.loaded
        if self._shut_down or loaded is None or self.live is not None:
            return
        cents = self._pitch_cents_for(loaded)
        shown = loaded.pitch_cents if loaded.pitch_spectrogram is not None else None
        running = [j for j, a in self._side_jobs.items() if a is loaded and not j.is_cancelled()]
        if cents is not None and cents == shown:
            for job in running:  # at a tuning since left (Auto → off → Auto while it ran)
                job.cancel()
            return
        self._compute_pitch_spectrogram(loaded, cents, unless_cents=shown)

    def _on_pitch_spectrum(self, res) -> None:
        job = self.sender()
        loaded = self._side_jobs.get(job)
        if loaded is None:
            return
        if res.measured_cents is not None:
            loaded.measured_cents = res.measured_cents
        if job.is_cancelled() or res.image is None:  # replaced (finished before it was stopped)
            return
        loaded.pitch_spectrogram = res.image
        loaded.pitch_cents = res.cents
        if self.loaded is loaded and self.live is None:
            self.timeline.set_pitch_spectrogram(res.image)
            self.sigPitchSpectrum.emit()

    def _on_side_job_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 5000)

    def _on_side_job_done(self) -> None:
        self._side_jobs.pop(self.sender(), None)
