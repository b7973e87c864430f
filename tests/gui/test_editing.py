"""Editing the roll (select, delete, add, move, velocity, undo/redo), autosave/restore and the
synthesised notes track; offscreen, waiting on signals."""

from __future__ import annotations

import json
import os

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from par_studio.constants import FRAME_SECONDS
from par_studio.gui.editing import hit_test, notes_in_rect
from par_studio.gui.playback import render_block
from par_studio.gui.synth import NotesRenderer, midi_hz, render_notes
from par_studio.midi_io import read_midi
from par_studio.notes import Notes

from .conftest import notes_close

LONG = 120_000


def six_notes() -> Notes:
    return Notes([0.256, 0.512, 0.768, 1.024, 1.536, 2.048], [0.48, 0.72, 1.0, 1.4, 1.9, 2.4],
                 [60, 64, 67, 72, 62, 69], [50, 60, 70, 80, 90, 100])


def view_pos(win, t, p):
    """Viewport pixel of roll point (t s, pitch)."""
    vb = win.timeline.roll_vb
    return win.timeline.mapFromScene(vb.mapViewToScene(QPointF(t, p)))


def drag(qtbot, vp, points):
    """Left-button drag through ``points`` (moves carry the held button, which QTest's don't).
    Moves are paced: pyqtgraph drops moves closer than 1/mouseRateLimit (10 ms) apart."""
    qtbot.mousePress(vp, Qt.LeftButton, pos=points[0])
    for pt in points[1:]:
        qtbot.wait(1000 // max(1, pg.getConfigOption("mouseRateLimit")) + 5)
        ev = QMouseEvent(QEvent.MouseMove, QPointF(pt), QPointF(vp.mapToGlobal(pt)), Qt.NoButton,
                         Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(vp, ev)
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=points[-1])


def roll_window(make_window, qtbot, notes):
    win = make_window()
    win.set_notes(notes)
    win.timeline.roll_vb.setXRange(0, 3, padding=0)
    win.timeline.roll_vb.setYRange(55, 80, padding=0)
    win.activateWindow()
    win.timeline.setFocus()
    qtbot.waitUntil(lambda: win.timeline.roll_vb.width() > 100 and win.isActiveWindow())
    return win


def test_hit_testing_is_numpy_on_the_arrays():
    n = six_notes()
    assert hit_test(n, 0.3, 60.2) == 0
    assert hit_test(n, 0.3, 61) == -1
    assert hit_test(n, 0.49, 60, slop_s=0.02) == 0 and hit_test(n, 0.49, 60) == -1
    assert list(notes_in_rect(n, 0.5, 1.1, 63, 68)) == [1, 2]


def test_click_select_delete_undo_redo_then_export(qtbot, make_window, tmp_path):
    notes = six_notes()
    win = roll_window(make_window, qtbot, notes)
    vp = win.timeline.viewport()
    qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 0.6, 64))
    assert list(win.editor.selection) == [1]
    qtbot.mouseClick(vp, Qt.LeftButton, Qt.ShiftModifier, pos=view_pos(win, 1.2, 72))
    assert list(win.editor.selection) == [1, 3]
    assert len(win.timeline.selection_bar.opts["x0"]) == 2  # highlighted
    assert not win.isWindowModified()
    qtbot.keyClick(vp, Qt.Key_Delete)
    assert len(win.notes) == 4 and not np.isin(win.notes.pitch, [64, 72]).any()
    assert win.timeline.drawn_notes().equals(win.notes)
    assert win.isWindowModified() and "Delete 2 notes" in win.act_undo.text()
    win.act_undo.trigger()
    assert win.notes.equals(notes) and win.timeline.drawn_notes().equals(notes)
    assert list(win.editor.selection) == [1, 3]  # the selection comes back with the notes
    win.act_redo.trigger()
    assert len(win.notes) == 4
    out = win.export(tmp_path / "edited.mid")
    assert notes_close(read_midi(out), win.notes, atol=2e-3)
    assert notes_close(read_midi(out), win.timeline.drawn_notes(), atol=2e-3)
    assert not win.isWindowModified()  # exported: no "*"
    # click on empty space clears the selection (and seeks: sigSeek)
    with qtbot.waitSignal(win.timeline.sigSeek, timeout=1000) as seek:
        qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 2.8, 58))
    assert len(win.editor.selection) == 0 and abs(seek.args[0] - 2.8) < 0.05


