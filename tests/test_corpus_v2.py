"""Corpus v2: per-key tuning by resampling, recording conditions, labels and resumability."""

from __future__ import annotations

import shutil

import numpy as np
import pretty_midi
import pytest

from par_studio.constants import SAMPLE_RATE
from par_studio.notes import notes_from_midi
from par_studio.train import conditions as cond
from par_studio.train import corpus_v2 as c2
from par_studio.train.sampled_pianos import (PIANOS, discover_pianos, key_cents_array,
                                             render_note, retune)


def _f0(y: np.ndarray, lo: float, hi: float) -> float:
    """Peak frequency (Hz) of y between lo and hi (zero-padded FFT, 0.06 Hz bins)."""
    n = 1 << 18
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    m = (f > lo) & (f < hi)
    return float(f[m][np.argmax(spec[m])])


class FakeSynth:
    """Stands in for pysfizz.Synth: a sine at the key's equal-tempered pitch, level 1 while the
    key is held, then 0; (2, n) like ``render_note``."""

    class _Inner:
        def all_sound_off(self):
            pass

    def __init__(self):
        self._synth = self._Inner()

    def render_note(self, pitch, vel, note_on_dur, render_dur):
        n, held = int(SAMPLE_RATE * render_dur), int(SAMPLE_RATE * note_on_dur)
        t = np.arange(n) / SAMPLE_RATE
        y = np.sin(2 * np.pi * 440.0 * 2 ** ((pitch - 69) / 12) * t)
        y[held:] = 0.0
        return np.stack([y, y]).astype(np.float32)


@pytest.mark.parametrize("cents", [-50.0, -12.5, 35.0, 50.0])
def test_note_retuned_with_exact_timing(cents):
    y = render_note(FakeSynth(), 69, 80, hold_s=0.5, total_s=1.0, cents=cents)
    assert len(y) == SAMPLE_RATE  # the output's own length, whatever the tuning
    got = 1200 * np.log2(_f0(y[800:7200], 380, 520) / 440.0)
    assert abs(got - cents) < 1.0
    env = np.abs(y) > 0.5
    first, last = np.argmax(env), len(env) - 1 - np.argmax(env[::-1])
    assert first <= 5  # the onset stays at sample 0 (a 440 Hz sine reaches 0.5 at sample 3)
    assert abs(last - 0.5 * SAMPLE_RATE) <= 16  # the note ends where the label says (1 ms)


def test_retune_zero_is_identity_and_length_scales():
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert np.array_equal(retune(x, 0.0), x)
    assert abs(len(retune(x, 100.0)) - 16000 / 2 ** (100 / 1200)) <= 1


def test_key_cents_stretch_and_detune():
    flat = key_cents_array(-20.0)
    assert np.allclose(flat, -20.0)
    st = key_cents_array(0.0, 20.0)
    assert st[69 - 21] == 0.0 and st[-1] == pytest.approx(20.0) and st[0] == pytest.approx(-12.0)
    assert np.all(np.diff(st) >= 0)  # stretched: higher keys never flatter than lower ones


def test_conditions_deterministic_per_seed():
    a = cond.draw_conditions(np.random.default_rng(7))
    b = cond.draw_conditions(np.random.default_rng(7))
    assert a == b
    draws = [cond.draw_conditions(np.random.default_rng(s)) for s in range(40)]
    assert len({str(d) for d in draws}) == 40
    assert all(abs(d.get("detune_cents", 0)) <= 50 for d in draws)
    assert any("room" in d for d in draws) and any("noise" in d for d in draws)
    x = np.random.default_rng(1).standard_normal(3 * SAMPLE_RATE).astype(np.float32) * 0.1
    c = {"seed": 11, "room": dict(cond.HALL), "eq": True, "band": [300.0, 3400.0],
         "noise": {"type": "babble", "snr_db": 20.0}, "gain_db": -6.0}
    y1, d1 = cond.apply_conditions(x, c)
    y2, d2 = cond.apply_conditions(x, c)
    assert np.array_equal(y1, y2) and d1 == d2 and y1.shape == x.shape
    y3, _ = cond.apply_conditions(x, {**c, "seed": 12})
    assert not np.allclose(y1, y3)
    assert np.max(np.abs(y1)) <= 0.97


def test_recording_level_is_milder_and_full_is_unchanged_in_shape():
    full = [cond.draw_conditions(np.random.default_rng(s), "full") for s in range(400)]
    rec = [cond.draw_conditions(np.random.default_rng(s), "recording") for s in range(400)]
    # the same seed gives the same piano, tuning, touch and room at both levels
    for f, r in zip(full, rec):
        for k in ("seed", "detune_cents", "stretch_cents", "uneven_cents", "touch_gamma", "room", "eq"):
            assert f.get(k) == r.get(k)
    snr = [c["noise"]["snr_db"] for c in rec if "noise" in c]
    kbps = [c["codec"]["kbps"] for c in rec if "codec" in c]
    assert snr and min(snr) >= 30.0 and kbps and min(kbps) >= 96
    assert not any("band" in c for c in rec)
    assert sum("noise" in c for c in rec) < sum("noise" in c for c in full)
    # training keeps its hard cases
    assert min(c["noise"]["snr_db"] for c in full if "noise" in c) < 20.0
    assert min(c["codec"]["kbps"] for c in full if "codec" in c) < 64
    assert any("band" in c for c in full)
    with pytest.raises(ValueError):
        cond.draw_conditions(np.random.default_rng(0), "studio")


