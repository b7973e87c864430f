"""Live session of the main window: a microphone (or a file played in real time) → live roll.

The input is read by the GUI thread from the source's ring buffer (``_drain_live``) and sent to
the :class:`~.workers.LiveWorker` thread through a queued signal; results come back as signals
and are drawn by a 30 Hz display timer (``_refresh_live``). When the take stops, the worker
refines its velocities from the take's audio (kept here as it is sent, float32: 230 MB per
hour) as an offline transcription refines the same frames (:mod:`par_studio.engine.take`)
before the result comes back; what is drawn then is what is exported. A mixin of
:class:`~.main_window.MainWindow`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QThread, QTimer

from ..audio.recorder import new_recording_path
from ..constants import FRAME_SECONDS, SAMPLE_RATE
from ..errors import ParStudioError
from ..notes import Notes
from .export import LIVE_INPUT
from .file_session import EXAMPLE, tuning_note
from .workers import JobKeeper, LiveWorker, LoadedAudio, ModelJob

#: live: audio blocks on their way to the worker at most; beyond that the input waits in the
#: source's ring buffer (bounded; a full ring counts dropped blocks) instead of piling up,
#: unbounded, in the worker thread's event queue
LIVE_MAX_IN_FLIGHT = 2
LIVE_MAX_BATCH = 8192  #: samples sent to the worker at once at most (0.5 s: it catches up in big steps)


class LiveSessionMixin:
    """Start, run and stop a live session."""

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
                    # the file itself (its own rate and channels, recorded as such), else the audio
                    if self.loaded is not None and Path(self.loaded.path).is_file():
                        source = sources.file_source(self.loaded.path)
                    else:
                        source = sources.file_source(self.loaded.audio if self.loaded else str(EXAMPLE))
            except (ParStudioError, ImportError, OSError) as exc:
                self.act_live.setChecked(False)
                self.show_error(str(exc) if isinstance(exc, ParStudioError) else
                                f"Live input is not available: {exc}", "Cannot start live input")
                return
        source = sources.as_source(source)
        spec = self.current_spec()
        raw = getattr(source, "raw_format", lambda: None)()  # the device's own (rate, channels)
        if raw is not None:
            source.keep_raw()
        try:  # the input is recorded as it arrives: a crash keeps all but the last second
            recording = new_recording_path(self.recordings_dir)
            self._add_recent(str(recording))
        except OSError:
            recording = None
        missing = self._missing_weights_message(spec)
        self.live = {"source": source, "spec": spec, "state": "starting", "blocks": [], "parts": [],
                     "recording": recording, "raw_format": raw,
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
        rate, channels = lv.get("raw_format") or (SAMPLE_RATE, 1)
        # a tuning the user set applies to live input too (Auto cannot measure ahead: as it is)
        setting = self.tuning_setting()
        tuning = setting if setting is not None and setting.source == "set" and setting.corrects else None
        lv["tuning"] = tuning
        worker = LiveWorker(model, self.sensitivity(), pitch_spectrum=self.act_pitch_spectrum.isChecked(),
                            record_to=lv.get("recording"), record_rate=rate, record_channels=channels,
                            tuning=tuning)
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
        self.candidates.set_transcription(None)
        self.timeline.roll_vb.setLimits(xMin=0.0)  # no negative seconds, even when panned
        self.timeline.roll_vb.setXRange(0.0, self.timeline.LIVE_WINDOW_S, padding=0)
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
        self.statusBar().showMessage(f"Live: listening{tuning_note(self.live.get('tuning'))}…")
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
            # the model's 16 kHz mono and, for the recording, the same audio as the device gave it
            self._sigLiveAudio.emit(block if lv.get("raw_format") is None else (block, src.take_raw()))
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
        if lv.get("raw_format") is not None:  # frames read but not yet sent (the resampler's tail)
            rest = lv["source"].take_raw()
            if rest is not None and len(rest):
                self._sigLiveAudio.emit((np.zeros(0, np.float32), rest))
        # the take's input, for its velocities to be refined from the whole take (in the worker's
        # thread, engine/take.py) and then for playing and saving it: kept as one array from here
        audio = np.concatenate(lv["blocks"]) if lv["blocks"] else None
        lv["blocks"] = [] if audio is None else [audio]
        self.statusBar().showMessage("Live: finishing…")
        self._sigLiveFinish.emit(audio)

    def _on_live_finished(self, result) -> None:
        lv = self.live
        if lv is None:
            return
        self._refresh_live()
        blocks = lv["blocks"]  # one array since stop_live
        audio = blocks[0] if len(blocks) == 1 else np.concatenate(blocks) if blocks else np.zeros(1, np.float32)
        spec = np.ascontiguousarray(self.timeline.live_spectrogram())
        pitch = np.ascontiguousarray(self.timeline.live_pitch_spectrogram())
        worker = lv.get("worker")
        self._teardown_live(wait=True)
        self.timeline.set_notes_window(None)
        rec = lv.get("recording")
        if rec is not None and worker is not None and worker.recorded_path not in (None, rec):
            rec = worker.recorded_path  # converted to FLAC at the end of the session
            self._replace_recent(str(lv["recording"]), str(rec))
        recorded = rec is not None and rec.exists() and rec.stat().st_size > 44
        self.loaded = LoadedAudio(str(rec) if recorded else LIVE_INPUT, audio, spec)
        if recorded:
            self.session.begin(rec)  # edits of the live result are autosaved against the recording
        self.timeline.set_spectrogram(spec)
        cents = lv["tuning"].applied_cents if lv.get("tuning") is not None else 0.0
        if pitch.shape[1] == spec.shape[1]:  # drawn live (Spectrum behind the notes was on)
            self.loaded.pitch_spectrogram = pitch
            self.loaded.pitch_cents = cents  # the rows followed the live session's tuning
            self.timeline.set_pitch_spectrogram(pitch)
        else:
            self._compute_pitch_spectrogram(self.loaded, cents)
        self.timeline.set_extent(self.loaded.duration)
        self.timeline.set_provisional(Notes())
        self.timeline.set_lookahead(None)
        self.transcription = result
        self.set_notes(result.notes if result is not None else self.notes)
        self.candidates.set_transcription(result)
        self.timeline.set_playhead(self.loaded.duration)
        self.setWindowTitle("Live recording[*] — PAR Studio")
        refined = " (velocities refined from the whole take)" if getattr(result, "velocity_refined", False) else ""
        self.statusBar().showMessage(f"Live stopped: {len(self.notes)} notes in {self.loaded.duration:.1f} s"
                                     f"{refined}. Export with Ctrl+E, or press Space to listen.", 10000)
        self.sigLiveStopped.emit(result)

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
        self.timeline.roll_vb.setLimits(xMin=-2.0)  # a file's view keeps its small left margin
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
