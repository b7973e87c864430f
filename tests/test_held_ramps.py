"""Tests of held-note decay variety (``build-corpus --held-ramps``)."""

from __future__ import annotations

import shutil

import mido
import numpy as np
import pretty_midi
import pytest

from par_studio.constants import SAMPLE_RATE, SUSTAIN_CC
from par_studio.train.corpus import (
    BuildConfig,
    CorpusError,
    Performance,
    pick_envelope,
    render,
    to_pretty_midi,
)
from par_studio.train.held_ramps import (
    EXPRESSION_CC,
    assign_channels,
    expression_value,
    held_ramp_channels,
    ramp_events,
    sounding_ends,
)
from par_studio.train.soundfonts import Timbre, discover_timbres

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="fluidsynth is not installed")


def N(pitch, start, end, vel=80):
    return pretty_midi.Note(vel, pitch, start, end)


def test_expression_value_inverts_the_concave_curve():
    assert expression_value(0.0) == 127 and expression_value(-3.0) == 127
    for db in (6.0, 12.0, 20.0, 24.0):
        v = expression_value(db)
        assert abs(40 * np.log10(127 / v) - db) < 0.4  # within one CC step
    assert [expression_value(d) for d in range(0, 30, 3)] == \
        sorted((expression_value(d) for d in range(0, 30, 3)), reverse=True)


def test_sounding_ends_follow_the_pedal_and_restrikes():
    notes = [N(60, 0.0, 0.5), N(64, 0.2, 0.4), N(60, 1.5, 2.0), N(67, 3.0, 3.2)]
    pedal = [(0.3, 127), (2.5, 0)]
    ends = sounding_ends(notes, pedal)
    # 60 is held by the pedal but struck again at 1.5; 64 rings to the pedal release; 67 is dry
    assert np.allclose(ends, [1.5, 2.5, 2.5, 3.2])


def test_assign_channels_one_sounding_note_per_channel():
    notes = [N(60, 0.0, 1.0), N(64, 0.1, 1.0), N(67, 0.2, 1.0), N(72, 0.3, 1.0), N(60, 0.6, 1.2)]
    ends = sounding_ends(notes, [])
    ch = assign_channels(notes, ends, tail_s=0.5, n_ramp=3)
    assert ch[0] == ch[4]  # the struck-again key stays on its channel (the synth cuts the old voice)
    assert len({ch[0], ch[1], ch[2]}) == 3 and ch[3] == 3  # no free ramp channel: the static one
    # a channel is free again once its note and release tail are over
    later = notes + [N(50, 2.0, 2.5)]
    ch2 = assign_channels(later, sounding_ends(later, []), tail_s=0.5, n_ramp=3)
    assert ch2[5] < 3


def test_ramp_events_rise_while_held_and_stop_at_release():
    ev = ramp_events(1.0, 1.5, atten_db=20.0, rate_db_s=10.0)
    assert ev[0].time < 1.0 and ev[0].value == expression_value(20.0)
    times = [e.time for e in ev]
    values = [e.value for e in ev]
    assert times == sorted(times) and values == sorted(values)
    assert max(times) <= 1.5 + 1e-9  # nothing after the release
    assert abs(values[-1] - expression_value(15.0)) <= 1  # 0.5 s at 10 dB/s
    full = ramp_events(0.0, 10.0, atten_db=12.0, rate_db_s=12.0)
    assert full[-1].value == 127 and full[-1].time <= 1.0 + 1e-9  # full level after 1 s
    assert len(ramp_events(0.0, 5.0, 12.0, 0.0)) == 1  # no rise: the starting level only


def test_held_ramp_midi_keeps_every_note_and_the_pedal(tmp_path):
    rng = np.random.default_rng(0)
    notes = [N(int(rng.integers(30, 100)), t, t + float(rng.uniform(0.1, 2.0)))
             for t in np.sort(rng.uniform(0, 20, 200))]
    perf = Performance(notes, [(1.0, 127), (4.0, 0), (6.0, 100), (9.0, 0)])
    env = {"release_tc": 600, "held_ramp": {"atten_db": 18.0, "rate_db_s": 8.0}}
    pm = to_pretty_midi(perf, 0, end_marker=21.0, envelope=env)
    assert 2 <= len(pm.instruments) <= 15
    key = lambda n: (n.pitch, round(n.start, 6), round(n.end, 6))  # noqa: E731
    assert sorted(key(n) for i in pm.instruments for n in i.notes) == sorted(key(n) for n in notes)
    pm.write(str(tmp_path / "r.mid"))
    mf = mido.MidiFile(str(tmp_path / "r.mid"))
    channels, pedal, expr = set(), {}, {}
    for m in mido.merge_tracks(mf.tracks):
        if m.type == "note_on":
            channels.add(m.channel)
        if m.type == "control_change" and m.control == SUSTAIN_CC:
            pedal[m.channel] = pedal.get(m.channel, 0) + 1
        if m.type == "control_change" and m.control == EXPRESSION_CC:
            expr[m.channel] = expr.get(m.channel, 0) + 1
    assert 9 not in channels and len(channels) == len(pm.instruments)
    assert all(pedal.get(c) == 4 for c in channels)  # the pedal on every channel
    assert all(expr.get(c, 0) >= 1 for c in channels)
    # the same notes played with held ramps on at most one channel: all on the static channel
    one = held_ramp_channels(notes, perf.pedal, env["held_ramp"], n_channels=1)
    assert len(one) == 1 and len(one[0][0]) == len(notes) and len(one[0][1]) == 1