def test_add_note_rubber_band_arrow_keys_velocity(qtbot, make_window, tmp_path):
    win = roll_window(make_window, qtbot, six_notes())
    vp = win.timeline.viewport()
    win.editor.add_note_at(2.61, 75.2)  # what a double-click on empty space calls
    k = win.editor.selection[0]
    assert len(win.notes) == 7
    assert win.notes.pitch[k] == 75 and win.notes.velocity[k] == 80
    assert np.isclose(win.notes.onset[k], round(2.61 / FRAME_SECONDS) * FRAME_SECONDS)
    assert np.isclose(win.notes.offset[k] - win.notes.onset[k], 8 * FRAME_SECONDS)
    out = win.export(tmp_path / "added.mid")
    assert notes_close(read_midi(out), win.notes, atol=2e-3)
    # a real double-click on empty space adds one too (as a desktop sends it: press, release,
    # double-click, release; QTest's mouseDClick alone sends no release)
    at = view_pos(win, 2.7, 58)
    qtbot.mouseClick(vp, Qt.LeftButton, pos=at)
    qtbot.mouseDClick(vp, Qt.LeftButton, pos=at)
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=at)
    assert len(win.notes) == 8 and 58 in win.notes.pitch
    win.act_undo.trigger()
    assert len(win.notes) == 7

    # rubber band over notes 1 and 2 (E4, G4 between 0.5 and 1.0 s)
    drag(qtbot, vp, [view_pos(win, 0.45 + 0.5 * f, 63.5 + 4 * f) for f in np.linspace(0, 1, 6)])
    assert list(win.notes.pitch[win.editor.selection]) == [64, 67]
    assert not win.timeline.rubber_band.isVisible()

    before = win.notes
    sel = before.take(win.editor.selection)
    qtbot.keyClick(vp, Qt.Key_Right)
    qtbot.keyClick(vp, Qt.Key_Right)
    qtbot.keyClick(vp, Qt.Key_Up)
    moved = win.notes.take(win.editor.selection)
    assert np.allclose(moved.onset, sel.onset + 2 * FRAME_SECONDS)
    assert np.array_equal(moved.pitch, sel.pitch + 1)
    qtbot.keyClick(vp, Qt.Key_Plus)
    assert np.array_equal(win.notes.take(win.editor.selection).velocity, sel.velocity + 8)
    assert win.timeline.drawn_notes().equals(win.notes)
    win.act_undo.trigger()  # velocity
    win.act_undo.trigger()  # the three nudges merged into one step
    assert win.notes.equals(before)

    # dragging a note moves it (snapped to frames and semitones), as one undo step
    c5 = int(np.flatnonzero(win.notes.pitch == 72)[0])
    drag(qtbot, vp, [view_pos(win, 1.2 + 0.1 * f, 72 + 2 * f) for f in np.linspace(0, 1, 5)])
    assert "Move 1 note" in win.act_undo.text()
    moved = win.notes.take(win.editor.selection)
    assert moved.pitch[0] == 74 and np.isclose(moved.onset[0], before.onset[c5] + 3 * FRAME_SECONDS)
    assert win.timeline.drawn_notes().equals(win.notes)


