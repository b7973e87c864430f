"""Worker objects that run in QThreads and talk to the GUI only through signals.

* :class:`LoadJob` – decode an audio file and compute its display spectrogram;
  :class:`PitchSpectrumJob` – the pitch spectrogram behind the roll, beside the transcription
  (librosa's CQT costs seconds of imports on first use, so the file is shown without waiting),
  at the piano's tuning (measured there when the setting is Auto).
* :class:`TranscribeJob` – load the chosen model (unless the GUI passes its cached one) and run
  the offline engine with progress and cancel (``should_cancel`` polls a threading.Event), at
  the piano tuning the user chose (measured, set, or off: see :mod:`par_studio.tuning`), with
  the hall reverb reduced first if asked (:mod:`par_studio.dereverb`).
* :class:`LiveWorker` – lives in its own thread for a live session: receives audio blocks via
  a queued signal, pushes them to the streaming engine and the display spectrogram, and emits
  what is new; at the end, the take's velocities refined from its audio.

:func:`start_job` moves a job to a fresh QThread, starts it and cleans up when it ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..constants import SAMPLE_RATE, WINDOW_HALF
from ..errors import ParStudioError
from ..logfile import log_exception
from ..notes import Notes


def _plain(exc: BaseException) -> str:
    """User-facing message: ParStudioError's own words, else a short plain sentence."""
    if isinstance(exc, ParStudioError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Not enough memory for this file. Close other programs or use a shorter file."
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if getattr(exc, "filename", None) else "")
    return f"Something went wrong ({type(exc).__name__}: {exc})."


def _with_file(message: str, path) -> str:
    """``message`` naming the file ``path`` (its name) if it does not already."""
    if not path:
        return message
    from pathlib import Path

    from ..names import shown

    name = shown(Path(path).name)
    return message if name in message else f"{name}: {message}"


class Job(QObject):
    """Base: ``run()`` in a worker thread; exactly one of finished/failed/cancelled, then done."""

    progress = Signal(float)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self):
        super().__init__()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @Slot()
    def run(self) -> None:
        try:
            result = self.work()
        except _CancelledError:
            self.cancelled.emit()
        except Exception as exc:  # every failure becomes a message, never a crash
            path = getattr(self, "path", None)
            log_exception(f"{type(self).__name__} failed" + (f" on {path}" if path else ""), exc)
            self.failed.emit(_with_file(_plain(exc), path))
        else:
            if self.is_cancelled():
                self.cancelled.emit()
            else:
                self.finished.emit(result)
        self.done.emit()

    def work(self):  # pragma: no cover - abstract
        raise NotImplementedError


class _CancelledError(Exception):
    pass


