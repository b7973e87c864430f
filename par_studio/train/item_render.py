"""Rendering one corpus item and writing it: a :class:`~par_studio.train.performance.Performance`
through a SoundFont renderer (FluidSynth or TiMidity) to mono float32 audio at 16 kHz, checked,
and written atomically as ``BASE.flac`` (PCM_16) + ``BASE.mid`` (the exact MIDI of the audio) +
``BASE.json`` (metadata). Split out of :mod:`par_studio.train.corpus` (which re-exports these
names); corpus v2 renders through it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from par_studio.constants import SAMPLE_RATE
from par_studio.errors import CorpusError
from par_studio.train.performance import Performance, preroll_seconds, to_pretty_midi
from par_studio.train.soundfonts import Timbre

TAIL_SECONDS = 1.0  #: rendered after the segment's end so releases ring out
FLUIDSYNTH_GAIN = 0.5
TIMIDITY_AMPLIFY = 40  #: percent
RENDER_TIMEOUT_S = 600

#: GM default pitch-bend range (both fluidsynth and TiMidity): +-2 semitones
PITCH_BEND_RANGE_CENTS = 200.0


def tune_pretty_midi(pm: pretty_midi.PrettyMIDI, cents: float) -> None:
    """Retune every instrument of ``pm`` by ``cents`` (|cents| < 200) with a pitch bend at t=0:
    the whole piano detuned, timing untouched (rendering only, never in a stored item)."""
    value = int(np.clip(round(cents / PITCH_BEND_RANGE_CENTS * 8192), -8192, 8191))
    for inst in pm.instruments:
        inst.pitch_bends.append(pretty_midi.PitchBend(value, 0.0))


def render(perf: Performance, timbre: Timbre, seconds: float, workdir: Path,
           envelope: dict | None = None, tuning_cents: float = 0.0) -> np.ndarray:
    """Render to mono float32 16 kHz audio of exactly ``round(seconds * SAMPLE_RATE)`` samples.

    ``envelope`` (FluidSynth timbres only) varies the SoundFont's release and sample zones, see
    :func:`envelope_events`; ``tuning_cents`` detunes the whole instrument (a pitch bend)."""
    n_out = int(round(seconds * SAMPLE_RATE))
    mid = workdir / "render.mid"
    wav = workdir / "render.wav"
    if envelope and timbre.renderer != "fluidsynth":
        raise CorpusError(f"envelope variation needs fluidsynth, not {timbre.renderer}")
    pm = to_pretty_midi(perf, timbre.program, end_marker=seconds, envelope=envelope)
    if tuning_cents:
        tune_pretty_midi(pm, tuning_cents)
    pm.write(str(mid))
    if timbre.renderer == "fluidsynth":
        cmd = ["fluidsynth", "-ni", "-R", "0", "-C", "0", "-g", str(FLUIDSYNTH_GAIN),
               "-r", str(SAMPLE_RATE), "-O", "float", "-T", "wav", "-F", str(wav),
               timbre.path, str(mid)]
    elif timbre.renderer == "timidity":
        cmd = ["timidity", "-c", timbre.path, "-Ow", "-s", str(SAMPLE_RATE), "--output-mono",
               "--preserve-silence", "-EFreverb=0", "-EFchorus=0", "-A", str(TIMIDITY_AMPLIFY),
               "-o", str(wav), str(mid)]
    else:
        raise CorpusError(f"Unknown renderer {timbre.renderer!r}")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CorpusError(f"{timbre.renderer} failed: {e}") from e
    if r.returncode != 0 or not wav.exists():
        raise CorpusError(f"{timbre.renderer} failed ({r.returncode}): {r.stderr[-500:]}")
    x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    x = x[int(round(preroll_seconds(envelope) * sr)):]
    if sr != SAMPLE_RATE:
        import librosa

        x = librosa.resample(x, orig_sr=sr, target_sr=SAMPLE_RATE).astype(np.float32)
    if len(x) < n_out:
        x = np.pad(x, (0, n_out - len(x)))
    return np.ascontiguousarray(x[:n_out], dtype=np.float32)


def verify_audio(x: np.ndarray, perf: Performance, seconds: float) -> None:
    """Raise CorpusError if the audio is too short or silent where notes sound."""
    if len(x) < int(perf.end * SAMPLE_RATE) or len(x) < int(round(seconds * SAMPLE_RATE)) - 1:
        raise CorpusError(f"audio ({len(x) / SAMPLE_RATE:.2f} s) shorter than the notes")
    if not np.all(np.isfinite(x)):
        raise CorpusError("audio contains NaN/inf")
    if not perf.notes:
        return
    win = SAMPLE_RATE // 2
    checked = silent = 0
    for sec in sorted({int(n.start * 2) for n in perf.notes}):  # half-second windows with onsets
        seg = x[sec * win : sec * win + win + SAMPLE_RATE // 5]
        checked += 1
        if seg.size == 0 or float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) < 1e-5:
            silent += 1
    if silent > max(1, 0.2 * checked):
        raise CorpusError(f"audio silent in {silent} of {checked} windows that have note onsets")


def _atomic_write_bytes(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem, suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def item_file(base: Path, ext: str) -> Path:
    """``base`` + ``ext``: item names may hold dots (``Impromptu_op.90_D.899``), so never
    ``with_suffix``, which would cut the name at its last dot."""
    return base.with_name(base.name + ext)


def write_item(base: Path, audio: np.ndarray, perf: Performance, meta: dict) -> None:
    """``base``.mid, ``base``.json, then ``base``.flac (last, so a .flac means a complete item)."""
    pm = to_pretty_midi(perf, 0)
    _atomic_write_bytes(item_file(base, ".mid"), lambda p: pm.write(p))

    def wjson(p):
        with open(p, "w") as f:
            json.dump(meta, f)

    _atomic_write_bytes(item_file(base, ".json"), wjson)
    _atomic_write_bytes(
        item_file(base, ".flac"),
        lambda p: sf.write(p, audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC"),
    )


def item_exists(base: Path) -> bool:
    return all(item_file(base, s).exists() for s in (".flac", ".mid", ".json"))