def test_resize_by_edge_drag_length_keys_split_and_join(qtbot, make_window, tmp_path):
    """Fixing durations by hand: drag a note's end or start, Shift+arrows, split at the
    playhead (S) and join (J); each is one undo step and the export has what is drawn."""
    notes = six_notes()
    win = roll_window(make_window, qtbot, notes)
    vp = win.timeline.viewport()
    c5 = int(np.flatnonzero(notes.pitch == 72)[0])  # 1.024 .. 1.4 s
    # hovering the end shows a resize cursor; the middle does not
    vb = win.timeline.roll_vb
    end_scene = vb.mapViewToScene(QPointF(1.4, 72))
    mid_scene = vb.mapViewToScene(QPointF(1.2, 72))
    assert win.editor.hover(vb, end_scene) == Qt.SizeHorCursor
    assert win.editor.hover(vb, mid_scene) is None
    # drag the end 0.3 s later: the offset moves (snapped), the onset and pitch do not
    drag(qtbot, vp, [view_pos(win, 1.4 + 0.3 * f, 72) for f in np.linspace(0, 1, 5)])
    assert "length" in win.act_undo.text()
    k = int(np.flatnonzero(win.notes.pitch == 72)[0])
    assert np.isclose(win.notes.onset[k], notes.onset[c5])
    assert np.isclose(win.notes.offset[k], notes.offset[c5] + round(0.3 / FRAME_SECONDS) * FRAME_SECONDS)
    assert len(win.notes) == 6 and win.timeline.drawn_notes().equals(win.notes)
    # drag the start later; a note can never become shorter than one frame
    drag(qtbot, vp, [view_pos(win, notes.onset[c5] + 2.0 * f, 72) for f in np.linspace(0, 1, 5)])
    k = int(np.flatnonzero(win.notes.pitch == 72)[0])
    assert np.isclose(win.notes.offset[k] - win.notes.onset[k], FRAME_SECONDS)
    win.act_undo.trigger()
    win.act_undo.trigger()
    assert win.notes.equals(notes)

    # Shift+Right / Shift+Left change the length by one frame; repeated taps undo as one step
    qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 1.2, 72))
    qtbot.keyClick(vp, Qt.Key_Right, Qt.ShiftModifier)
    qtbot.keyClick(vp, Qt.Key_Right, Qt.ShiftModifier)
    qtbot.keyClick(vp, Qt.Key_Left, Qt.ShiftModifier)
    k = win.editor.selection[0]
    assert np.isclose(win.notes.offset[k], notes.offset[c5] + FRAME_SECONDS)
    assert np.isclose(win.notes.onset[k], notes.onset[c5])
    win.act_undo.trigger()
    assert win.notes.equals(notes)

    # split at the playhead (S), then join the halves again (J)
    win.timeline.set_playhead(1.2)
    qtbot.keyClick(vp, Qt.Key_S)
    assert len(win.notes) == 7 and len(win.editor.selection) == 2
    halves = win.notes.take(win.editor.selection)
    cut = round(1.2 / FRAME_SECONDS) * FRAME_SECONDS
    assert np.allclose(halves.onset, [notes.onset[c5], cut]) and np.allclose(halves.offset, [cut, notes.offset[c5]])
    assert (halves.pitch == 72).all() and (halves.velocity == notes.velocity[c5]).all()
    out = win.export(tmp_path / "split.mid")
    assert notes_close(read_midi(out), win.notes, atol=2e-3)
    qtbot.keyClick(vp, Qt.Key_J)
    assert len(win.notes) == 6 and win.notes.equals(notes)
    win.act_undo.trigger()
    assert len(win.notes) == 7