class JobKeeper(QObject):
    """Holds the only lasting reference to every running job until its thread has ended, and
    is the one place a job is deleted.

    A job is a Python-owned QObject, so it is deleted when its last Python reference goes. The
    GUI drops its own reference when it handles the job's ``done`` signal, which can run while
    the worker thread is still leaving ``Job.run``; a ``deleteLater`` connected to the thread's
    ``finished`` would delete it a second time, in the worker thread, racing the GUI thread.
    Both were seen to crash the app (rarely, under load). The keeper lives in the owner's (GUI)
    thread, so its slot runs queued after ``finished``; it waits for the thread to be gone and
    then lets the job go, in the GUI thread."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._jobs: dict[QThread, QObject] = {}  #: jobs, and live workers torn down running

    def keep(self, thread: QThread, job: QObject) -> None:
        self._jobs[thread] = job
        thread.finished.connect(self._forget)

    def __len__(self) -> int:
        return len(self._jobs)

    @Slot()
    def _forget(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread):
            thread.wait()  # returns at once: ``finished`` was its last act
        self._jobs.pop(thread, None)

    @staticmethod
    def of(owner: QObject) -> "JobKeeper":
        keeper = owner.findChild(JobKeeper, "par-job-keeper")
        if keeper is None:
            keeper = JobKeeper(owner)
            keeper.setObjectName("par-job-keeper")
        return keeper


def start_job(job: Job, owner: QObject) -> QThread:
    """Run ``job`` in a new QThread parented to ``owner``; both are deleted when it ends (the job
    by :class:`JobKeeper`, in the owner's thread)."""
    thread = QThread(owner)
    thread.setObjectName(f"par-{type(job).__name__}")
    job.moveToThread(thread)
    thread.started.connect(job.run)
    job.done.connect(thread.quit)
    JobKeeper.of(owner).keep(thread, job)  # deletes the job once the thread is gone
    thread.finished.connect(thread.deleteLater)
    thread.start()
    return thread


def stop_job(job: Job, thread: QThread, timeout_ms: int | None = None) -> None:
    """Cancel ``job`` and stop its thread, waiting for it (at most ``timeout_ms``, else until it ends)."""
    job.cancel()
    thread.quit()
    if timeout_ms is None:
        thread.wait()
    else:
        thread.wait(timeout_ms)


@dataclass
class LoadedAudio:
    path: str
    audio: np.ndarray
    spectrogram: np.ndarray  #: uint8 (n_mels, T)
    pitch_spectrogram: np.ndarray | None = None  #: uint8 (88, T), row k = MIDI 21 + k
    #: the tuning (cents from A440) the rows of ``pitch_spectrogram`` are centred on
    pitch_cents: float = 0.0
    #: :attr:`Tuning.applied_cents` of this audio's measured tuning (what Auto gives); None: not measured
    measured_cents: float | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class LoadJob(Job):
    def __init__(self, path: str):
        super().__init__()
        self.path = str(path)

    def work(self) -> LoadedAudio:
        from ..audio.io import load_audio
        from .spectrum import display_spectrogram

        audio = load_audio(self.path)
        spec = display_spectrogram(audio, should_cancel=self.is_cancelled)
        return LoadedAudio(self.path, audio, spec)


@dataclass
class PitchSpectrum:
    """What :class:`PitchSpectrumJob` gives."""

    image: np.ndarray | None  #: uint8 (88, T); None: not computed (already shown at ``cents``)
    cents: float  #: the tuning its rows follow
    measured_cents: float | None = None  #: applied_cents of the tuning measured here (None: not measured)


class PitchSpectrumJob(Job):
    """The pitch spectrogram of the audio the GUI shows (after a load, or of a live recording),
    its rows centred on the keys of a piano ``cents`` from A440; ``cents`` None: the piano's
    tuning as the transcription's Auto measures it (:func:`par_studio.tuning.estimate_tuning`,
    here in the worker thread; a fraction of a second per minute of audio). ``unless_cents``:
    the tuning of the image already shown; when it is the one found, nothing is computed."""

    def __init__(self, audio: np.ndarray, cents: float | None = 0.0, unless_cents: float | None = None):
        super().__init__()
        self.audio = audio
        self.cents = cents
        self.unless_cents = unless_cents

    def work(self) -> PitchSpectrum:
        from .spectrum import pitch_spectrogram

        measured = None
        cents = self.cents
        if cents is None:
            from ..tuning import Tuning, estimate_tuning

            cents = measured = (estimate_tuning(self.audio) or Tuning()).applied_cents
        if self.unless_cents is not None and cents == self.unless_cents:
            return PitchSpectrum(None, cents, measured)
        img = pitch_spectrogram(self.audio, should_cancel=self.is_cancelled, tuning_cents=cents)
        return PitchSpectrum(img, cents, measured)


@dataclass
class ModelSpec:
    """Which model to run: a preset at a latency (shipped weights under ``models_dir``)."""

    preset: str
    latency_ms: int
    models_dir: object = None

    def key(self) -> tuple:
        return (self.preset, int(self.latency_ms), str(self.models_dir))


def load_model(spec: ModelSpec):
    from ..model.checkpoint import resolve_model

    return resolve_model(spec.preset, spec.latency_ms, models_dir=spec.models_dir)


class ModelJob(Job):
    """Load (and validate) a model without running it."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec

    def work(self):
        model, meta = load_model(self.spec)
        return self.spec, model, meta


@dataclass
class TranscribeResult:
    spec: ModelSpec
    model: object
    meta: dict
    transcription: object  #: engine.offline.Transcription
    seconds: float
    tempo: float | None = None  #: BPM detected from the notes (None: too few notes)
    meter: object = None  #: tempo.Meter detected from the notes (beats, bars), or None


class TranscribeJob(Job):
    model_ready = Signal(object)  #: (spec, model, meta), so the GUI can cache it

    def __init__(self, audio: np.ndarray, spec: ModelSpec, model=None, meta=None, sensitivity: float = 0.0,
                 features=None, threads: int | None = None, tuning=None, dereverb: bool = False):
        super().__init__()
        self.audio, self.spec, self.model, self.meta = audio, spec, model, meta or {}
        self.sensitivity = sensitivity
        #: the acoustic network's CPU threads (None/0: automatic, see engine/threads.py)
        self.threads = threads or None
        #: acoustic features kept by an earlier run of this model on this audio: then only the
        #: decoder runs again (NeuralNote's "re-run the cheapest stale stage"), if they were
        #: computed at the tuning asked for and with the reverb reduced or not as asked
        #: (:meth:`~par_studio.engine.offline.AcousticFeatures.serves`)
        self.features = features
        #: the piano's tuning (par_studio.tuning.Tuning), or None: measure it from the audio
        self.tuning = tuning
        #: take the late reverb of a hall out first (engine: the first DEREVERB_SHARE of the
        #: progress is spent on it)
        self.dereverb = bool(dereverb)
        #: whether this run takes the reverb out (not a decoder-only run on kept features),
        #: for the GUI's words while it runs
        self.reduces_reverb = self.dereverb and not self.decoder_only()

    def decoder_only(self) -> bool:
        """Whether the kept features serve this run, so only the decoder runs again: they are
        of this model, at the tuning asked for, with the reverb reduced or not as asked."""
        return (self.features is not None and self.model is not None
                and self.features.serves(self.model, self.tuning, self.dereverb))

    def work(self) -> TranscribeResult:
        from ..engine.offline import Cancelled, redecode, transcribe

        t0 = time.perf_counter()
        if self.model is None:
            self.model, self.meta = load_model(self.spec)
            self.model_ready.emit((self.spec, self.model, self.meta))
        try:
            if self.decoder_only():
                tr = redecode(self.features, self.model, self.sensitivity, progress=self.progress.emit,
                              should_cancel=self.is_cancelled)
                tr.info["decoder_only"] = True
            else:
                tr = transcribe(self.audio, self.model, progress=self.progress.emit,
                                should_cancel=self.is_cancelled, sensitivity=self.sensitivity,
                                keep_features=True, threads=self.threads, tuning=self.tuning,
                                dereverb=self.dereverb)
        except Cancelled:
            raise _CancelledError() from None
        from ..tempo import estimate_meter, estimate_tempo

        meter = estimate_meter(tr.notes)  # here, off the GUI thread (librosa's first call compiles)
        bpm = estimate_tempo(tr.notes)  # the same estimate's tempo (remembered, no second run)
        return TranscribeResult(self.spec, self.model, self.meta, tr, time.perf_counter() - t0, bpm, meter)


@dataclass
class LiveUpdate:
    """What one pushed block produced (all plain data)."""

    spec_t0: int
    spec_cols: np.ndarray  #: uint8 (n_mels, k)
    finished: Notes = field(default_factory=Notes)
    sounding: Notes = field(default_factory=Notes)
    frames_emitted: int = 0
    samples_pushed: int = 0
    compute_s: float = 0.0
    pitch_t0: int = 0
    pitch_cols: np.ndarray = field(default_factory=lambda: np.zeros((88, 0), np.uint8))  #: uint8 (88, k)


class LiveWorker(QObject):
    """Streaming engine + display spectrogram for one live session, in its own thread.

    The GUI connects its ``audio`` signal to :meth:`push` (queued) and calls :meth:`finish`
    through a queued signal too; nothing is shared but the signals' arguments and the abort
    flag (:meth:`abort`, called from the GUI thread before it stops and joins the thread:
    blocks still queued are then skipped, so the join is quick).

    :meth:`begin` sets torch to one intra-op thread for the session, as ``par-studio live``
    does: the per-hop work is tiny, and a second OpenMP thread only spins against the GUI
    (on a loaded 2-core machine it made the engine 10-30x slower than real time).
    ``prev_threads`` keeps the previous setting for the GUI to restore after the join.
    """

    update = Signal(object)  #: LiveUpdate
    finished = Signal(object)  #: Transcription or None (display-only session)
    failed = Signal(str)
    notice = Signal(str)  #: a problem that does not stop the session (the recording to disk)

    def __init__(self, model=None, sensitivity: float = 0.0, pitch_spectrum: bool = True, record_to=None,
                 record_rate: int = SAMPLE_RATE, record_channels: int = 1, tuning=None):
        super().__init__()
        from .spectrum import PitchSpectrogramStream, SpectrogramStream

        self.model = model
        self.sensitivity = sensitivity
        #: the piano's tuning set by the user (a Tuning), heard at A440 (engine/tuned_stream.py);
        #: None: the input as it is
        self.tuning = tuning
        self.engine = None
        self.spec = SpectrogramStream()
        self.pitch = (PitchSpectrogramStream(tuning_cents=tuning.applied_cents if tuning is not None else 0.0)
                      if pitch_spectrum else None)
        self.record_to = record_to  #: WAV path the input is recorded to as it arrives (None: not)
        #: the recording's format: the input device's own (push() then gets its frames too)
        self.record_rate, self.record_channels = int(record_rate), int(record_channels)
        self.recorded_path = None  #: the finished recording (a FLAC once finish() converted it)
        self.recorder = None
        self.samples = 0
        self.dead = False
        self.prev_threads: int | None = None
        self._abort = threading.Event()

    def abort(self) -> None:
        """Any thread: skip whatever is still queued (the session is being torn down)."""
        self._abort.set()

    @Slot()
    def begin(self) -> None:
        try:
            import torch

            self.prev_threads = torch.get_num_threads()
            torch.set_num_threads(1)
            if self.model is not None:
                from ..engine.streaming import StreamingEngine

                self.engine = StreamingEngine(self.model, keep_history=True, keep_probabilities=False,
                                              sensitivity=self.sensitivity)
                if self.tuning is not None and self.tuning.corrects:
                    from ..engine.tuned_stream import TunedStream

                    self.engine = TunedStream(self.engine, self.tuning)
        except Exception as exc:
            log_exception(f"{type(self).__name__} failed", exc)
            self.dead = True
            self.failed.emit(_plain(exc))
            return
        if self.record_to is not None:
            try:
                from ..audio.recorder import RecordingWriter

                self.recorder = RecordingWriter(self.record_to, self.record_rate, self.record_channels, "PCM_24")
                self.recorded_path = self.recorder.path
            except Exception as exc:
                self._recording_failed(exc)

    def _recording_failed(self, exc: Exception) -> None:
        self.close_recording()
        self.recorder = None
        self.notice.emit(f"The live input is not being recorded to {self.record_to} ({_plain(exc)}); "
                         "the session goes on, and the audio is kept in memory until you close it.")

    def close_recording(self, as_flac: bool = False) -> None:
        """Close the recording file (called at the end of the session, in this worker's thread,
        or by the GUI after joining it); ``as_flac``: and convert it to FLAC (a normal end)."""
        if self.recorder is not None:
            try:
                if as_flac and not self.recorder.closed:
                    self.recorded_path = self.recorder.finish_as_flac()
                else:
                    self.recorder.close()
            except Exception:
                pass

    @Slot(object)
    def push(self, block) -> None:
        if self.dead or self._abort.is_set():
            return
        t = time.perf_counter()
        try:
            raw = None
            if isinstance(block, tuple):  # (16 kHz mono for the model, the device's own frames)
                block, raw = block
            block = np.asarray(block, np.float32).reshape(-1)
            self.samples += len(block)
            if self.recorder is not None:
                try:
                    self.recorder.write(block if raw is None else raw)
                except Exception as exc:
                    self._recording_failed(exc)
            if raw is not None and not len(block):
                return  # the device's last frames, for the recording only
            t0, cols = self.spec.push(block)
            upd = LiveUpdate(t0, cols, samples_pushed=self.samples)
            if self.pitch is not None:
                upd.pitch_t0, upd.pitch_cols = self.pitch.push(block)
            if self.engine is not None:
                su = self.engine.push(block)
                upd.finished, upd.sounding = su.finished, su.sounding
                upd.frames_emitted = self.engine.frames_emitted
        except Exception as exc:
            log_exception(f"{type(self).__name__} failed", exc)
            self.dead = True
            self.failed.emit(_plain(exc))
            return
        upd.compute_s = time.perf_counter() - t
        self.update.emit(upd)

    @Slot(object)
    def finish(self, audio=None) -> None:
        """End of input; ``audio``: the take's input ((n,) float32 16 kHz) to refine its velocities."""
        if self._abort.is_set():
            return
        result = None
        self.close_recording(as_flac=True)
        try:
            if self.engine is not None and not self.dead:
                su = self.engine.finish()
            t0, cols = self.spec.push(np.zeros(WINDOW_HALF, np.float32))  # end padding, as offline
            if self.engine is not None and not self.dead:
                upd = LiveUpdate(t0, cols, su.finished, Notes(), self.engine.frames_emitted, self.samples)
                result = self.engine.result()
            else:
                upd = LiveUpdate(t0, cols, samples_pushed=self.samples)
            if self.pitch is not None:
                upd.pitch_t0, upd.pitch_cols = self.pitch.push(np.zeros(0, np.float32), final=True)
            self.update.emit(upd)
        except Exception as exc:
            log_exception(f"{type(self).__name__} failed", exc)
            self.failed.emit(_plain(exc))
        if result is not None and audio is not None:
            from ..engine.take import Cancelled, refine_take

            try:
                result = refine_take(result, audio, should_cancel=self._abort.is_set)
            except Cancelled:
                return  # torn down meanwhile: nobody waits for the result
        self.finished.emit(result)
