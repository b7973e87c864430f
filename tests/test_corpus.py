"""Tests of the training-corpus builder (procedural MIDI, augmentation, segmenting, build)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from par_studio.constants import MAX_MIDI, MIN_MIDI, SAMPLE_RATE, SUSTAIN_CC
from par_studio.train import augment as aug
from par_studio.train.corpus import (
    GEN_COARSETUNE,
    GEN_VOLENVRELEASE,
    ZONE_SHIFT_PREROLL_S,
    BuildConfig,
    Performance,
    build_corpus,
    cut_segment,
    default_asap_dir,
    envelope_events,
    pick_envelope,
    preroll_seconds,
    render,
    segment_bounds,
    to_pretty_midi,
)
from par_studio.train.procedural import generate_piece
from par_studio.train.soundfonts import APT_PACKAGES, Timbre, discover_timbres

HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None
needs_fluidsynth = pytest.mark.skipif(
    not HAVE_FLUIDSYNTH,
    reason="fluidsynth is not installed (apt-get install " + " ".join(APT_PACKAGES) + ")",
)


# --- procedural ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_procedural_covers_extremes_restrikes_and_pedal(seed):
    pm = generate_piece(seed)
    notes = pm.instruments[0].notes
    assert 20.0 <= pm.get_end_time() <= 91.0
    pitches = np.array([n.pitch for n in notes])
    assert pitches.min() >= MIN_MIDI and pitches.max() <= MAX_MIDI
    assert pitches.min() < MIN_MIDI + 12, "lowest octave missing"
    assert pitches.max() > MAX_MIDI - 12, "highest octave missing"
    vel = np.array([n.velocity for n in notes])
    assert vel.min() >= 5 and vel.max() <= 127
    # re-strikes of the same key 40-150 ms apart
    by_pitch: dict[int, list[float]] = {}
    for n in notes:
        by_pitch.setdefault(n.pitch, []).append(n.start)
    iois = np.concatenate([np.diff(sorted(v)) for v in by_pitch.values() if len(v) > 1])
    assert np.sum((iois >= 0.039) & (iois <= 0.151)) >= 4
    ped = [c for c in pm.instruments[0].control_changes if c.number == SUSTAIN_CC]
    assert any(c.value >= 64 for c in ped) and any(c.value < 64 for c in ped)


def test_procedural_is_deterministic_and_varied():
    a, b, c = generate_piece(7), generate_piece(7), generate_piece(8)
    key = lambda pm: [(n.pitch, n.start, n.velocity) for n in pm.instruments[0].notes]  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)
    # chords of 5-10 notes appear somewhere in a handful of pieces
    biggest = 0
    for s in range(6):
        starts = np.round([n.start for n in generate_piece(s).instruments[0].notes], 2)
        _, counts = np.unique(starts, return_counts=True)
        biggest = max(biggest, counts.max())
    assert biggest >= 5


def test_procedural_pieces_with_a_very_short_last_section():
    """Seed 37 ends with a section shorter than the pedal's random delay; it used to fail with
    an inverted pedal range. Every pedal press must come before its release."""
    pm = generate_piece(37)
    ped = sorted((c.time, c.value >= 64) for c in pm.instruments[0].control_changes if c.number == SUSTAIN_CC)
    assert ped and ped[0][1]
    downs = [t for t, d in ped if d]
    ups = [t for t, d in ped if not d]
    assert len(downs) == len(ups) and all(u > d for d, u in zip(downs, ups))

# --- augmentation -------------------------------------------------------------------


def _click(n=SAMPLE_RATE * 2, at=8000):
    x = np.zeros(n, dtype=np.float32)
    x[at] = 0.8
    return x


def test_augment_keeps_length_dtype_and_peak():
    x = (np.random.default_rng(0).standard_normal(SAMPLE_RATE * 3) * 0.3).astype(np.float32)
    for seed in range(5):
        y, params = aug.augment(x, np.random.default_rng(seed))
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.max(np.abs(y)) <= aug.PEAK_LIMIT + 1e-6
        json.dumps(params)  # manifest-serialisable


def test_augment_is_seeded_deterministic():
    x = (np.random.default_rng(1).standard_normal(SAMPLE_RATE) * 0.1).astype(np.float32)
    y1, p1 = aug.augment(x, np.random.default_rng(42))
    y2, p2 = aug.augment(x, np.random.default_rng(42))
    y3, _ = aug.augment(x, np.random.default_rng(43))
    assert p1 == p2 and np.array_equal(y1, y2)
    assert not np.array_equal(y1, y3)


def test_room_ir_starts_with_direct_impulse():
    for seed in range(10):
        ir, _ = aug.make_room_ir(np.random.default_rng(seed), rt60=float(0.1 + 0.14 * seed))
        assert ir[0] == 1.0 and np.argmax(np.abs(ir)) == 0


@pytest.mark.parametrize("seed", range(12))
def test_augment_does_not_shift_a_click(seed):
    at = 8000
    x = _click(at=at)
    y, params = aug.augment(x, np.random.default_rng(seed))
    assert int(np.argmax(np.abs(y))) == at, params
    # nothing of the click appears well before it (zero-phase filters ring only briefly)
    before = np.max(np.abs(y[: at - 160]))
    assert before < 0.5 * np.max(np.abs(y)), params


def test_augment_levels():
    x = _click()
    y, p = aug.augment(x, np.random.default_rng(0), "none")
    assert np.array_equal(y, x) and p["level"] == "none"
    y, p = aug.augment(x, np.random.default_rng(0), "light")
    assert "reverb" not in p and "noise" not in p and int(np.argmax(np.abs(y))) == 8000


# --- segmenting ---------------------------------------------------------------------


def test_cut_segment_keeps_exactly_the_notes_inside():
    notes = [
        pretty_midi.Note(80, 60, 0.5, 1.0),  # before the segment
        pretty_midi.Note(81, 62, 1.5, 2.5),  # crosses the start: clipped
        pretty_midi.Note(82, 64, 3.0, 3.5),  # inside
        pretty_midi.Note(83, 65, 4.5, 6.0),  # crosses the end: clipped
        pretty_midi.Note(84, 67, 6.0, 7.0),  # starts at the end: out
        pretty_midi.Note(85, 69, 1.99, 2.005),  # clipped to < 20 ms: dropped
    ]
    pedal = [(1.0, 127), (3.2, 0), (4.0, 100)]
    seg = cut_segment(Performance(notes, pedal), 2.0, 5.0)
    got = [(n.pitch, round(n.start, 6), round(n.end, 6), n.velocity) for n in seg.notes]
    assert got == [(62, 0.0, 0.5, 81), (64, 1.0, 1.5, 82), (65, 2.5, 3.0, 83)]
    # pedal down at the start carried to t=0, events inside shifted, released at the end
    assert seg.pedal[0] == (0.0, 127)
    assert [(round(t, 6), v) for t, v in seg.pedal[1:]] == [(1.2, 0), (2.0, 100), (3.0, 0)]
    # the written MIDI holds the same notes
    pm = to_pretty_midi(seg)
    assert [(n.pitch, round(n.start, 3)) for n in pm.instruments[0].notes] == [(62, 0.0), (64, 1.0), (65, 2.5)]


def test_segment_bounds():
    assert segment_bounds(65.0, 30.0) == [(0.0, 30.0), (30.0, 60.0), (60.0, 65.0)]
    assert segment_bounds(61.0, 30.0) == [(0.0, 30.0), (30.0, 60.0)]  # 1 s remainder dropped
    assert segment_bounds(10.0, 30.0) == [(0.0, 10.0)]


# --- timbres & end to end -----------------------------------------------------------


@needs_fluidsynth
def test_timbres_have_train_and_held_out():
    ts = discover_timbres()
    train = [t for t in ts if t.split == "train"]
    test = [t for t in ts if t.split == "test"]
    assert len(train) >= 3
    assert test, "held-out timbre missing (apt-get install timidity freepats)"
    assert not {(t.renderer, t.path) for t in test} & {(t.renderer, t.path) for t in train}


@needs_fluidsynth
def test_build_tiny_corpus_and_resume(tmp_path, monkeypatch):
    import par_studio.train.procedural as proc

    asap = default_asap_dir()
    if not (asap / "split.csv").is_file():
        pytest.skip(f"ASAP data not found at {asap}")
    # short procedural pieces keep the test fast
    orig = proc.generate_piece
    monkeypatch.setattr(
        "par_studio.train.corpus.generate_piece", lambda seed: orig(seed, duration=6.0)
    )
    kw = dict(procedural=2, max_train_performances=1, segments_per_performance=1, max_val=0,
              max_test=0, segment_seconds=4.0, seed=3, jobs=1, progress=False)
    s1 = build_corpus(tmp_path, asap, **kw)
    assert s1["failed"] == 0, s1["failures"]
    flacs = sorted(tmp_path.glob("train/*.flac"))
    assert len(flacs) == s1["rendered"] >= 3  # 2 procedural pieces (2 segments each) + 1 ASAP
    assert any(f.name.startswith("asap_") for f in flacs)
    assert any(f.name.startswith("proc_") for f in flacs)
    import soundfile as sf

    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == len(flacs)
    for m in lines:
        audio, sr = sf.read(tmp_path / m["audio"], dtype="float32")
        assert sr == SAMPLE_RATE and audio.ndim == 1
        assert abs(len(audio) / sr - m["duration_s"]) < 1e-3
        pm = pretty_midi.PrettyMIDI(str(tmp_path / m["midi"]))
        assert len(pm.instruments[0].notes) == m["n_notes"] > 0
        assert pm.get_end_time() <= len(audio) / sr
        assert m["duration_s"] <= 4.0 + 1.0 + 1e-6
        assert -3 <= m["transposition"] <= 3 and m["split"] == "train"
        assert np.max(np.abs(audio)) > 1e-3
    s2 = build_corpus(tmp_path, asap, **kw)
    assert s2["rendered"] == 0 and s2["skipped"] == s1["rendered"]
    assert (tmp_path / "manifest.jsonl").read_text().count("\n") == len(flacs)


# --- release variation (--timbre-variety) --------------------------------------------


def _release_seconds(audio: np.ndarray, note_end: float, drop_db: float = 30.0) -> float:
    """Seconds after ``note_end`` until the 10 ms RMS falls ``drop_db`` below its level just
    before the note end."""
    hop = SAMPLE_RATE // 100
    n = len(audio) // hop
    db = 20 * np.log10(np.sqrt((audio[: n * hop].reshape(n, hop) ** 2).mean(1)) + 1e-9)
    i = int(note_end * 100)
    ref = db[i - 5]
    after = np.nonzero(db[i:] < ref - drop_db)[0]
    assert after.size, "the note never decays"
    return after[0] / 100


def test_envelope_events_survive_the_midi_file_in_order(tmp_path):
    perf = Performance([pretty_midi.Note(80, 60, 0.0, 1.0)], [(0.0, 0)])
    pm = to_pretty_midi(perf, 0, envelope={"release_tc": 1200})
    pm.write(str(tmp_path / "e.mid"))
    import mido

    ccs = [(m.control, m.value) for m in mido.MidiFile(str(tmp_path / "e.mid")).tracks[1]
           if m.type == "control_change" and m.control in (6, 38, 98, 99)]
    data = 8192 + 600
    assert ccs == [(99, 120), (98, 38), (38, data & 0x7F), (6, data >> 7)]
    assert envelope_events(None) == [] and envelope_events({"release_tc": 0}) == []


@needs_fluidsynth
@pytest.mark.parametrize("pitch", [40, 72])
def test_release_offset_lengthens_and_shortens_the_release(tmp_path, pitch):
    fluid = [t for t in discover_timbres() if t.renderer == "fluidsynth"][0]
    perf = Performance([pretty_midi.Note(90, pitch, 0.0, 1.0)], [])
    rel = {tc: _release_seconds(render(perf, fluid, 4.0, tmp_path, {"release_tc": tc} if tc else None), 1.0)
           for tc in (-600, 0, 2400)}
    assert rel[-600] < rel[0] < rel[2400]
    assert rel[2400] > 2.0 * rel[0]  # +2400 timecents: four times the release time


def test_pick_envelope_only_for_training_items_with_variety():
    fluid = Timbre("f", "fluidsynth", "x.sf2", 0, "train")
    timid = Timbre("t", "timidity", "x.cfg", 0, "test")
    on = BuildConfig("out", 0, 30.0, [], timbre_variety=True)
    off = BuildConfig("out", 0, 30.0, [])
    picks = [pick_envelope(on, "train", fluid, "asap", f"s{i}", 0) for i in range(200)]
    varied = [p["release_tc"] for p in picks if p]
    assert 0.65 < len(varied) / len(picks) < 0.95
    assert min(varied) >= -600 and max(varied) <= 2400 and max(varied) - min(varied) > 1500
    assert picks == [pick_envelope(on, "train", fluid, "asap", f"s{i}", 0) for i in range(200)]
    assert all(pick_envelope(off, "train", fluid, "asap", f"s{i}", 0) is None for i in range(50))
    for split in ("validation", "test"):
        assert all(pick_envelope(on, split, fluid, "asap", f"s{i}", 0) is None for i in range(50))
    assert all(pick_envelope(on, "train", timid, "asap", f"s{i}", 0) is None for i in range(50))


# --- sample-zone shift (--zone-shift) -------------------------------------------------


def _fundamental_hz(audio: np.ndarray, start: float, seconds: float = 1.0) -> float:
    seg = audio[int(start * SAMPLE_RATE): int((start + seconds) * SAMPLE_RATE)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / SAMPLE_RATE)
    spec[freqs < 80] = 0
    return float(freqs[np.argmax(spec)])


def test_zone_shift_moves_keys_and_retunes_before_the_first_note(tmp_path):
    perf = Performance([pretty_midi.Note(80, 60, 0.0, 1.0)], [(0.0, 127), (0.5, 0)])
    pm = to_pretty_midi(perf, 0, envelope={"release_tc": 1200, "zone_shift": -3})
    pm.write(str(tmp_path / "z.mid"))
    import mido

    t = 0.0
    events = []
    mf = mido.MidiFile(str(tmp_path / "z.mid"))
    for m in mido.merge_tracks(mf.tracks):
        t += mido.tick2second(m.time, mf.ticks_per_beat, 500000)
        if m.type in ("note_on", "control_change"):
            events.append((round(t, 3), m.type, getattr(m, "note", getattr(m, "control", None))))
    ccs = [e for e in events if e[1] == "control_change" and e[2] in (6, 38, 98, 99)]
    assert [c[2] for c in ccs] == [99, 98, 38, 6] * 2
    note_on = [e for e in events if e[1] == "note_on"][0]
    assert note_on[2] == 57  # played three keys lower ...
    assert note_on[0] >= max(c[0] for c in ccs)  # ... after the retuning has arrived
    data = 8192 + 3  # coarse tune +3 semitones brings it back to MIDI 60
    assert [(c.number, c.value) for c in envelope_events({"zone_shift": -3})] == \
        [(99, 120), (98, 51), (38, data & 0x7F), (6, data >> 7)]


@needs_fluidsynth
def test_zone_shift_keeps_pitch_and_timing_but_changes_the_sound(tmp_path):
    fluid = [t for t in discover_timbres() if t.renderer == "fluidsynth"][0]
    perf = Performance([pretty_midi.Note(90, 60, 0.5, 2.0)], [])
    plain = render(perf, fluid, 3.0, tmp_path, None)
    shifted = render(perf, fluid, 3.0, tmp_path, {"zone_shift": 4})
    assert len(shifted) == len(plain)
    hz = 440.0 * 2 ** ((60 - 69) / 12)
    for audio in (plain, shifted):
        assert abs(_fundamental_hz(audio, 0.7) / hz - 1) < 0.02  # middle C in both
        onset = np.flatnonzero(np.abs(audio) > 0.05 * np.abs(audio).max())[0] / SAMPLE_RATE
        assert 0.49 <= onset <= 0.52  # the pre-roll is trimmed: the note starts on time
    # other samples: the two renders are far from identical in their spectra
    a = np.abs(np.fft.rfft(plain[8000:24000]))
    b = np.abs(np.fft.rfft(shifted[8000:24000]))
    corr = float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    assert corr < 0.97


def test_pick_envelope_zone_shift_keeps_the_release_draws():
    fluid = Timbre("f", "fluidsynth", "x.sf2", 0, "train")
    rel = BuildConfig("out", 0, 30.0, [], timbre_variety=True)
    both = BuildConfig("out", 0, 30.0, [], timbre_variety=True, zone_shift=True)
    only = BuildConfig("out", 0, 30.0, [], zone_shift=True)
    a = [pick_envelope(rel, "train", fluid, "asap", f"s{i}", 0) or {} for i in range(300)]
    b = [pick_envelope(both, "train", fluid, "asap", f"s{i}", 0) or {} for i in range(300)]
    assert [x.get("release_tc") for x in a] == [x.get("release_tc") for x in b]
    shifts = [x["zone_shift"] for x in b if "zone_shift" in x]
    assert 0.55 < len(shifts) / len(b) < 0.85
    assert set(shifts) == {s for s in range(-5, 6) if s}
    picks = [pick_envelope(only, "train", fluid, "asap", f"s{i}", 0) for i in range(100)]
    assert all(p is None or set(p) == {"zone_shift"} for p in picks)
    for split in ("validation", "test"):
        assert all(pick_envelope(both, split, fluid, "asap", f"s{i}", 0) is None for i in range(50))


def test_extra_timbres_only_in_training_with_variety():
    from par_studio.train.corpus import _split_timbres

    ts = [Timbre("a", "fluidsynth", "a.sf2", 0, "train").to_dict(),
          Timbre("x", "fluidsynth", "x.sf2", 0, "train", extra=True).to_dict(),
          Timbre("t", "timidity", "t.cfg", 0, "test").to_dict()]
    on = BuildConfig("out", 0, 30.0, ts, timbre_variety=True)
    off = BuildConfig("out", 0, 30.0, ts)
    names = lambda cfg, split: [t.name for t in _split_timbres(cfg, split)]  # noqa: E731
    assert names(on, "train") == ["a", "x"]
    assert names(off, "train") == names(on, "validation") == names(off, "validation") == ["a"]
    assert names(on, "test") == ["t"]


# --- per-register sample zones (--register-zones) -------------------------------------


def _channel_notes(pm):
    return [sorted(n.pitch for n in inst.notes) for inst in pm.instruments]


def test_register_zones_put_each_register_on_its_own_channel(tmp_path):
    perf = Performance([pretty_midi.Note(80, p, 0.1 * i, 0.1 * i + 0.5)
                        for i, p in enumerate((30, 50, 70, 90))], [(0.0, 127), (1.0, 0)])
    env = {"registers": [{"low": 0, "high": 47, "zone_shift": 3, "release_tc": 600},
                         {"low": 48, "high": 79, "zone_shift": 0},
                         {"low": 80, "high": 127, "zone_shift": -6}]}
    pm = to_pretty_midi(perf, 0, end_marker=2.0, envelope=env)
    assert _channel_notes(pm) == [[33], [50, 70], [84]]  # moved by each register's own shift
    pm.write(str(tmp_path / "r.mid"))
    import mido

    mf = mido.MidiFile(str(tmp_path / "r.mid"))
    t, first_note, nrpn = 0.0, {}, {}
    for m in mido.merge_tracks(mf.tracks):
        t += mido.tick2second(m.time, mf.ticks_per_beat, 500000)
        if m.type == "note_on" and m.velocity:
            first_note.setdefault(m.channel, t)
        if m.type == "control_change":
            nrpn.setdefault(m.channel, []).append((m.control, m.value, t))
    assert sorted(first_note) == [0, 1, 2]
    for ch, ccs in nrpn.items():
        assert [c for c, v, _ in ccs if c == 64] == [64, 64]  # the pedal on every channel
        retune = [tt for c, v, tt in ccs if c == 6]
        assert all(tt <= first_note[ch] for tt in retune)  # NRPNs arrive before the notes
    lsb = [v for c, v, _ in nrpn[0] if c == 98]
    assert lsb == [GEN_VOLENVRELEASE, GEN_COARSETUNE]  # channel 0: release and shift
    assert [v for c, v, _ in nrpn[1] if c == 98] == []  # channel 1: the SoundFont as it is
    assert preroll_seconds(env) == ZONE_SHIFT_PREROLL_S
    assert preroll_seconds({"registers": [{"low": 0, "high": 127, "release_tc": 600}]}) == 0.0


@needs_fluidsynth
def test_register_zones_keep_every_pitch(tmp_path):
    fluid = [t for t in discover_timbres() if t.renderer == "fluidsynth"][0]
    perf = Performance([pretty_midi.Note(90, 48, 0.5, 1.6), pretty_midi.Note(90, 72, 2.0, 3.1)], [])
    env = {"registers": [{"low": 0, "high": 59, "zone_shift": 6},
                         {"low": 60, "high": 127, "zone_shift": -5}]}
    audio = render(perf, fluid, 4.0, tmp_path, env)
    assert len(audio) == 4 * SAMPLE_RATE
    for pitch, start in ((48, 0.5), (72, 2.0)):
        hz = 440.0 * 2 ** ((pitch - 69) / 12)
        assert abs(_fundamental_hz(audio, start + 0.2, 0.8) / hz - 1) < 0.02
    onset = np.flatnonzero(np.abs(audio) > 0.05 * np.abs(audio).max())[0] / SAMPLE_RATE
    assert 0.49 <= onset <= 0.52


def test_pick_envelope_register_zones():
    fluid = Timbre("f", "fluidsynth", "x.sf2", 0, "train")
    cfg = BuildConfig("out", 0, 30.0, [], timbre_variety=True, zone_shift=True, register_zones=True)
    picks = [pick_envelope(cfg, "train", fluid, "asap", f"s{i}", 0) for i in range(400)]
    regs = [p["registers"] for p in picks if p and "registers" in p]
    assert 0.6 < len(regs) / len(picks) < 0.8
    assert {len(r) for r in regs} == {2, 3, 4}
    shifts = set()
    for r in regs:
        assert r[0]["low"] == 0 and r[-1]["high"] == 127
        assert all(a["high"] + 1 == b["low"] for a, b in zip(r, r[1:]))  # no gap, no overlap
        assert all(36 <= b["low"] <= 84 for b in r[1:])
        shifts |= {x["zone_shift"] for x in r}
    assert shifts == set(range(-7, 8))
    assert any("release_tc" in x for r in regs for x in r)
    # the other items keep their item-wide draws
    plain = BuildConfig("out", 0, 30.0, [], timbre_variety=True, zone_shift=True)
    for i, p in enumerate(picks):
        if not (p and "registers" in p):
            assert p == pick_envelope(plain, "train", fluid, "asap", f"s{i}", 0)
    for split in ("validation", "test"):
        assert all(pick_envelope(cfg, split, fluid, "asap", f"s{i}", 0) is None for i in range(50))


def test_zone_shift_never_moves_a_note_off_the_keyboard():
    perf = Performance([pretty_midi.Note(80, p, 0.0, 0.5) for p in (22, 60, 104, 108)], [])
    pm = to_pretty_midi(perf, 0, envelope={"zone_shift": 5, "release_tc": 600})
    assert _channel_notes(pm) == [[27, 65], [104, 108]]  # 109 and 113 would be silent
    lsb = [[c.value for c in inst.control_changes if c.number == 98] for inst in pm.instruments]
    assert lsb == [[GEN_VOLENVRELEASE, GEN_COARSETUNE], [GEN_VOLENVRELEASE]]  # no retuning
    pm = to_pretty_midi(perf, 0, envelope={"registers": [{"low": 0, "high": 40, "zone_shift": -3},
                                                         {"low": 41, "high": 127, "zone_shift": -7}]})
    # 22 - 3 = 19 is below the keyboard: unshifted, on a channel of its own
    assert _channel_notes(pm) == [[], [22], [53, 97, 101]]


@needs_fluidsynth
def test_zone_shift_at_the_top_key_still_sounds(tmp_path):
    fluid = [t for t in discover_timbres() if t.renderer == "fluidsynth"][0]
    perf = Performance([pretty_midi.Note(100, 106, 0.5, 1.0)], [])
    audio = render(perf, fluid, 1.5, tmp_path, {"zone_shift": 5})
    plain = render(perf, fluid, 1.5, tmp_path, None)
    level = lambda x: float(np.sqrt(np.mean(x[8000:14000] ** 2)))  # noqa: E731
    assert level(audio) > 0.5 * level(plain) > 0


def test_items_whose_names_hold_dots_do_not_collide(tmp_path):
    """ASAP has pieces like ``Impromptu_op.90_D.899``: their segments are separate items."""
    from par_studio.train.corpus import item_exists, rebuild_manifest, write_item

    perf = Performance([pretty_midi.Note(80, 60, 0.1, 0.5)], [])
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    bases = [tmp_path / "train" / f"asap_Schubert-Impromptu_op.90_D.899-{k}-Lou01M_000_fluidr3"
             for k in (1, 2)]
    bases[0].parent.mkdir()
    assert not item_exists(bases[0])
    write_item(bases[0], audio, perf, {"split": "train", "duration_s": 1.0, "n": 1})
    assert item_exists(bases[0]) and not item_exists(bases[1])
    write_item(bases[1], audio, perf, {"split": "train", "duration_s": 1.0, "n": 2})
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == sorted(
        b.name + ext for b in bases for ext in (".flac", ".json", ".mid"))
    assert rebuild_manifest(tmp_path)["train"]["items"] == 2