def test_autosave_after_edit_and_restore_on_reopen(qtbot, make_window, short_audio):
    win = make_window()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.open_file(str(short_audio))
    fresh = blocker.args[0].notes
    assert len(fresh) > 1
    win.editor.set_selection([0])
    with qtbot.waitSignal(win.session.sigAutosaved, timeout=5000) as saved:
        win.editor.delete_selected()
    edited = win.notes
    path = saved.args[0]
    assert os.path.exists(path) and str(win.session.store.root) in path
    doc = json.loads(open(path).read())
    assert doc["n_notes"] == len(fresh) - 1 == len(edited)
    win.close()  # the app goes away; the autosave stays

    win2 = make_window()
    with qtbot.waitSignals([win2.sigTranscribed, win2.session.sigRestoreOffered], timeout=LONG):
        win2.open_file(str(short_audio))
    assert win2.session.bar.isVisible() and win2.notes.equals(fresh)
    win2.session.bar.restore_button.click()
    assert win2.notes.equals(edited) and win2.timeline.drawn_notes().equals(edited)
    assert win2.isWindowModified() and not win2.session.bar.isVisible()
    win2.act_undo.trigger()  # the restore is one undoable step
    assert win2.notes.equals(fresh)
    # a changed file (new mtime) does not pick up the old edits
    st = os.stat(short_audio)
    os.utime(short_audio, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    from par_studio.gui.session import audio_identity

    try:
        assert win2.session.store.load(audio_identity(short_audio)) is None
    finally:
        os.utime(short_audio, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_synthesised_notes_have_energy_at_their_fundamentals(qtbot, make_window, short_audio):
    sr = 16000
    notes = Notes([0.1, 0.1], [1.1, 1.1], [57, 76], [90, 90])  # A3 220 Hz, E5 659 Hz
    y = render_notes(notes, 2 * sr)
    seg = y[int(0.2 * sr): int(1.0 * sr)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / sr)

    def band(f, w=6.0):
        return spec[(freqs > f - w) & (freqs < f + w)].max()

    floor = np.median(spec)
    for f in midi_hz([57, 76]):
        assert band(f) > 100 * floor
    assert band(300.0) < 0.01 * band(midi_hz(57))  # nothing between the partials
    # incremental rendering after an edit equals a full one
    r = NotesRenderer()
    r.render(notes, 2 * sr)
    edited = Notes([0.1, 0.5], [1.1, 0.9], [57, 60], [90, 70])
    assert np.allclose(r.render(edited, 2 * sr), render_notes(edited, 2 * sr), atol=1e-5)
    # mixing: gains and clipping
    src = np.full(100, 0.5, np.float32)
    assert np.allclose(render_block(src, np.full(100, 0.25, np.float32), 1.0, 1.0, 10, 20), 0.75)
    assert np.allclose(render_block(src, np.ones(100, np.float32), 1.0, 1.0, 0, 5), 1.0)

    # in the app: the balance asks for the notes, rendered off the GUI thread
    win = make_window()
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(short_audio), transcribe=False)
    win.set_notes(notes)
    win.mixer.actions[1].trigger()  # "Source + notes"
    assert win.mixer.slider.value() == 50 and win.mixer.gains()[0] == 1.0
    with qtbot.waitSignal(win.mixer.sigRendered, timeout=LONG) as rendered:
        win.mixer.request_render()
    track = rendered.args[0]
    assert len(track) == len(win.loaded.audio) and win.mixer.rendered_for is win.notes
    seg = track[int(0.2 * sr): int(1.0 * sr)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    for f in midi_hz([57, 76]):
        assert band(f) > 100 * np.median(spec)


def test_midi_export_tempo_detected_or_fixed(qtbot, make_window, tmp_path, monkeypatch):
    """MIDI exports carry the tempo detected from the notes shown (re-detected after edits) or
    the fixed tempo the user set; the notes' times in seconds are the same either way."""
    import pretty_midi

    from par_studio import tempo
    from test_tempo import played

    notes = played(132)
    win = roll_window(make_window, qtbot, notes)
    assert win.act_tempo_auto.isChecked() and not win.act_tempo_fixed.isChecked()
    out = win.export(tmp_path / "auto.mid")
    _, tempi = pretty_midi.PrettyMIDI(str(out)).get_tempo_changes()
    assert tempi[-1] == pytest.approx(132, rel=0.03)
    assert f"at {tempi[-1]:g}"[:6] in win.statusBar().currentMessage()
    assert notes_close(read_midi(out), win.notes, atol=2e-3)
    # an edit gives a new notes object: the tempo is detected again from what is shown
    calls = []
    monkeypatch.setattr(tempo, "estimate_tempo", lambda n: calls.append(len(n)) or 77.0)
    win.export(tmp_path / "again.mid")
    assert calls == []  # same notes: cached
    win.editor.select_all()
    win.editor.delete_selected()
    win.editor.add_note_at(0.5, 60)
    _, tempi = pretty_midi.PrettyMIDI(str(win.export(tmp_path / "edited.mid"))).get_tempo_changes()
    assert calls == [1] and tempi[-1] == pytest.approx(77.0, rel=1e-5)  # µs per beat are integers
    # a fixed tempo wins and is remembered in the settings
    win.set_export_tempo(100.0)
    assert win.act_tempo_fixed.isChecked() and "100 BPM" in win.act_tempo_fixed.text()
    _, tempi = pretty_midi.PrettyMIDI(str(win.export(tmp_path / "fixed.mid"))).get_tempo_changes()
    assert tempi[-1] == pytest.approx(100.0, rel=1e-5)
    assert float(win.settings.value("export/tempo")) == 100.0


def test_quantise_snaps_to_the_midi_tempo_grid_in_whole_ticks(qtbot, make_window, tmp_path):
    """With the beat grid hidden (View → Beat grid off; with it shown Quantise follows the grid:
    tests/gui/test_beatgrid.py), Q quantises all notes (or the selection) to 1/16 notes at the
    MIDI tempo from 0 s; in the exported file every start and end is then a whole 1/16 note in
    ticks."""
    import mido

    notes = six_notes()
    win = roll_window(make_window, qtbot, notes)
    vp = win.timeline.viewport()
    if getattr(win, "act_beat_grid", None) is not None and win.act_beat_grid.isChecked():
        win.act_beat_grid.trigger()
    win.set_export_tempo(100.0)
    grid = 60.0 / 100.0 / 4
    # the selection only
    qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 0.6, 64))
    win.quantise_actions[2].trigger()  # 1/32
    one = win.notes.take(win.editor.selection)
    assert np.allclose(one.onset / (grid / 2), np.round(one.onset / (grid / 2)))
    others = np.flatnonzero(win.notes.pitch != 64)
    assert np.allclose(np.sort(win.notes.onset[others]), np.sort(notes.onset[notes.pitch != 64]))
    win.act_undo.trigger()
    assert win.notes.equals(notes)
    # everything, with the Q key and no selection
    win.editor.set_selection([])
    qtbot.keyClick(vp, Qt.Key_Q)
    q = win.notes
    assert "Quantise 6 notes to 1/16 at 100 BPM" in win.act_undo.text()
    for t in (q.onset, q.offset):
        assert np.allclose(t / grid, np.round(t / grid), atol=1e-9)
    assert (q.offset - q.onset >= grid - 1e-9).all()
    assert np.abs(q.onset - notes.sorted().onset).max() <= grid / 2 + 1e-9
    mf = mido.MidiFile(str(win.export(tmp_path / "q.mid")))
    ticks, per16 = 0, mf.ticks_per_beat // 4
    for msg in mido.merge_tracks(mf.tracks):
        ticks += msg.time
        if msg.type in ("note_on", "note_off"):
            assert ticks % per16 == 0, (msg, ticks)
    assert notes_close(read_midi(tmp_path / "q.mid"), q, atol=2e-3)
    win.act_undo.trigger()
    assert win.notes.equals(notes)