def test_calibration_set_adds_other_validation_performances_only(tmp_path, monkeypatch):
    split = {"train": [(f"T/p{i}.mid", f"T{i}") for i in range(6)],
             "validation": [(f"V/q{i}/perf{i}.mid", f"V{i % 7}") for i in range(30)],
             "test": [(f"X/r{i}.mid", f"X{i}") for i in range(5)]}
    monkeypatch.setattr(c2.c1, "read_asap_split", lambda d: split)
    base = c2.plan(tmp_path, 0, ("validation", "heldout", "train"), 2, None, 1, 8, 3)
    with_cal = c2.plan(tmp_path, 0, c2.SETS, 2, None, 1, 8, 3, n_cal=10)
    assert with_cal[:len(base)] == base  # the other sets do not move
    cal = with_cal[len(base):]
    assert len(cal) == 10 and all(t.set == "calibration" and t.max_segments == 1 for t in cal)
    val_stems = {t.stem for t in base if t.set == "validation"}
    valid = {c2.c1._stem_of(rel) for rel, _ in split["validation"]}
    assert {t.stem for t in cal} <= valid and not {t.stem for t in cal} & val_stems
    # calibration items are played by a training sampled piano in recording conditions
    monkeypatch.setattr(c2, "discover_pianos", lambda d=None, role=None: [
        p for p in PIANOS if p.role == (role or p.role)])
    for si in range(20):
        (folder, _, timbre, c), = c2.item_plan(cal[0], si, c2.V2Config("/nonexistent"), [])
        assert folder == "calibration" and not timbre.startswith("gm:")
        assert timbre != c2.HELDOUT_PIANO
        assert c.get("noise", {"snr_db": 30})["snr_db"] >= 30 and "band" not in c


@pytest.mark.parametrize("kind", cond.NOISES)
def test_noises_unit_rms(kind):
    y = cond.make_noise(kind, SAMPLE_RATE, np.random.default_rng(0))
    assert y.shape == (SAMPLE_RATE,) and np.sqrt(np.mean(y.astype(np.float64) ** 2)) == pytest.approx(1, rel=1e-3)


def test_hall_ir_direct_path_first_and_decays():
    ir = cond.room_ir(cond.HALL, np.random.default_rng(0))
    assert ir[0] == 1.0 and np.all(np.abs(ir[1:int(0.03 * SAMPLE_RATE)]) == 0.0)
    e = ir.astype(np.float64) ** 2
    early = e[int(0.05 * SAMPLE_RATE):int(0.15 * SAMPLE_RATE)].sum()
    late = e[int(1.05 * SAMPLE_RATE):int(1.15 * SAMPLE_RATE)].sum()
    assert 10 * np.log10(early / late) == pytest.approx(30.0, abs=6.0)  # -60 dB per 2 s


def test_touch_curve_monotone():
    v = np.arange(1, 128)
    assert np.array_equal(cond.touch(v, {"seed": 0}), v)
    soft = cond.touch(v, {"seed": 0, "touch_gamma": 1.4})
    assert np.all(np.diff(soft) >= 0) and soft[63] < 64 and soft[-1] == 127


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("name", list(cond.CODECS))
def test_codec_keeps_length_and_alignment(name):
    rng = np.random.default_rng(3)
    x = np.zeros(2 * SAMPLE_RATE, np.float32)
    t = np.arange(4000) / SAMPLE_RATE
    for i in (3000, 14000, 25000):  # decaying tone bursts
        x[i:i + 4000] += 0.4 * np.sin(2 * np.pi * rng.uniform(200, 1000) * t) * np.exp(-6 * t)
    y = cond.codec(x, name, 64)
    assert y.shape == x.shape
    cc = np.correlate(y[2000:30000], x[2000:30000], mode="full")
    assert abs(int(np.argmax(cc)) - (28000 - 1)) <= 1  # no delay left


def _fake_render(perf, timbre, seconds, c, cfg):
    """Noise wherever notes sound: fast, and enough for verify_audio."""
    x = np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32)
    rng = np.random.default_rng(0)
    for n in perf.notes:
        a, b = int(n.start * SAMPLE_RATE), int(n.end * SAMPLE_RATE)
        x[a:b] += 0.1 * rng.standard_normal(b - a).astype(np.float32)
    return x


