"""The beat grid on the roll, tap tempo, meter choice, Quantise to the grid, Export score (the
roll then shows what the score holds) and quantised MIDI stating tempo and time signature."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("music21")

from par_studio.gui.beatgrid import TapTempo, grid_lines  # noqa: E402
from par_studio.notes import Notes  # noqa: E402
from par_studio.tempo import Meter  # noqa: E402


def prelude_notes(bpm=70.0, bars=(1, 4)) -> Notes:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_score import bwv846

    return bwv846(bpm, bars=bars, jitter=0.015, seed=5)[0]


def window_with(make_window, qtbot, notes):
    win = make_window()
    win.set_notes(notes)
    win.timeline.roll_vb.setXRange(0, 8, padding=0)
    qtbot.waitUntil(lambda: win.timeline.roll_vb.width() > 100)
    return win


def test_grid_lines_and_bar_numbers():
    m = Meter.regular(120.0, "3/4", start_s=1.0, end_s=10.0).extended(10.0)
    t, bar, num = grid_lines(m, 0.0, 4.0)
    # beats every 0.5 s, bar lines every 1.5 s from 1.0 s; the beats before 1.0 s are bar 0
    assert np.allclose(t, np.arange(0.0, 4.01, 0.5))
    assert t[bar].tolist() == [1.0, 2.5, 4.0] and num[bar].tolist() == [1, 2, 3]
    assert num[t < 1.0].max() <= 0


def test_tap_tempo_needs_four_taps_and_restarts_after_a_pause():
    tap = TapTempo()
    assert [tap.tap(t) for t in (0.0, 0.5, 1.0)] == [None, None, None]
    assert tap.tap(1.5) == pytest.approx(120.0)
    assert tap.tap(10.0) is None  # a pause: counting starts again
    for t in (10.75, 11.5):
        tap.tap(t)
    assert tap.tap(12.25) == pytest.approx(80.0)


def test_grid_follows_the_detected_meter_and_turns_off_to_seconds(qtbot, make_window):
    win = window_with(make_window, qtbot, prelude_notes(70.0))
    assert win.act_beat_grid.isChecked()
    meter = win.timeline.beat_grid.meter
    assert meter is not None and meter.time_signature == "4/4"
    assert meter.quarter_bpm == pytest.approx(70.0, rel=0.03)
    assert win.timeline.time_axis.labelText == "bar"
    # the axis numbers bars at the bar lines
    values = win.timeline.time_axis.tickValues(0.0, 8.0, 800)
    labels = win.timeline.time_axis.tickStrings(values[0][1], 1.0, 1.0)
    assert labels[:3] == ["1", "2", "3"]
    win.act_beat_grid.trigger()  # View → Beat grid off: seconds
    assert win.timeline.beat_grid.meter is None and win.timeline.time_axis.labelText == "time"
    assert win.settings.value("view/beat_grid") in (False, "false")


def test_typed_tempo_and_picked_meter_make_a_steady_grid(qtbot, make_window):
    win = window_with(make_window, qtbot, prelude_notes(70.0))
    win.set_export_tempo(90.0)
    win.meter_actions["3/4"].trigger()
    m = win.timeline.beat_grid.meter
    assert m.time_signature == "3/4" and m.quarter_bpm == pytest.approx(90.0)
    assert np.allclose(np.diff(m.beats), 60.0 / 90.0)
    win.meter_actions["6/8"].trigger()
    m = win.timeline.beat_grid.meter
    assert m.time_signature == "6/8" and m.beats_per_bar == 2 and m.quarter_bpm == pytest.approx(90.0)
    win.meter_actions["detect"].trigger()
    win.set_export_tempo(0.0)
    assert win.timeline.beat_grid.meter.quarter_bpm == pytest.approx(70.0, rel=0.03)


def test_tap_key_sets_the_tempo(qtbot, make_window, monkeypatch):
    from par_studio.gui import score_actions

    win = window_with(make_window, qtbot, prelude_notes(70.0))
    clock = iter([100.0, 100.6, 101.2, 101.8])
    monkeypatch.setattr(score_actions.time, "monotonic", lambda: next(clock))
    for _ in range(4):
        win.act_tap.trigger()
    assert win.export_tempo_setting() == pytest.approx(100.0)
    assert win.timeline.beat_grid.meter.quarter_bpm == pytest.approx(100.0)


def test_quantise_snaps_to_the_beat_grid(qtbot, make_window):
    win = window_with(make_window, qtbot, prelude_notes(70.0))
    meter = win.current_meter()
    before = len(win.notes)
    win.quantise_actions[1].trigger()  # Quantise to 1/16 (Q)
    q = meter.quarters_at(win.notes.onset)
    assert len(win.notes) == before
    assert np.allclose(q * 4, np.round(q * 4), atol=1e-6)  # every onset on a 16th of the grid
    win.act_undo.trigger()
    assert not np.allclose(meter.quarters_at(win.notes.onset) * 4,
                           np.round(meter.quarters_at(win.notes.onset) * 4), atol=1e-6)


def test_export_score_and_the_roll_agree(qtbot, make_window, tmp_path):
    import music21

    win = window_with(make_window, qtbot, prelude_notes(70.0))
    out = win.export_score(tmp_path / "prelude")  # suffix added
    assert out is not None and out.suffix == ".musicxml" and out.exists()
    s = music21.converter.parse(str(out))
    assert len(s.parts) == 2
    score_onsets = sorted(Fraction(el.offset).limit_denominator(48)
                          for p in s.parts for el in p.stripTies().flatten().notes for _ in el.pitches)
    meter = win.current_meter()
    q = meter.quarters_at(win.notes.onset)
    q = q - np.floor(q.min() / meter.bar_quarters + 1e-9) * meter.bar_quarters
    roll_onsets = sorted(Fraction(float(x)).limit_denominator(48) for x in q)
    assert roll_onsets == score_onsets  # the roll shows the score's quantised onsets
    assert win.undo_stack.undoText() == "Quantise to the score grid"
    # exporting again changes nothing on the roll (already on the grid)
    n_undo = win.undo_stack.count()
    win.export_score(tmp_path / "again.musicxml")
    assert win.undo_stack.count() == n_undo


def test_midi_exports_state_tempo_and_time_signature(qtbot, make_window, tmp_path):
    import pretty_midi

    from par_studio.midi_io import read_midi

    notes = prelude_notes(70.0)
    win = window_with(make_window, qtbot, notes)
    pm = pretty_midi.PrettyMIDI(str(win.export(tmp_path / "played.mid")))
    # from bar 1 on (the first downbeat; before it, a pickup at the tempo that fits it)
    assert pm.get_tempo_changes()[1][-1] == pytest.approx(70.0, rel=0.03)
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes][-1] == (4, 4)
    assert np.allclose(np.sort(read_midi(tmp_path / "played.mid").onset), np.sort(notes.onset), atol=2e-3)
    win.act_midi_quantised.trigger()
    pm = pretty_midi.PrettyMIDI(str(win.export(tmp_path / "quantised.mid")))
    bpm = pm.get_tempo_changes()[1][0]
    assert bpm == pytest.approx(70.0, rel=0.03)
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(4, 4)]
    ticks = np.array([pm.time_to_tick(n.start) for n in pm.instruments[0].notes])
    assert np.all(ticks % (pm.resolution // 4) <= 1)  # every note on a 16th (rounding: 1 tick)


def test_played_midi_export_puts_bar_one_on_a_late_downbeat(qtbot, make_window, tmp_path):
    """A recording that starts 2.37 s late: the played-times MIDI has a bar line on the grid's
    first downbeat, and the notes keep their times."""
    import pretty_midi

    from par_studio.midi_io import read_midi

    n = prelude_notes(70.0)
    notes = Notes(n.onset + 2.37, n.offset + 2.37, n.pitch, n.velocity)
    win = window_with(make_window, qtbot, notes)
    meter = win.current_meter()
    assert meter.downbeat_s > 2.0
    pm = pretty_midi.PrettyMIDI(str(win.export(tmp_path / "late.mid")))
    assert np.min(np.abs(pm.get_downbeats() - meter.downbeat_s)) < 0.005
    assert np.allclose(np.sort(read_midi(tmp_path / "late.mid").onset), np.sort(notes.onset), atol=2e-3)
