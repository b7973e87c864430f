"""Piano tuning: the estimate, the correction to A440, and notes back on the recording's clock."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soxr

from conftest import build_model, piano_like
from par_studio.constants import FRAME_SECONDS, SAMPLE_RATE
from par_studio.engine.offline import transcribe
from par_studio.notes import Notes, decode
from par_studio.tuning import (MAX_ANALYSIS_SECONDS, Tuning, estimate_tuning, parse_tuning,
                               resolve_tuning)

EXAMPLE = Path(__file__).resolve().parents[1] / "resources/example.flac"
SHIPPED = Path(__file__).resolve().parents[1] / "models/par-compact-320.pt"

CHORDS = tuple((0.25 * i, p, 0.5 + 0.1 * (i % 4)) for i, p in
               enumerate([48, 52, 55, 60, 64, 67, 72, 62, 65, 69, 57, 45, 50, 53, 59, 71]))


def detuned(y: np.ndarray, cents: float) -> np.ndarray:
    """(n,) 16 kHz audio played 2**(cents/1200) times faster: every frequency that much higher."""
    r = 2.0 ** (cents / 1200.0)
    return soxr.resample(y, SAMPLE_RATE, SAMPLE_RATE / r, quality="HQ").astype(np.float32)


def peak_hz(y: np.ndarray) -> float:
    w = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    k = int(np.argmax(w))
    a, b, c = np.log(w[k - 1:k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SAMPLE_RATE / len(y)


@pytest.mark.parametrize("text,cents,source", [
    ("+35", 35.0, "set"), ("-20", -20.0, "set"), ("\u221220", -20.0, "set"), ("12c", 12.0, "set"),
    ("0", 0.0, "set"),
    ("442", 1200 * math.log2(442 / 440), "set"), ("435 Hz", 1200 * math.log2(435 / 440), "set"),
    ("off", 0.0, "off"), ("A440", 0.0, "off")])
def test_parse_tuning_reads_cents_and_concert_pitch(text, cents, source):
    t = parse_tuning(text)
    assert t.source == source and t.cents == pytest.approx(cents, abs=1e-9)


def test_parse_tuning_auto_and_bad_values():
    assert parse_tuning("auto") is None and parse_tuning(" Auto ") is None
    for bad in ("sharp", "+60", "-51", "300hz", "nan", "466"):
        with pytest.raises(ValueError, match="tuning|Hz"):
            parse_tuning(bad)


def test_tuning_range_and_scales():
    with pytest.raises(ValueError):
        Tuning(50.5)
    with pytest.raises(ValueError):
        Tuning(float("nan"))
    t = Tuning(35.0, "measured")
    assert t.corrects and t.a4_hz == pytest.approx(440 * 2 ** (35 / 1200))
    assert t.time_scale == pytest.approx(2 ** (-35 / 1200))
    assert "449" in t.describe() and "+35 cents" in t.describe()
    small = Tuning(1.0, "measured")
    assert not small.corrects and small.time_scale == 1.0
    y = np.random.RandomState(0).randn(1000).astype(np.float32)
    assert small.to_a440(y) is not None and np.array_equal(small.to_a440(y), y)


def test_to_a440_moves_a_sharp_tone_back_to_440():
    t = Tuning(35.0, "set")
    n = 4 * SAMPLE_RATE
    y = np.sin(2 * np.pi * t.a4_hz * np.arange(n) / SAMPLE_RATE).astype(np.float32)
    z = t.to_a440(y)
    assert len(z) == pytest.approx(n * t.ratio, abs=2)
    assert peak_hz(y[SAMPLE_RATE:3 * SAMPLE_RATE]) == pytest.approx(t.a4_hz, abs=0.3)
    assert peak_hz(z[SAMPLE_RATE:3 * SAMPLE_RATE]) == pytest.approx(440.0, abs=0.3)


@pytest.mark.parametrize("cents", [-40.0, -15.0, 0.0, 25.0, 45.0])
def test_estimate_finds_the_offset_of_piano_like_tones(cents):
    y = detuned(piano_like(4.5, notes=CHORDS), cents)
    est = estimate_tuning(y)
    assert est is not None and est.source == "measured"
    assert est.cents == pytest.approx(cents, abs=4.0)


def test_estimate_of_silence_is_none_and_auto_falls_back_to_a440():
    silent = np.zeros(3 * SAMPLE_RATE, np.float32)
    assert estimate_tuning(silent) is None
    assert estimate_tuning(np.zeros(100, np.float32)) is None
    t = resolve_tuning(silent, None)
    assert t.cents == 0.0 and not t.corrects
    assert resolve_tuning(silent, Tuning(20.0, "set")).cents == 20.0


def test_estimate_of_a_long_recording_reads_excerpts():
    y = detuned(piano_like(4.5, notes=CHORDS), 30.0)
    long = np.tile(y, int(2 * MAX_ANALYSIS_SECONDS * SAMPLE_RATE / len(y)) + 1)
    assert estimate_tuning(long).cents == pytest.approx(30.0, abs=4.0)


def test_transcription_of_corrected_audio_is_on_the_recordings_clock():
    """The model runs on audio r times longer; frames and notes are mapped back by 1/r."""
    model = build_model()
    y = detuned(piano_like(3.0, notes=CHORDS[:8]), 30.0)
    t = Tuning(30.0, "set")
    tr = transcribe(y, model, tuning=t)
    assert tr.tuning == t and tr.duration == pytest.approx(len(y) / SAMPLE_RATE)
    assert tr.n_frames > len(y) / SAMPLE_RATE / FRAME_SECONDS  # the stretched signal's frames
    assert tr.frame_seconds == pytest.approx(FRAME_SECONDS / t.ratio)
    assert tr.frame_times()[-1] <= tr.duration + FRAME_SECONDS
    raw = decode(tr.states, tr.velocity, offset_shift=tr.offset_shift_s)
    assert np.allclose(tr.notes.onset, raw.onset / t.ratio) and np.array_equal(tr.notes.pitch, raw.pitch)
    assert tr.redecode().equals(tr.notes)
    off = transcribe(y, model, tuning=Tuning())
    assert off.frame_seconds == FRAME_SECONDS and not off.tuning.corrects


@pytest.mark.slow
def test_shipped_model_hears_a_sharp_piano_as_the_in_tune_one():
    """The bundled example 35 cents sharp: with the correction the shipped PARcompact finds the
    in-tune transcription's notes again; without it, it loses many of them."""
    import mir_eval.transcription as mt

    from par_studio.audio.io import load_audio
    from par_studio.model.checkpoint import load_checkpoint

    if not SHIPPED.is_file():
        pytest.skip("shipped weights not present")
    model, _ = load_checkpoint(SHIPPED)
    y = load_audio(EXAMPLE)
    r = 2.0 ** (35.0 / 1200.0)
    ref = transcribe(y, model, tuning=Tuning()).notes
    ref = Notes(ref.onset / r, ref.offset / r, ref.pitch, ref.velocity)  # played r times faster
    sharp = detuned(y, 35.0)

    def f1(notes):
        return mt.precision_recall_f1_overlap(ref.intervals(), ref.pitches_hz(), notes.intervals(),
                                              notes.pitches_hz(), offset_ratio=None)[2]
    auto = transcribe(sharp, model)
    assert auto.tuning.source == "measured" and auto.tuning.cents == pytest.approx(35.0, abs=5.0)
    plain = transcribe(sharp, model, tuning=Tuning())
    assert f1(auto.notes) >= 0.9
    assert f1(auto.notes) > f1(plain.notes) + 0.05