def test_labels_unchanged_by_conditions_and_build_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(c2, "render_item", _fake_render)
    monkeypatch.setattr(cond, "P_CODEC", 0.0)  # keep it fast
    task = c2.Task("validation", "proc", "00003", proc_seed=3)
    labels = []
    for seed in (0, 1):
        cfg = c2.V2Config(str(tmp_path / f"s{seed}"), seed=seed, segment_seconds=20.0)
        res = c2.process_task(task, cfg)
        assert res and all(r["status"] in ("ok", "empty") for r in res), res
        mids = sorted((tmp_path / f"s{seed}" / "validation").glob("*.mid"))
        labels.append([notes_from_midi(m, sustain=True) for m in mids])
    metas = [sorted((tmp_path / f"s{s}" / "validation").glob("*.json")) for s in (0, 1)]
    import json

    assert json.loads(metas[0][0].read_text())["conditions"] != json.loads(metas[1][0].read_text())["conditions"]
    assert len(labels[0]) == len(labels[1]) > 0
    for a, b in zip(*labels):
        assert np.array_equal(a.pitch, b.pitch) and np.allclose(a.onset, b.onset)
        assert np.allclose(a.offset, b.offset) and np.array_equal(a.velocity, b.velocity)
    # resumable: a second run skips everything; a lost item comes back bit-identical
    cfg = c2.V2Config(str(tmp_path / "s0"), seed=0, segment_seconds=20.0)
    assert all(r["status"] == "skipped" for r in c2.process_task(task, cfg))
    flac = sorted((tmp_path / "s0" / "validation").glob("*.flac"))[0]
    before = flac.read_bytes()
    flac.unlink()
    res = c2.process_task(task, cfg)
    assert sum(r["status"] == "ok" for r in res) == 1
    assert flac.read_bytes() == before


def test_labels_follow_pedal_extended_ends():
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, 60, 0.0, 0.5), pretty_midi.Note(70, 64, 1.0, 1.2)]
    inst.control_changes = [pretty_midi.ControlChange(64, 127, 0.2), pretty_midi.ControlChange(64, 0, 2.0)]
    pm.instruments.append(inst)
    from par_studio.train.corpus import performance_from_pretty_midi

    n = c2.perf_notes(performance_from_pretty_midi(pm), 5.0)
    assert list(n.offset) == [2.0, 2.0]  # held to the pedal release, as the labels are


def test_heldout_plan_has_the_six_variants_of_one_segment():
    task = c2.Task("heldout", "asap", "x")
    plan = c2.item_plan(task, 0, c2.V2Config("/nonexistent"), [])
    folders = [p[0] for p in plan]
    assert folders == [f"heldout/{t}{v}" for t in ("freepats", "splendid") for v in c2.HELDOUT_VARIANTS]
    assert len({p[1] for p in plan}) == 1  # the same segment in every variant
    by = {p[0]: p[3] for p in plan}
    assert by["heldout/splendid-detune35"]["detune_cents"] == 35.0
    assert by["heldout/freepats-hall"]["room"]["rt60"] == 2.0
    assert "room" not in by["heldout/splendid"] and "detune_cents" not in by["heldout/splendid"]
    assert [p.name for p in PIANOS if p.role == "heldout"] == [c2.HELDOUT_PIANO]


def _have_sfizz() -> bool:
    import importlib.util

    return importlib.util.find_spec("pysfizz") is not None


@pytest.mark.skipif(not discover_pianos(), reason="sampled pianos not installed")
@pytest.mark.skipif(not _have_sfizz(), reason="pysfizz not installed (pip install -e '.[train]')")
def test_sampled_piano_renders_detuned_note():
    from par_studio.train.sampled_pianos import load_synth, piano_by_name

    s = load_synth(piano_by_name("upright_kw"))
    a = render_note(s, 69, 90, 0.8, 1.0, 0.0)
    b = render_note(s, 69, 90, 0.8, 1.0, 35.0)
    got = 1200 * np.log2(_f0(b[1600:9800], 400, 480) / _f0(a[1600:9800], 400, 480))
    assert abs(got - 35.0) < 3.0


def test_soundfont_detune_is_a_pitch_bend_at_zero():
    from par_studio.train.corpus import tune_pretty_midi

    pm = pretty_midi.PrettyMIDI()
    pm.instruments = [pretty_midi.Instrument(0), pretty_midi.Instrument(0)]
    pm.instruments[0].notes = [pretty_midi.Note(80, 60, 0.0, 1.0)]
    tune_pretty_midi(pm, 35.0)
    for inst in pm.instruments:
        assert [(b.pitch, b.time) for b in inst.pitch_bends] == [(round(35 / 200 * 8192), 0.0)]
    assert pm.instruments[0].notes[0].start == 0.0  # timing untouched


def test_interrupted_build_says_how_to_resume(tmp_path, monkeypatch, capsys):
    """Ctrl-C during a build ends with a message naming the folder and exit 130, no traceback."""
    import par_studio.train.corpus_v2 as c2

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(c2, "build", stop)
    assert c2.main(["--out", str(tmp_path / "c"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and str(tmp_path / "c") in err and "again" in err