def test_loop_plays_the_selected_notes_span_over_and_over(qtbot, make_window, short_audio, fake_output):
    """Loop (L) with notes selected plays their span (±100 ms) again and again through the
    real playback callback; the playhead wraps with it; no selection loops the view."""
    from par_studio.audio.io import load_audio
    from par_studio.constants import SAMPLE_RATE

    win = make_window()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.open_file(str(short_audio))
    win.set_notes(six_notes())
    win.editor.set_selection([1, 2])  # 0.512 .. 1.0 s
    qtbot.keyClick(win.timeline.viewport(), Qt.Key_L)
    assert win.act_loop.isChecked()
    lo, hi = win.loop_span()
    assert np.isclose(lo, 0.512 - 0.1) and np.isclose(hi, 1.0 + 0.1)
    assert win.timeline.loop_region.isVisible()
    assert np.allclose(win.timeline.loop_region.getRegion(), (lo, hi))
    win.mixer.slider.setValue(win.mixer.slider.minimum())  # source only
    win.toggle_play()
    stream = fake_output.made[-1]
    span = round(hi * SAMPLE_RATE) - round(lo * SAMPLE_RATE)
    heard = np.concatenate([stream.pull(1024) for _ in range(int(2.5 * span / 1024) + 1)])
    audio = load_audio(short_audio)
    a = int(lo * SAMPLE_RATE)
    gain = np.dot(heard[:1000], audio[a: a + 1000]) / np.dot(audio[a: a + 1000], audio[a: a + 1000])
    src = audio[a: int(hi * SAMPLE_RATE)] * gain
    n = len(src)
    assert np.allclose(heard[:n], src, atol=1e-5) and np.allclose(heard[n: 2 * n], src, atol=1e-5)
    assert stream.active  # a loop never runs out
    t = win.player.position()
    assert lo <= t < hi and np.isclose(t, lo + (len(heard) / SAMPLE_RATE) % (n / SAMPLE_RATE), atol=1e-3)
    # no selection: the span in view; Loop off: straight on to the end
    win.toggle_play()
    win.editor.set_selection([])
    win.timeline.roll_vb.setXRange(0.5, 1.5, padding=0)
    lo2, hi2 = win.loop_span()
    assert np.isclose(lo2, 0.5, atol=0.02) and np.isclose(hi2, 1.5, atol=0.02)
    win.act_loop.trigger()
    assert win.loop_span() is None and not win.timeline.loop_region.isVisible()
    win.seek(2.3)
    win.toggle_play()
    stream = fake_output.made[-1]
    while stream.active:
        stream.pull(1024)
    assert sum(len(h) for h in stream.heard) < (len(audio) - int(2.3 * SAMPLE_RATE)) + 1024 + 1


