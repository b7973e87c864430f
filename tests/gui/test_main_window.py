"""The app's main flows, offscreen, waiting on signals (never on sleeps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMenu

from par_studio.midi_io import read_csv, read_midi
from par_studio.notes import Notes

from .conftest import notes_close

LONG = 120_000  # ms; generous for a loaded CI machine


def open_and_transcribe(qtbot, win, path):
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.open_file(str(path))
    return blocker.args[0]


def test_open_transcribe_draw_export(qtbot, make_window, short_audio, tmp_path):
    win = make_window()
    tr = open_and_transcribe(qtbot, win, short_audio)
    assert len(tr.notes) > 0
    # one Notes object is drawn and exported
    assert win.notes is tr.notes
    assert win.timeline.notes is tr.notes
    assert win.timeline.drawn_notes().equals(tr.notes)
    # the roll uses a handful of bar items, not one per note
    assert len(win.timeline.note_bars) <= 10
    mid = win.export(tmp_path / "out.mid")
    csv = win.export(tmp_path / "out.csv")
    assert notes_close(read_midi(mid), tr.notes, atol=2e-3)
    assert notes_close(read_csv(csv), tr.notes, atol=1e-5)
    assert win.act_export.isEnabled()
    assert str(short_audio) in win.recent_files()
    # the tempo detected in the worker is the engine's estimate for these notes, and is shown
    from par_studio.tempo import estimate_tempo

    notes, bpm = win._detected_tempo
    assert notes is tr.notes and bpm == estimate_tempo(tr.notes)
    assert ("BPM" in win.info_label.text()) == (bpm is not None)


def test_event_loop_turns_while_transcribing(qtbot, make_window, short_audio):
    win = make_window()
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(short_audio), transcribe=False)
    ticks = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(win.job is not None))
    timer.start()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.transcribe()
        assert not win.model_combo.isEnabled()  # cannot change during a run
        assert win.progress.isVisible()
    timer.stop()
    assert sum(ticks) >= 3, "the GUI thread must keep running while the model works"
    assert win.model_combo.isEnabled()


def test_cancel(qtbot, make_window, short_audio):
    win = make_window()
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(short_audio), transcribe=False)
    with qtbot.waitSignal(win.sigIdle, timeout=LONG):
        win.transcribe()
        win.cancel()
    assert win.job is None
    assert win.act_transcribe.isEnabled()


def test_corrupt_file_shows_error_and_app_keeps_working(qtbot, make_window, short_audio, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(range(256)) * 4)
    win = make_window()
    with qtbot.waitSignal(win.sigError, timeout=LONG) as blocker:
        win.open_file(str(bad))
    assert "broken.wav" in blocker.args[0]
    assert win.last_error == blocker.args[0]
    assert win._error_box is not None and win._error_box.isVisible()
    tr = open_and_transcribe(qtbot, win, short_audio)
    assert len(win.notes) == len(tr.notes) > 0


def test_switching_model_and_latency_changes_what_runs(qtbot, make_window, short_audio):
    win = make_window()
    tr = open_and_transcribe(qtbot, win, short_audio)
    assert (tr.model, tr.latency_ms) == ("par", 320)
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    tr2 = blocker.args[0]
    assert (tr2.model, tr2.latency_ms) == ("par-compact", 320)
    offered = [win.latency_combo.itemData(i) for i in range(win.latency_combo.count())]
    assert offered == [192, 320]  # only latencies with weights
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.latency_combo.setCurrentIndex(offered.index(192))
    tr3 = blocker.args[0]
    assert (tr3.model, tr3.latency_ms) == ("par-compact", 192)
    assert win.notes is tr3.notes
    assert win.settings.value("model/preset") == "par-compact"
    assert int(win.settings.value("model/latency_ms")) == 192


def test_sensitivity_slider_retranscribes_and_is_remembered(qtbot, make_window, short_audio):
    """Moving the note-sensitivity slider transcribes again with that sensitivity (what the
    engine gives for it, exactly) once the slider rests; the setting is kept."""
    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe

    win = make_window()
    tr0 = open_and_transcribe(qtbot, win, short_audio)
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        for v in (-5, -12, -20):  # a drag: several values, one transcription at the end
            win.sensitivity_slider.setValue(v)
    tr = blocker.args[0]
    assert win.sensitivity() == -1.0 and win.sensitivity_label.text() == "-1.00"
    model, _ = win.model_cache[win.current_spec().key()]
    expect = transcribe(load_audio(short_audio), model, sensitivity=-1.0)
    assert tr.notes.equals(expect.notes) and win.notes is tr.notes
    assert len(tr.notes) <= len(tr0.notes)
    # only the decoder ran again, on the acoustic features the first run kept
    assert tr.info.get("decoder_only") and "features" in tr0.info
    assert "decoder only" in win.statusBar().currentMessage()
    # another model: a full run again
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    assert not blocker.args[0].info.get("decoder_only")
    assert float(win.settings.value("model/sensitivity")) == -1.0
    win2 = make_window()
    assert win2.sensitivity_slider.value() == -20


def test_closing_right_after_moving_the_slider_starts_nothing(qtbot, make_window, short_audio):
    """A debounced re-transcription must not start after the window has shut down (a thread
    started then would outlive the window)."""
    win = make_window()
    open_and_transcribe(qtbot, win, short_audio)
    done = []
    win.sigTranscribed.connect(done.append)
    win.sensitivity_slider.setValue(5)
    win.close()
    qtbot.wait(3 * win._sensitivity_timer.interval() + 2000)  # asserting that nothing happens needs time
    assert done == [] and win.job is None
    assert not [t for t in win.worker_threads() if t.isRunning()]


def test_missing_weights_is_a_plain_message(qtbot, make_window, short_audio, empty_models_dir):
    win = make_window(models=empty_models_dir)
    with qtbot.waitSignal(win.sigTranscriptionSkipped, timeout=LONG) as blocker:
        win.open_file(str(short_audio))
    assert "No trained" in blocker.args[0]
    assert win.banner.isVisible()
    assert win.timeline.spec_img.image is not None  # audio is still shown
    assert win.loaded is not None and win.act_play.isEnabled()


def test_live_from_file_source_produces_notes(qtbot, make_window, short_audio, tmp_path):
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource

    from par_studio.engine.offline import transcribe

    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    win.sensitivity_slider.setValue(8)  # live sessions use the sensitivity too (0.4 here)
    audio = load_audio(short_audio)
    with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG) as blocker:
        win.start_live(FileSource(audio, realtime=False))
        assert not win.model_combo.isEnabled() and not win.sensitivity_slider.isEnabled()
    result = blocker.args[0]
    assert result is not None and len(result.notes) > 0
    model, _ = win.model_cache[win.current_spec().key()]
    # when the take stops its velocities are refined from it, as offline refines them
    assert result.velocity_refined
    assert result.notes.equals(transcribe(audio, model, sensitivity=0.4).notes)
    assert win.notes is result.notes
    assert win.timeline.drawn_notes().equals(result.notes)
    assert win.loaded.duration == pytest.approx(len(audio) / 16000)
    assert win.loaded.spectrogram.shape[1] == win.transcription.n_frames > 0
    assert win.live is None and win.model_combo.isEnabled()
    # the spectrum behind the notes was drawn live and stays for the recording
    assert win.loaded.pitch_spectrogram.shape == (88, win.transcription.n_frames)
    assert np.array_equal(win.timeline.pitch_img.image, win.loaded.pitch_spectrogram)
    from par_studio.gui.spectrum import pitch_spectrogram

    offline = pitch_spectrogram(audio)  # same rows as opening the file (scales may differ a little)
    loud = offline > 200
    assert (win.loaded.pitch_spectrogram[loud] > 120).mean() > 0.95
    # the input was recorded to disk as it arrived (a crash would keep it); it is in Open recent,
    # and edits of the live result are autosaved against it
    import soundfile as sf

    rec = Path(win.loaded.path)
    assert rec.parent == tmp_path / "recordings" and rec.suffix == ".flac"  # the WAV, finished as FLAC
    assert np.allclose(sf.read(rec, dtype="float32")[0], audio, atol=1.0 / 32768 + 1e-7)
    assert str(rec) in win.recent_files()
    win.editor.set_selection([0])
    win.editor.change_velocity(8)
    win.session.flush()
    assert win.session.autosave_path().exists()
    # the recording can be saved elsewhere (lossless FLAC), atomically; a bad folder is a message

    assert win.act_save_audio.isEnabled()
    out = win.save_recording(tmp_path / "take.flac")
    back, sr = sf.read(out, dtype="float32")
    assert sr == 16000 and np.allclose(back, audio, atol=1.0 / 32768 + 1e-7)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert win.save_recording(blocker / "take.wav") is None and "Could not write" in win.last_error


def test_live_without_the_spectrum_behind_the_notes_computes_it_when_stopped(qtbot, make_window, short_audio):
    """With the view off during a live session the worker skips it; the recording gets it
    from a worker job after Stop, so turning the view on shows it."""
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource

    win = make_window()
    win.act_pitch_spectrum.trigger()  # off
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    audio = load_audio(short_audio)
    with qtbot.waitSignal(win.sigPitchSpectrum, timeout=LONG):
        with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG):
            win.start_live(FileSource(audio, realtime=False))
        assert win.timeline.live_pitch_spectrogram().shape[1] == 0 or win.loaded.pitch_spectrogram is None
    assert win.loaded.pitch_spectrogram.shape == (88, win.transcription.n_frames)
    win.act_pitch_spectrum.trigger()
    assert win.timeline.pitch_img.isVisible() and win.timeline.pitch_img.image is not None


def test_spectrum_behind_the_notes_puts_each_key_on_its_row(qtbot, make_window, tmp_path):
    """An A4 tone from 1 s to 2 s lights the A4 row of the roll over that time; B hides it
    and the choice is remembered."""
    import soundfile as sf

    t = np.arange(16000) / 16000
    y = np.zeros(48000, np.float32)
    y[16000:32000] = 0.3 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "a4.wav"
    sf.write(path, y, 16000)
    from PySide6.QtCore import QThread

    win = make_window()
    threads = []  # the result must be handled in the GUI thread (a crash when it was not)
    win.sigPitchSpectrum.connect(lambda: threads.append(QThread.currentThread() is win.thread()))
    with qtbot.waitSignal(win.sigPitchSpectrum, timeout=LONG):  # computed beside, after the load
        with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
            win.open_file(str(path), transcribe=False)
        assert win.timeline.spec_img.image is not None  # the file is shown without waiting for it
    assert threads == [True]
    qtbot.waitUntil(lambda: not win._side_jobs)  # released once done
    item = win.timeline.pitch_img
    assert item.isVisible() and item.image.shape == (88, win.loaded.spectrogram.shape[1])
    # map the view point (1.5 s, MIDI 69) into image pixels: it must be the row of A4, and loud
    px = item.mapFromView(QPointF(1.5, 69.0))
    row, col = int(px.y()), int(px.x())
    assert row == 69 - 21 and abs(col - round(1.5 / 0.032)) <= 1
    assert item.image[row, col] >= 250 and int(np.argmax(item.image[:, col])) == row
    assert item.image[row, round(0.5 / 0.032)] < 100  # before the tone: quiet
    win.timeline.setFocus()
    qtbot.keyClick(win.timeline.viewport(), Qt.Key_B)
    assert not item.isVisible() and win.settings.value("view/pitch_spectrum") in (False, "false")
    win2 = make_window()
    assert not win2.timeline.pitch_img.isVisible() and not win2.act_pitch_spectrum.isChecked()


def test_thousands_of_notes_use_a_handful_of_items(make_window):
    win = make_window()
    rng = np.random.default_rng(0)
    n = 20_000
    on = np.sort(rng.uniform(0, 600, n))
    notes = Notes(on, on + rng.uniform(0.05, 1, n), rng.integers(21, 109, n), rng.integers(1, 128, n))
    win.set_notes(notes)
    items = win.timeline.roll_vb.addedItems
    assert len(items) < 20
    assert win.timeline.drawn_notes().equals(notes)


def test_settings_remember_model_and_recent(qtbot, make_window, short_audio):
    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    win._add_recent(str(short_audio))
    win.close()
    win2 = make_window()
    assert win2.model_combo.currentData() == "par-compact"
    assert win2.recent_files()[0] == str(short_audio)


def test_shortcuts_help_lists_every_menu_key(qtbot, make_window):
    """Help → Keyboard shortcuts (F1) is built from the actions: each menu action with a key is
    listed with that key."""
    win = make_window()
    rows = win.shortcut_rows()
    by_action = {a: k for _m, a, k in rows}
    assert by_action["Export MIDI…"] == "Ctrl+E" and by_action["Spectrum behind the notes"] == "B"
    assert by_action["Split at playhead"] == "S" and "Quantise to 1/16 notes" in by_action
    with_keys = [a for a in win.findChildren(QAction) if a.shortcuts() and a.associatedObjects()
                 and any(isinstance(o, QMenu) for o in a.associatedObjects())]
    assert {a.text().replace("&", "") for a in with_keys} <= set(by_action)
    win.act_shortcuts.trigger()
    box = win._shortcuts_box
    text = box.findChild(QLabel).text()
    assert box.isVisible() and "Ctrl+E" in text and "velocity lane" in text
    # it fits the screen (at most 80 % of its height: a 1000 px screen shows it whole) and
    # scrolls what does not fit
    from PySide6.QtWidgets import QScrollArea

    scroll = box.findChild(QScrollArea)
    assert scroll is not None and scroll.widget() is box.findChild(QLabel)
    assert box.height() <= 0.8 * win.screen().availableGeometry().height() + 1
    box.close()


def test_opening_another_file_cancels_the_previous_spectrum_job(qtbot, make_window, tmp_path):
    """A pitch spectrogram still being computed for the previous file is cancelled, and only
    the new file's is shown."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    long_path, short_path = tmp_path / "long.wav", tmp_path / "short.wav"
    sf.write(long_path, (0.1 * rng.standard_normal(16000 * 240)).astype(np.float32), 16000)
    sf.write(short_path, (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32), 16000)
    win = make_window()
    with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
        win.open_file(str(long_path), transcribe=False)
    first = list(win._side_jobs)
    assert len(first) == 1
    with qtbot.waitSignal(win.sigPitchSpectrum, timeout=LONG):
        with qtbot.waitSignal(win.sigLoaded, timeout=LONG):
            win.open_file(str(short_path), transcribe=False)
    assert all(j.is_cancelled() for j in first)
    qtbot.waitUntil(lambda: not win._side_jobs, timeout=LONG)
    assert win.timeline.pitch_img.image.shape == (88, win.loaded.spectrogram.shape[1])
    assert win.loaded.path == str(short_path)