def test_held_ramp_refuses_registers_and_zone_shift():
    perf = Performance([N(60, 0.0, 1.0)], [])
    with pytest.raises(CorpusError):
        to_pretty_midi(perf, 0, envelope={"zone_shift": 2, "held_ramp": {"atten_db": 10, "rate_db_s": 5}})


@needs_fluidsynth
def test_held_ramp_slows_the_decay_of_a_held_note(tmp_path):
    fluid = [t for t in discover_timbres() if t.name == "fluidr3"] or \
        [t for t in discover_timbres() if t.renderer == "fluidsynth"]
    perf = Performance([N(60, 0.5, 2.5, 90)], [])

    def levels(env):
        x = render(perf, fluid[0], 3.5, tmp_path, env)
        db = lambda t: 10 * np.log10(np.mean(x[int(t * SAMPLE_RATE):int(t * SAMPLE_RATE) + 320] ** 2) + 1e-12)  # noqa: E731
        attack = max(db(t) for t in np.arange(0.5, 0.6, 0.01))
        return attack, db(2.3) - attack, db(2.9) - db(2.3)

    a0, held0, rel0 = levels(None)
    a1, held1, rel1 = levels({"held_ramp": {"atten_db": 20.0, "rate_db_s": 10.0}})
    assert abs((a0 - a1) - 20.0) < 2.0  # starts 20 dB down ...
    assert held1 > held0 + 10.0  # ... and has lost far less by the end of the hold
    assert rel1 < -20.0  # and is still released when the key goes up


def test_pick_envelope_held_ramps():
    fluid = Timbre("f", "fluidsynth", "x.sf2", 0, "train")
    base = dict(timbre_variety=True, zone_shift=True, register_zones=True)
    cfg = BuildConfig("out", 0, 30.0, [], held_ramps=True, **base)
    plain = BuildConfig("out", 0, 30.0, [], **base)
    keys = [("asap", f"s{i}", 0) for i in range(400)]
    picks = [pick_envelope(cfg, "train", fluid, *k) for k in keys]
    ramps = [p for p in picks if p and "held_ramp" in p]
    assert 0.4 < len(ramps) / len(picks) < 0.6
    for p in ramps:
        assert set(p) <= {"held_ramp", "release_tc"}
        assert 10.0 <= p["held_ramp"]["atten_db"] <= 24.0 and 4.0 <= p["held_ramp"]["rate_db_s"] <= 14.0
    assert any("release_tc" in p for p in ramps) and any("release_tc" not in p for p in ramps)
    for k, p in zip(keys, picks):  # the other items keep their draws
        if not (p and "held_ramp" in p):
            assert p == pick_envelope(plain, "train", fluid, *k)
    timid = Timbre("t", "timidity", "x.cfg", 0, "test")
    assert all(pick_envelope(cfg, "train", timid, *k) is None for k in keys[:50])
    for split in ("validation", "test"):
        assert all(pick_envelope(cfg, split, fluid, *k) is None for k in keys[:50])


def test_validation_ramps_give_every_validation_item_a_ramp_and_nothing_else():
    fluid = Timbre("f", "fluidsynth", "x.sf2", 0, "train")
    timid = Timbre("t", "timidity", "x.cfg", 0, "test")
    base = dict(timbre_variety=True, zone_shift=True, register_zones=True, held_ramps=True)
    cfg = BuildConfig("out", 0, 30.0, [], validation_ramps=True, **base)
    plain = BuildConfig("out", 0, 30.0, [], **base)
    keys = [("asap", f"s{i}", 0) for i in range(100)]
    picks = [pick_envelope(cfg, "validation", fluid, *k) for k in keys]
    assert all(set(p) == {"held_ramp"} for p in picks)
    assert all(10.0 <= p["held_ramp"]["atten_db"] <= 24.0 and 4.0 <= p["held_ramp"]["rate_db_s"] <= 14.0
               for p in picks)
    assert len({p["held_ramp"]["atten_db"] for p in picks}) > 50  # drawn per item
    assert all(pick_envelope(plain, "validation", fluid, *k) is None for k in keys)
    # training and test items are drawn as without the option
    for k in keys:
        assert pick_envelope(cfg, "train", fluid, *k) == pick_envelope(plain, "train", fluid, *k)
        assert pick_envelope(cfg, "test", timid, *k) is None