def test_import_notes_replaces_them_as_one_undo_step(qtbot, make_window, tmp_path):
    notes = six_notes()
    win = roll_window(make_window, qtbot, notes)
    out = win.export(tmp_path / "earlier.mid")
    (tmp_path / "bad.csv").write_text("onset_s,offset_s\n1,2\n")
    win2 = roll_window(make_window, qtbot, Notes([0.1], [0.3], [50], [60]))
    assert win2.import_notes(out)
    assert notes_close(win2.notes, notes, atol=2e-3) and win2.timeline.drawn_notes().equals(win2.notes)
    assert "Import earlier.mid" in win2.act_undo.text()
    win2.act_undo.trigger()
    assert len(win2.notes) == 1
    assert not win2.import_notes(tmp_path / "bad.csv")
    assert "bad.csv" in win2.last_error and "Traceback" not in win2.last_error
    assert len(win2.notes) == 1


def _pitch_heard(stream) -> float:
    """Pull the audition stream to its end; return the strongest frequency (Hz) heard."""
    from par_studio.constants import SAMPLE_RATE

    blocks = []
    while stream.active and len(blocks) < 100:
        blocks.append(stream.pull(1024))
    assert not stream.active, "an audition clip must end by itself"
    y = np.concatenate(blocks)
    assert np.abs(y).max() > 0.01
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), 8 * len(y)))
    return float(np.argmax(spec) * SAMPLE_RATE / (8 * len(y)))


def test_clicking_a_note_or_a_key_and_moving_a_note_lets_you_hear_it(qtbot, make_window, fake_output):
    """Click a note: its pitch sounds on an output stream of its own, which ends by itself;
    ↑ moves it and sounds the new pitch; a click on the keyboard sounds that key; with
    Edit → Hear notes while editing off, nothing sounds."""
    win = roll_window(make_window, qtbot, six_notes())
    assert win.act_audition.isChecked()  # on by default
    vp = win.timeline.viewport()
    qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 0.6, 64))
    assert list(win.editor.selection) == [1] and len(fake_output.made) == 1
    assert abs(_pitch_heard(fake_output.made[-1]) - midi_hz(64)) < 2.0
    qtbot.keyClick(vp, Qt.Key_Up)
    assert win.notes.pitch[win.editor.selection[0]] == 65
    assert abs(_pitch_heard(fake_output.made[-1]) - midi_hz(65)) < 2.0
    kb = win.timeline.key_vb
    key_pos = win.timeline.mapFromScene(kb.mapViewToScene(QPointF(0.8, 72)))
    qtbot.mouseClick(vp, Qt.LeftButton, pos=key_pos)
    assert len(fake_output.made) == 3
    assert abs(_pitch_heard(fake_output.made[-1]) - midi_hz(72)) < 3.0
    win.act_audition.trigger()  # off (and remembered)
    assert win.settings.value("edit/audition") in (False, "false")
    qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 1.2, 72))
    qtbot.mouseClick(vp, Qt.LeftButton, pos=key_pos)
    assert len(fake_output.made) == 3 and list(win.editor.selection) == [3]


def test_a_note_heard_while_playing_is_mixed_into_the_playback(qtbot, make_window, short_audio, fake_output):
    """During playback an audition joins the running stream (no second stream): what the
    card plays is the source plus the clip."""
    from par_studio.audio.io import load_audio
    from par_studio.constants import SAMPLE_RATE
    from par_studio.gui.synth import audition_clip

    win = make_window()
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(short_audio), transcribe=False)
    win.set_notes(six_notes())
    win.mixer.slider.setValue(win.mixer.slider.minimum())  # source only
    win.seek(0.0)
    win.toggle_play()
    assert len(fake_output.made) == 1
    stream = fake_output.made[0]
    first = stream.pull(1024)
    win.editor.set_selection([3])
    win.editor.audition_selected()
    after = np.concatenate([stream.pull(1024) for _ in range(3)])
    assert len(fake_output.made) == 1  # mixed in, not a stream of its own
    audio = load_audio(short_audio)
    g = np.dot(first, audio[:1024]) / np.dot(audio[:1024], audio[:1024])
    clip = audition_clip([72], [80])
    expected = np.clip(audio[1024: 1024 + len(after)] * g + clip[: len(after)], -1, 1)
    assert np.allclose(after, expected, atol=1e-5)
    assert SAMPLE_RATE * 0.4 < len(clip) <= SAMPLE_RATE * 0.5


