"""Hand-checking a transcription: candidate notes, the note inspector, the toolbar at laptop
width, full-quality live takes, and the small things around them (issue 20)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QToolButton

from par_studio.constants import FRAME_SECONDS, MIN_MIDI, N_KEYS, STATE_OFF, STATE_ONSET
from par_studio.midi_io import read_midi
from par_studio.notes import Notes, encode

from .conftest import notes_close
from .test_editing import roll_window, six_notes, view_pos

LONG = 120_000


def near_misses(notes: Notes, T: int = 100, extra=((40, 65, 0.30), (60, 70, 0.20))):
    """A transcription-like object whose decoder probabilities decode to ``notes`` and hold
    near-misses ``extra`` = (frame, pitch, p_onset) where the decoder stayed off."""
    states = encode(notes, T).state.astype(np.uint8)
    probs = np.full((T, N_KEYS, 5), 0.0125, np.float32)
    np.put_along_axis(probs, states[..., None].astype(np.int64), 0.95, axis=-1)
    for t, p, q in extra:
        probs[t, p - MIN_MIDI] = 0.0
        probs[t, p - MIN_MIDI, STATE_OFF], probs[t, p - MIN_MIDI, STATE_ONSET] = 1.0 - q, q
    return SimpleNamespace(notes=notes, states=states, probabilities=probs.astype(np.float16),
                           velocity=np.full((T, N_KEYS), 0.75, np.float32))


def with_candidates(make_window, qtbot):
    win = roll_window(make_window, qtbot, six_notes())
    tr = near_misses(win.notes)
    win.transcription = tr
    win.candidates.set_transcription(tr)
    return win


def test_candidates_accepted_rejected_and_only_accepted_ones_exported(qtbot, make_window, tmp_path):
    win = with_candidates(make_window, qtbot)
    vp = win.timeline.viewport()
    cand = win.candidates
    # the slider says how many show: at +1.0 sensitivity only F4 (margin 0.85), at +1.5 also B♭4
    assert win.candidates_slider.value() == 10 and list(cand.shown.pitch) == [65]
    assert win.candidates_label.text() == "1 shown"
    win.candidates_slider.setValue(15)
    assert list(cand.shown.pitch) == [65, 70] and win.candidates_label.text() == "2 shown"
    assert np.allclose(cand.shown.onset, [40 * FRAME_SECONDS, 60 * FRAME_SECONDS])
    assert len(cand.bar.opts["x0"]) == 2  # drawn as ghost notes
    assert float(win.settings.value("view/candidates")) == 15
    # ghosts are not notes: the roll and the export hold the six notes only
    assert len(win.notes) == 6 and win.timeline.drawn_notes().equals(six_notes())
    assert notes_close(read_midi(win.export(tmp_path / "before.mid")), six_notes(), atol=2e-3)
    # N focuses the next candidate after the playhead: shown in the inspector with its values
    qtbot.keyClick(vp, Qt.Key_N)
    assert cand.focus == 0 and win.inspector.title.text().startswith("<b>Candidate")
    assert win.inspector.pitch_edit.text() == "F4" and win.inspector.velocity_box.value() == 96
    assert win.inspector.accept_button.isVisibleTo(win) and win.act_accept_candidate.isEnabled()
    # Enter accepts it: an ordinary note, one undo step; the next candidate gets the focus
    n_undo = win.undo_stack.count()
    qtbot.keyClick(vp, Qt.Key_Return)
    assert len(win.notes) == 7 and 65 in win.notes.pitch
    assert win.undo_stack.count() == n_undo + 1 and win.act_undo.text() == "&Undo Accept candidate F4"
    k = int(np.flatnonzero(win.notes.pitch == 65)[0])
    assert np.isclose(win.notes.onset[k], 40 * FRAME_SECONDS) and win.notes.velocity[k] == 96
    assert list(cand.shown.pitch) == [70] and cand.focus == 0
    # Delete rejects the focused one: hidden, no note deleted
    qtbot.keyClick(vp, Qt.Key_Delete)
    assert len(cand.shown) == 0 and len(win.notes) == 7
    out = win.export(tmp_path / "after.mid")
    back = read_midi(out)
    assert len(back) == 7 and 65 in back.pitch and 70 not in back.pitch
    # undo gives the candidate back (the rejected one stays hidden)
    win.act_undo.trigger()
    assert len(win.notes) == 6 and list(cand.shown.pitch) == [65]
    # a click on a ghost note accepts it too
    qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 40 * FRAME_SECONDS + 0.05, 65))
    assert len(win.notes) == 7 and 65 in win.notes.pitch and len(cand.shown) == 0
    # the left end of the slider shows none
    win.act_undo.trigger()
    win.candidates_slider.setValue(0)
    assert len(cand.shown) == 0 and win.candidates_label.text() == "off"
    assert len(cand.bar.opts["x0"]) == 0


def test_accept_all_is_one_step_and_a_new_transcription_resets_rejections(qtbot, make_window):
    win = with_candidates(make_window, qtbot)
    win.candidates_slider.setValue(20)
    win.candidates.step(1)
    win.candidates.reject_focused()
    assert list(win.candidates.shown.pitch) == [70]
    win.act_accept_all_candidates.trigger()
    assert len(win.notes) == 7 and 70 in win.notes.pitch and len(win.candidates.shown) == 0
    win.act_undo.trigger()
    assert len(win.notes) == 6
    win.candidates.set_transcription(near_misses(win.notes))  # transcribed again
    assert list(win.candidates.shown.pitch) == [65, 70]


def test_inspector_reads_and_edits_the_selected_note(qtbot, make_window):
    win = roll_window(make_window, qtbot, six_notes())
    ins = win.inspector
    vp = win.timeline.viewport()
    assert ins.title.text() == "No note selected"
    qtbot.mouseClick(vp, Qt.LeftButton, pos=view_pos(win, 1.2, 72))  # C5, 1.024 .. 1.4 s, velocity 80
    assert "C5" in ins.title.text() and "MIDI 72" in ins.title.text()
    assert ins.pitch_edit.text() == "C5" and ins.start_box.value() == pytest.approx(1.024)
    assert ins.length_box.value() == pytest.approx(0.376) and ins.velocity_box.value() == 80
    start = win.undo_stack.count()

    def typed(widget, text):
        line = widget if not hasattr(widget, "lineEdit") else widget.lineEdit()
        qtbot.mouseClick(line, Qt.LeftButton)
        line.selectAll()
        qtbot.keyClicks(line, text)
        qtbot.keyClick(line, Qt.Key_Return)

    def selected():
        return win.notes.take(win.editor.selection)

    typed(ins.pitch_edit, "D5")  # a name, typed
    assert selected().pitch.tolist() == [74] and win.act_undo.text() == "&Undo Set pitch of C5"
    typed(ins.start_box, "1.5")  # start keeps the length
    assert selected().onset[0] == pytest.approx(1.5) and selected().offset[0] == pytest.approx(1.876)
    typed(ins.length_box, "0.5")
    assert selected().offset[0] - selected().onset[0] == pytest.approx(0.5)
    typed(ins.velocity_box, "33")
    assert selected().velocity.tolist() == [33] and ins.velocity_box.value() == 33
    typed(ins.pitch_edit, "61")  # a MIDI number
    assert selected().pitch.tolist() == [61] and ins.pitch_edit.text() == "C♯4"
    assert win.undo_stack.count() == start + 5  # one step each
    assert len(win.notes) == 6 and win.timeline.drawn_notes().equals(win.notes)
    # not a key: a message, nothing changes
    before = win.notes
    typed(ins.pitch_edit, "H9")
    assert win.notes is before and "not a piano key" in win.statusBar().currentMessage()
    for _ in range(5):
        win.act_undo.trigger()
    assert win.notes.equals(six_notes())
    # several notes: a velocity typed applies to all of them, one step
    win.editor.select_all()
    assert ins.title.text().startswith("<b>6 notes</b>") and not ins.pitch_edit.isVisibleTo(win)
    typed(ins.velocity_box, "90")
    assert set(win.notes.velocity.tolist()) == {90} and win.undo_stack.count() == start + 1  # the redos went


def test_every_toolbar_control_shows_at_1280_px_and_the_window_fits_a_laptop(qtbot, make_window, tmp_path):
    from par_studio.gui.main_window import MainWindow, make_settings
    from par_studio.gui.settings import default_size

    win = make_window()
    win.resize(1280, 720)
    qtbot.waitUntil(lambda: win.width() == 1280)
    QApplication.processEvents()
    controls = win.toolbar_controls()
    named = {a.text() for a in controls if a.text()}
    assert {"Live", "&Export MIDI…", "&Open audio…", "Play", "&Transcribe"} <= named
    for tb in (win.toolbar, win.settings_toolbar):
        ext = tb.findChild(QToolButton, "qt_toolbar_ext_button")
        assert ext is None or not ext.isVisible(), f"{tb.objectName()} hides controls behind »"
        for a in tb.actions():
            if a.isSeparator():
                continue
            w = tb.widgetForAction(a)
            assert w is not None and w.isVisible(), a.text() or w
            assert w.geometry().right() <= tb.width(), a.text() or w
    for w in (win.input_combo, win.model_combo, win.latency_combo, win.sensitivity_slider, win.candidates_slider):
        assert w.isVisible()
    # the first window fits a 1366 x 768 screen, and it can be made that small
    fresh = MainWindow(make_settings(str(tmp_path / "fresh.ini")))
    qtbot.addWidget(fresh)
    w, h = default_size()
    assert w <= 1366 and h <= 768 - 40
    assert (fresh.width(), fresh.height()) == default_size(fresh.screen().availableGeometry())
    assert fresh.minimumSizeHint().width() <= 1280 and fresh.minimumSizeHint().height() <= 700
    fresh.shutdown()


def test_full_quality_take_from_a_file_played_as_live_input(qtbot, make_window, short_audio, tmp_path):
    """A 44.1 kHz stereo file played as live input (the input picker's first entry): the take
    is recorded at 44.1 kHz in stereo (FLAC once stopped), the model hears 16 kHz mono, and Save
    recording keeps the full quality. The live time axis never shows negative seconds."""
    import soundfile as sf
    import soxr

    from par_studio.audio.io import load_audio

    mono = load_audio(short_audio)
    left = soxr.resample(mono, 16000, 44100).astype(np.float32)
    right = (0.5 * np.sin(2 * np.pi * 3000 * np.arange(len(left)) / 44100)).astype(np.float32)
    stereo = np.stack([left, right], axis=1)
    src = tmp_path / "stereo-44k.wav"
    sf.write(src, stereo, 44100, subtype="FLOAT")
    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(src), transcribe=False)
    win.input_combo.setCurrentIndex(0)  # "Open file as live input"
    assert win.input_combo.currentData()[0] == "file"
    x0s = []
    win.sigLiveProgress.connect(lambda _s: x0s.append(win.timeline.roll_vb.viewRange()[0][0]))
    with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG):
        with qtbot.waitSignal(win.sigLiveStarted, timeout=LONG):
            win.act_live.trigger()
        x0s.append(win.timeline.roll_vb.viewRange()[0][0])
        win.timeline.roll_vb.setXRange(-5.0, 5.0, padding=0)  # as a pan to the left would
        x0s.append(win.timeline.roll_vb.viewRange()[0][0])
    assert x0s and min(x0s) >= 0.0
    rec = Path(win.loaded.path)
    assert rec.suffix == ".flac" and rec.parent == tmp_path / "recordings"
    assert not rec.with_suffix(".wav").exists()  # the crash-safe WAV became the FLAC
    info = sf.info(rec)
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_24")
    got, _ = sf.read(rec, dtype="float32")
    assert got.shape == stereo.shape and np.abs(got - stereo).max() < 2.0 / 2**23
    assert str(rec) in win.recent_files() and str(rec.with_suffix(".wav")) not in win.recent_files()
    # the model heard the same take as 16 kHz mono
    assert win.loaded.duration == pytest.approx(len(left) / 44100, abs=0.02)
    heard = win.loaded.audio[: len(mono)]
    want = soxr.resample(stereo.mean(axis=1), 44100, 16000)[: len(heard)]
    assert np.corrcoef(heard[: len(want)], want[: len(heard)])[0, 1] > 0.999
    # Save recording: the full-quality take, FLAC or WAV
    for name, fmt in (("take.flac", "FLAC"), ("take.wav", "WAV")):
        out = win.save_recording(tmp_path / name)
        info = sf.info(out)
        assert (info.format, info.samplerate, info.channels) == (fmt, 44100, 2)
        assert np.abs(sf.read(out, dtype="float32")[0] - stereo).max() < 2.0 / 2**23


def test_tab_selects_the_next_note_wherever_the_focus_is(qtbot, make_window):
    win = roll_window(make_window, qtbot, six_notes())
    win.mixer.slider.setFocus()  # e.g. after using the Source ◄► Notes slider
    qtbot.keyClick(win.mixer.slider, Qt.Key_Tab)
    assert win.editor.selection.tolist() == [0] and QApplication.focusWidget() is win.timeline
    qtbot.keyClick(win.timeline, Qt.Key_Tab)
    assert win.editor.selection.tolist() == [1]
    # inside the inspector Tab moves between its fields
    win.inspector.pitch_edit.setFocus()
    qtbot.keyClick(win.inspector.pitch_edit, Qt.Key_Tab)
    assert win.editor.selection.tolist() == [1]
    assert QApplication.focusWidget() is win.inspector.start_box


def test_empty_window_hint_and_the_tempo_stays_after_restoring_edits(qtbot, make_window, short_audio,
                                                                      monkeypatch):
    from par_studio import tempo

    monkeypatch.setattr(tempo, "estimate_tempo", lambda notes: 94.0)
    win = make_window()
    assert win.empty_hint.isVisible() and "drop an audio file" in win.empty_hint.text()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.open_file(str(short_audio))
    assert not win.empty_hint.isVisible()
    assert "≈94 BPM" in win.info_label.text()
    win.editor.set_selection([0])
    win.editor.change_velocity(8)
    assert "≈94 BPM" in win.info_label.text()
    win.session.flush()
    with qtbot.waitSignal(win.session.sigRestoreOffered, timeout=LONG):
        win.open_file(str(short_audio))
    qtbot.waitUntil(lambda: win.job is None, timeout=LONG)
    win.session.restore()
    assert "Restore autosaved edits" in win.act_undo.text() and win.notes is not win.transcription.notes
    assert "≈94 BPM" in win.info_label.text()


def test_the_program_ends_right_after_its_window_closes_with_everything_saved(tmp_path, empty_models_dir):
    """fast_exit (the par-studio program): the process ends as the window closes, skipping
    Python's slow teardown, but only after the window saved what it keeps (settings here)."""
    import subprocess
    import sys
    import textwrap

    ini = tmp_path / "settings.ini"
    code = textwrap.dedent(f"""
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from par_studio.gui import app as gui_app
        from par_studio.gui.main_window import ensure_app

        ensure_app()  # the timer below needs the application run_app will use

        def close_when_shown():
            for w in QApplication.topLevelWidgets():
                if type(w).__name__ == "MainWindow" and w.isVisible():
                    QTimer.singleShot(300, w.close)
                    return
            QTimer.singleShot(100, close_when_shown)

        QTimer.singleShot(100, close_when_shown)
        gui_app.run_app(settings_path={str(ini)!r}, models_dir={str(empty_models_dir)!r}, fast_exit=True)
        print("returned")  # never: the process ended inside run_app
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "returned" not in r.stdout
    assert "window" in ini.read_text() and "geometry" in ini.read_text()