def test_cli_tuning_option(tmp_path, wav_file, compact_ckpt, capsys):
    from par_studio.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["transcribe", str(wav_file), "--model", str(compact_ckpt), "--tuning", "sharp"])
    assert exc.value.code == 2 and "not 'auto', 'off'" in capsys.readouterr().err
    out = tmp_path / "set.mid"
    assert main(["transcribe", str(wav_file), "--model", str(compact_ckpt), "--tuning", "+30",
                 "-o", str(out)]) == 0
    assert out.is_file() and "A4 = 447.7 Hz (+30 cents, set; corrected)" in capsys.readouterr().err


def test_kept_features_serve_only_a_run_that_hears_the_same_audio():
    """A decoder-only re-run may reuse acoustic features only for the same model, the same
    tuning (a measured one for Auto) and the same reverb setting."""
    model = build_model()
    y = detuned(piano_like(2.0, notes=CHORDS[:6]), 30.0)
    feats = transcribe(y, model, keep_features=True).info["features"]  # Auto: measured ~+30
    assert feats.tuning.source == "measured" and feats.tuning.applied_cents == feats.tuning.cents
    assert feats.serves(model, None, False)
    assert not feats.serves(model, None, True)  # dereverberated audio is other audio
    assert not feats.serves(build_model(seed=1), None, False)
    assert not feats.serves(model, Tuning(), False)  # A440 asked: the model must hear it again
    assert feats.serves(model, Tuning(feats.tuning.cents, "measured"), False)
    assert not feats.serves(model, Tuning(feats.tuning.cents, "set"), False)
    off = transcribe(y, model, keep_features=True, tuning=Tuning()).info["features"]
    assert off.serves(model, Tuning(), False) and not off.serves(model, None, False)
    assert Tuning(1.5, "set").applied_cents == 0.0 and Tuning(-20.0, "set").applied_cents == -20.0


@pytest.mark.parametrize("seed,cents", [(0, -37.0), (1, -8.0), (2, 0.0), (3, 12.0), (4, 49.0)])
def test_estimate_gives_librosas_value(seed, cents):
    """The estimate is librosa.estimate_tuning's (written out to spare its slow import): the same
    value to the cent on piano-like chords and on the bundled example."""
    import librosa

    from par_studio.audio.io import load_audio
    from par_studio.tuning import HOP, N_FFT

    rng = np.random.RandomState(seed)
    notes = tuple((0.3 * i, int(p), 0.4 + 0.5 * rng.rand()) for i, p in enumerate(rng.randint(30, 96, 14)))
    for y in (detuned(piano_like(5.0, notes=notes, seed=seed), cents),
              detuned(load_audio(EXAMPLE, max_seconds=8.0), cents)):
        ours = estimate_tuning(y).cents
        theirs = 100.0 * librosa.estimate_tuning(y=y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP,
                                                 resolution=0.01, bins_per_octave=12)
        assert ours == pytest.approx(theirs, abs=1e-6)