def test_dragging_a_velocity_stem_changes_the_velocity_of_the_selected_notes(qtbot, make_window):
    """Click a stem in the velocity lane: its note is selected (no seek); drag a stem up: the
    selected notes get louder by the same amount (clamped to 127); one undo step restores."""
    win = roll_window(make_window, qtbot, six_notes())
    vb, vp = win.timeline.vel_vb, win.timeline.viewport()
    vb.setYRange(0, 132, padding=0)

    def lane_pos(t, v):
        return win.timeline.mapFromScene(vb.mapViewToScene(QPointF(t, v)))

    win.seek(0.0)
    qtbot.mouseClick(vp, Qt.LeftButton, pos=lane_pos(0.768, 40))  # on the stem of note 2 (v 70)
    assert list(win.editor.selection) == [2] and win.timeline.playhead() == 0.0
    qtbot.mouseClick(vp, Qt.LeftButton, Qt.ShiftModifier, pos=lane_pos(1.024, 80))  # + note 3 (v 80)
    assert list(win.editor.selection) == [2, 3]
    drag(qtbot, vp, [lane_pos(1.024, 80), lane_pos(1.024, 95), lane_pos(1.024, 120)])
    assert list(win.notes.velocity) == [50, 60, 110, 120, 90, 100]
    assert win.undo_stack.count() == 1 and list(win.editor.selection) == [2, 3]
    assert win.timeline.drawn_notes().equals(win.notes)  # what is drawn is what is exported
    drag(qtbot, vp, [lane_pos(0.768, 110), lane_pos(0.768, 125), lane_pos(0.768, 131)])
    assert list(win.notes.velocity[[2, 3]]) == [127, 127]  # clamped
    win.undo_stack.undo()
    win.undo_stack.undo()
    assert list(win.notes.velocity) == [50, 60, 70, 80, 90, 100]
    qtbot.wait(QApplication.styleHints().mouseDoubleClickInterval() + 50)  # a new click, not a double
    with qtbot.waitSignal(win.timeline.sigSeek) as seek:  # empty lane: seeks (no audio here)
        qtbot.mouseClick(vp, Qt.LeftButton, pos=lane_pos(2.9, 60))
    assert abs(seek.args[0] - 2.9) < 0.05 and list(win.editor.selection) == []


def test_tab_walks_through_the_notes_in_time_and_plays_each(qtbot, make_window, fake_output):
    """Tab selects the next note in time (from the playhead when nothing is selected), pages
    the view to it and plays it; Shift+Tab goes back; at the ends nothing changes."""
    notes = Notes([0.256, 0.512, 0.512, 5.0, 9.0], [0.4, 0.7, 0.7, 5.3, 9.3], [60, 64, 67, 40, 96],
                  [50, 60, 70, 80, 90])
    win = roll_window(make_window, qtbot, notes)
    vp = win.timeline.viewport()
    win.timeline.set_playhead(0.3)
    qtbot.keyClick(vp, Qt.Key_Tab)
    assert list(win.editor.selection) == [1] and len(fake_output.made) == 1
    qtbot.keyClick(vp, Qt.Key_Tab)
    assert list(win.editor.selection) == [2]  # same onset: by pitch
    qtbot.keyClick(vp, Qt.Key_Tab)
    assert list(win.editor.selection) == [3]
    (x0, x1), (y0, y1) = win.timeline.roll_vb.viewRange()
    assert x0 <= 5.0 and 5.3 <= x1 and y0 < 40 < y1  # paged to it, keys scrolled down to E2
    assert abs(_pitch_heard(fake_output.made[-1]) - midi_hz(40)) < 2.0
    qtbot.keyClick(vp, Qt.Key_Tab)
    qtbot.keyClick(vp, Qt.Key_Tab)  # past the last note: stays
    assert list(win.editor.selection) == [4]
    qtbot.keyClick(vp, Qt.Key_Backtab, Qt.ShiftModifier)
    assert list(win.editor.selection) == [3]
    win.editor.set_selection([])
    win.timeline.set_playhead(0.3)
    qtbot.keyClick(vp, Qt.Key_Backtab, Qt.ShiftModifier)
    assert list(win.editor.selection) == [0]
