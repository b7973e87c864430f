"""Offline transcription of a whole signal, in chunks so memory stays bounded.

The acoustic module runs over chunks of ``chunk_frames`` frames, each extended on both sides by
the frames the CNN sees beyond the present one (the larger of ``cfg.past_frames`` and
``cfg.future_frames``), so every kept output column is computed from exactly the inputs a
single pass would use; the autoregressive decoder then carries its state from chunk to chunk,
stepping all 88 keys as one batch.

A piano away from A440 is first brought to it (:mod:`par_studio.tuning`): the model then runs
on audio ``ratio`` times longer, and its frames are ``FRAME_SECONDS * tuning.time_scale``
seconds of the recording apart (:attr:`Transcription.frame_seconds`); the notes are put back on
the recording's clock. A recording in a reverberant hall can first have its late reverb taken out
(:mod:`par_studio.dereverb`, ``dereverb=True``), so that note ends are heard where they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..constants import FRAME_SECONDS, N_KEYS, SAMPLE_RATE
from ..features import n_frames
from ..model.par import ARState, PARModel
from ..notes import Notes, decode
from ..tuning import Tuning, resolve_tuning
from ..velocity import load_refiner
from ..verifier import find_verifier
from .progress import Throttle
from .threads import acoustic_threads, torch_threads

#: Frames per acoustic chunk (≈ 8 s of audio). The CNN's working memory grows with the chunk:
#: measured peak for one chunk of PARcompact 320 ms, one thread: 60 MiB at 256 frames,
#: 115 MiB at 512, 242 MiB at 1,024; CPU time per frame the same within noise (the
#: 2 × future_frames overlap adds ≤ 4.7 % to the CNN's work).
DEFAULT_CHUNK_FRAMES = 256
#: Acoustic features kept for a decoder-only re-run (:func:`redecode`) when they fit in this
#: many bytes: ≈ 12 min of audio for PARcompact, ≈ 14 min for PAR (float32, exact).
MAX_FEATURE_CACHE_BYTES = 256 * 2**20
#: share of the progress bar given to the dereverberation when it runs (it takes about three
#: times the transcription's time: 5.9 vs 1.9 s per minute of audio for PARcompact 320 ms,
#: benchmarks/bench_dereverb.py on the corpus-v2 validation set)
DEREVERB_SHARE = 0.75


@dataclass
class AcousticFeatures:
    """The acoustic module's output for a whole signal, for the decoder to run again (with
    another sensitivity) without the CNN: feat (T, 88, H), vfeat (T, 88, Hv) float32, from
    ``model`` (a decoder-only run must use the very same weights)."""

    feat: torch.Tensor
    vfeat: torch.Tensor
    model: object
    duration: float
    tuning: Tuning = field(default_factory=Tuning)
    dereverb: bool = False  #: computed from audio with the hall reverb reduced
    audio: np.ndarray | None = None  #: (n,) float32 the audio as heard (at A440), for the velocity refiner
    #: the note check's proposals decoded from these features, {shift: (states, probabilities,
    #: velocity)} (one entry): another sensitivity only moves the verifier's threshold, so a
    #: decoder-only re-run reuses them instead of decoding again
    proposals: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        kept = sum(a.nbytes for entry in self.proposals.values() for a in entry)
        return (self.feat.numel() * 4 + self.vfeat.numel() * 4 + (0 if self.audio is None else self.audio.nbytes)
                + kept)

    def serves(self, model, tuning: Tuning | None, dereverb: bool) -> bool:
        """Whether a decoder-only re-run (:func:`redecode`) of ``model`` may use these features
        for a run asked with ``tuning`` (None: measured) and ``dereverb``: same weights, audio
        heard at that tuning (a measured one for None, since the same audio measures the same;
        else that very tuning) and with the reverb reduced or not alike. Otherwise the
        acoustic network has to hear the audio again."""
        if self.model is not model or bool(self.dereverb) != bool(dereverb):
            return False
        if tuning is None:
            return self.tuning.source == "measured"
        return self.tuning.source == tuning.source and self.tuning.cents == tuning.cents


class Cancelled(Exception):
    """Raised inside :func:`transcribe` when its ``should_cancel`` callback returns True."""


@dataclass
class Transcription:
    """What a transcription produces (offline or streaming).

    notes: the decoded notes. states: (T, 88) uint8 greedy states; probabilities: (T, 88, 5)
    float16 state probabilities (of the decoder's proposals when ``notes_verified``);
    velocity: (T, 88) float32 predicted velocity/128 (at onset frames refined from the audio
    when ``velocity_refined``); frame k is centred at k × 32 ms. model: preset name;
    latency_ms: the model's look-ahead.
    """

    notes: Notes
    states: np.ndarray
    probabilities: np.ndarray
    velocity: np.ndarray
    model: str = ""
    latency_ms: int = 0
    duration: float = 0.0  #: seconds of audio
    info: dict = field(default_factory=dict)
    offset_shift_s: float = 0.0  #: the model's note-end calibration (see ModelConfig)
    tuning: Tuning = field(default_factory=Tuning)  #: the piano's tuning it was heard with
    dereverb: bool = False  #: whether the late reverberation was reduced first
    velocity_refined: bool = False  #: onset velocities re-ranked by :mod:`par_studio.velocity`
    notes_verified: bool = False  #: proposals checked by the model's :mod:`par_studio.verifier`

    @property
    def n_frames(self) -> int:
        return int(self.states.shape[0])

    @property
    def frame_seconds(self) -> float:
        """Seconds of the recording between two frames."""
        return FRAME_SECONDS * self.tuning.time_scale

    def frame_times(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.frame_seconds

    def redecode(self) -> Notes:
        """Notes from the stored states and velocities (the single shared decoder)."""
        return _on_recording_clock(decode(self.states, self.velocity, offset_shift=self.offset_shift_s),
                                   self.tuning)


def _on_recording_clock(notes: Notes, tuning: Tuning) -> Notes:
    """Notes decoded from frames of the A440 audio → seconds of the recording."""
    s = tuning.time_scale
    return notes if s == 1.0 else Notes(notes.onset * s, notes.offset * s, notes.pitch, notes.velocity)


def acoustic_chunks(model: PARModel, audio: torch.Tensor, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                    threads: int | None = None):
    """Yield (first_frame, state features (t, 88, H), velocity features (t, 88, Hv)) over the
    whole signal ``audio`` (n_samples,), chunk by chunk, identical to a single pass.
    ``threads``: torch threads for the acoustic network (None: automatic, re-chosen for every
    chunk from the cores idle now; see :mod:`.threads`)."""
    T = n_frames(audio.shape[-1])
    margin = max(model.cfg.past_frames, model.cfg.future_frames)
    x = audio.reshape(1, -1)
    for a in range(0, T, chunk_frames):
        b = min(T, a + chunk_frames)
        lo, hi = max(0, a - margin), min(T, b + margin)
        with torch_threads(acoustic_threads(threads)):
            mel = model.frontend.from_audio(x, lo, hi - lo)
            feat, vfeat = model.acoustic(mel)
            del mel
            # contiguous copies of the kept frames, so the chunk's larger maps can be freed
            feat, vfeat = feat[0, a - lo : b - lo].contiguous(), vfeat[0, a - lo : b - lo].contiguous()
        yield a, feat, vfeat


@torch.inference_mode()
def transcribe(audio: np.ndarray, model: PARModel, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
               progress: Callable[[float], None] | None = None,
               should_cancel: Callable[[], bool] | None = None, sensitivity: float = 0.0,
               keep_features: bool = False, threads: int | None = None,
               tuning: Tuning | None = None, dereverb: bool = False,
               refine_velocity: bool = True, verify_notes=True) -> Transcription:
    """Transcribe (n_samples,) float32 mono 16 kHz audio with ``model`` (eval mode).

    ``tuning``: the piano's tuning; None measures it (:func:`par_studio.tuning.resolve_tuning`),
    ``Tuning()`` leaves the audio as it is. The result's notes and frame times are in seconds
    of ``audio`` either way. ``dereverb``: take out the late reverberation first
    (:func:`par_studio.dereverb.reduce_reverb`; about 5 s per minute of audio, reported as the
    first DEREVERB_SHARE of the progress).

    ``progress(fraction)`` is called as the decoder goes, every 0.1 s of work (and with 1.0 at
    the end); ``should_cancel()`` is polled as often and raises :class:`Cancelled`.
    ``threads``: the acoustic network's torch threads (None: automatic; the decoder always
    uses one, see :mod:`.threads`). ``sensitivity`` (about −1..1, 0 = as calibrated)
    makes the decoder find more (> 0) or fewer (< 0) notes; see :meth:`PARModel.step`.
    ``refine_velocity``: re-rank the onset velocities with the shipped velocity refiner
    (:mod:`par_studio.velocity`; the decoder's own when False or when it is not installed).
    ``verify_notes``: when the model has a note verifier (:mod:`par_studio.verifier`), decode
    at its looser sensitivity and keep the proposals it accepts (``sensitivity`` then moves
    its threshold); False, or no verifier: the decoder as calibrated; a
    :class:`~par_studio.verifier.NoteVerifier`: that one (training, tests).
    ``keep_features``: also keep the acoustic features in ``info["features"]``
    (:class:`AcousticFeatures`) when they fit in :data:`MAX_FEATURE_CACHE_BYTES`, for
    :func:`redecode`.
    """
    model.eval()
    duration = len(audio) / SAMPLE_RATE
    if dereverb:
        from ..dereverb import reduce_reverb

        audio = reduce_reverb(audio, progress=None if progress is None else (lambda f: progress(DEREVERB_SHARE * f)),
                              should_cancel=should_cancel)
        if audio is None:
            raise Cancelled()
        if progress is not None:
            inner = progress
            progress = lambda f: inner(DEREVERB_SHARE + (1.0 - DEREVERB_SHARE) * f)  # noqa: E731
    tuning = resolve_tuning(audio, tuning)
    audio_t = torch.as_tensor(np.ascontiguousarray(tuning.to_a440(audio), dtype=np.float32))
    T = n_frames(audio_t.shape[-1])
    keep = keep_features and T * N_KEYS * (model.cfg.pitch_features + model.cfg.vel_features) * 4 \
        <= MAX_FEATURE_CACHE_BYTES
    feats, vfeats = [], []

    def chunks():
        for a, feat, vfeat in acoustic_chunks(model, audio_t, chunk_frames, threads):
            if keep:
                feats.append(feat.clone())
                vfeats.append(vfeat.clone())
            yield a, feat, vfeat

    heard = audio_t.numpy()
    proposals: dict = {}
    tr = _decode_chunks(chunks(), T, model, sensitivity, progress, should_cancel, duration, tuning,
                        heard, refine_velocity, verify_notes, proposals if keep else None)
    tr.dereverb = bool(dereverb)
    if keep:
        tr.info["features"] = AcousticFeatures(torch.cat(feats), torch.cat(vfeats), model, duration, tuning,
                                               bool(dereverb), heard, proposals)
    return tr


@torch.inference_mode()
def redecode(features: AcousticFeatures, model: PARModel, sensitivity: float = 0.0,
             progress: Callable[[float], None] | None = None,
             should_cancel: Callable[[], bool] | None = None,
             chunk_frames: int = DEFAULT_CHUNK_FRAMES, refine_velocity: bool = True,
             verify_notes=True) -> Transcription:
    """Run only the decoder again over kept acoustic features (e.g. with another sensitivity):
    exactly what :func:`transcribe` gives for the same audio, model, sensitivity,
    ``refine_velocity`` and ``verify_notes``, at the decoder's cost alone. The features keep
    their own copy (the result's ``info`` too)."""
    if features.model is not model:
        raise ValueError("these acoustic features were computed by another model")
    model.eval()
    T = features.feat.shape[0]
    chunks = ((a, features.feat[a:a + chunk_frames], features.vfeat[a:a + chunk_frames])
              for a in range(0, T, chunk_frames))
    tr = _decode_chunks(chunks, T, model, sensitivity, progress, should_cancel, features.duration,
                        features.tuning, features.audio, refine_velocity, verify_notes, features.proposals)
    tr.dereverb = features.dereverb
    tr.info["features"] = features
    return tr


def _decode_chunks(chunks, T: int, model: PARModel, sensitivity: float, progress, should_cancel,
                   duration: float, tuning: Tuning, heard: np.ndarray | None = None,
                   refine_velocity: bool = True, verify_notes=True,
                   proposals: dict | None = None) -> Transcription:
    """The greedy decoder over ``chunks`` of (first frame, feat (t, 88, H), vfeat (t, 88, Hv))
    covering frames 0..T-1 in order, carrying its state across chunks; then, given ``heard``
    (the (n,) audio at A440), the proposals checked by the model's note verifier (when asked
    and installed) and the onset velocities refined from it (when asked); then the notes.
    ``proposals``: a verifier's looser decode of these frames kept from an earlier run (used
    instead of decoding again; filled after decoding)."""
    if heard is None or verify_notes is False:
        verifier = None
    else:  # True: the installed one for these weights, if any; or a NoteVerifier given
        verifier = find_verifier(model) if verify_notes is True else verify_notes
    decode_sensitivity = verifier.shift if verifier is not None else sensitivity
    states = np.zeros((T, N_KEYS), np.uint8)
    probs = np.zeros((T, N_KEYS, 5), np.float16)
    vels = np.zeros((T, N_KEYS), np.float32)
    ar = ARState.initial(1)
    report = Throttle(progress) if progress is not None else None
    reuse = None
    if verifier is not None and proposals is not None:
        reuse = proposals.get(float(verifier.shift))
    if reuse is not None:
        states, probs, vels = reuse[0], reuse[1], reuse[2].copy()
        chunks = ()
    for a, feat, vfeat in chunks:
        if should_cancel is not None and should_cancel():
            raise Cancelled()

        def tick(done: int, a=a) -> None:  # every few frames: progress and cancel
            if should_cancel is not None and should_cancel():
                raise Cancelled()
            if report is not None:
                report((a + done) / T)

        with torch_threads(1):  # the decoder's per-frame ops are too small to share
            s, p, v, ar = model.run_decoder(feat, vfeat, ar, decode_sensitivity, tick=tick)
        b = a + s.shape[0]
        states[a:b], probs[a:b], vels[a:b] = s.numpy(), p.numpy(), v.numpy()
    if verifier is not None and proposals is not None and reuse is None:
        proposals.clear()  # one entry: a verifier's shift is fixed
        proposals[float(verifier.shift)] = (states, probs, vels.copy())  # states/probs: never written later

    def poll() -> None:
        if should_cancel is not None and should_cancel():
            raise Cancelled()

    checked = None
    if verifier is not None:
        states, checked, rejected = verifier.verify(states, probs, vels, heard, sensitivity, tick=poll)
    refiner = load_refiner() if refine_velocity and heard is not None else None
    if refiner is not None:
        vels = refiner.refine_frames(states, vels, heard, tick=poll)
    if report is not None:
        report(1.0)
    shift = model.cfg.offset_shift_s
    tr = Transcription(_on_recording_clock(decode(states, vels, offset_shift=shift), tuning),
                       states, probs, vels, model=model.cfg.preset, latency_ms=model.latency_ms,
                       duration=duration, offset_shift_s=shift, tuning=tuning,
                       velocity_refined=refiner is not None, notes_verified=checked is not None)
    if checked is not None:
        tr.info["verifier"] = checked  # counts (JSON-ready: evaluate reports them)
        tr.info["rejected_proposals"] = rejected  # arrays, for the candidate notes
    return tr


def transcribe_file(path, model: PARModel, **kwargs) -> Transcription:
    """Load ``path`` (any format :func:`load_audio` reads) and transcribe it."""
    from ..audio.io import load_audio

    tr = transcribe(load_audio(path), model, **kwargs)
    tr.info["path"] = str(path)
    return tr
