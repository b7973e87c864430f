"""The toolbar's piano tuning picker: Auto (measure), A440 (off), Set… (cents or Hz).

A recording of a piano 35 cents sharp (the bundled example resampled) is measured, brought to
A440 before the model runs, and shown as such; changing the setting transcribes again, and the
decoder alone runs again only on acoustic features computed at the tuning asked for.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from par_studio.tuning import Tuning

from .conftest import RESOURCES

LONG = 120_000  # ms
CENTS = 35.0
SHIPPED_MODELS = Path(__file__).resolve().parents[2] / "models"


def _write(path, y):
    import soundfile as sf

    sf.write(path, y, 16000)
    return path


def sharpened(y: np.ndarray, cents: float) -> np.ndarray:
    """``y`` (16 kHz) played ``r = 2**(cents/1200)`` times faster: every frequency ``r`` times
    higher (soxr to 16000/r Hz, played back at 16 kHz), ``r`` times shorter."""
    import soxr

    r = 2.0 ** (cents / 1200.0)
    return soxr.resample(y, 16000, 16000 / r, quality="HQ").astype(np.float32)


@pytest.fixture(scope="module")
def example_6s(tmp_path_factory):
    """6 s of the bundled example as a WAV: in tune (measured -1 cent) and 35 cents sharp."""
    from par_studio.audio.io import load_audio

    y = load_audio(RESOURCES / "example.flac", max_seconds=6.0)
    d = tmp_path_factory.mktemp("tuning")
    return _write(d / "in_tune.wav", y), _write(d / "sharp35.wav", sharpened(y, CENTS))


def open_and_transcribe(qtbot, win, path):
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.open_file(str(path))
    return blocker.args[0]


def choose(qtbot, win, choice: str, answer: str | None = None, accept: bool = True):
    """Pick the tuning item ``choice`` ("auto", "off", "set") as a user does; for "set", type
    ``answer`` in the dialog it opens and press OK (or Cancel)."""
    index = win.tuning_combo.findData(choice)
    assert index >= 0
    if choice == "set":
        def fill():
            dialogs = [w for w in QApplication.topLevelWidgets()
                       if isinstance(w, QInputDialog) and w.isVisible()]
            if not dialogs:
                QTimer.singleShot(20, fill)
                return
            dialogs[0].setTextValue(answer)
            dialogs[0].accept() if accept else dialogs[0].reject()

        QTimer.singleShot(0, fill)
    win.tuning_combo.setCurrentIndex(index)  # what a click on the item does: select, then activated
    win.tuning_combo.activated.emit(index)


def item_texts(win) -> list[str]:
    return [win.tuning_combo.itemText(i) for i in range(win.tuning_combo.count())]


def close_error(win):
    if win._error_box is not None:
        win._error_box.close()


def test_tuning_setting_is_remembered_and_a_bad_value_keeps_the_old_one(qtbot, make_window):
    win = make_window()
    assert win.tuning_setting() is None and win.tuning_combo.currentText() == "Auto"
    assert "A440" in win.tuning_combo.toolTip() and "flat" in win.tuning_combo.toolTip()
    assert win.tuning_combo.isEnabled()

    choose(qtbot, win, "set", "+20")
    assert win.tuning_setting() == Tuning(20.0, "set")
    assert win.settings.value("model/tuning") == "+20.0"
    assert win.tuning_combo.currentText() == "Set: +20 c…"
    assert "A4 = 445.1 Hz" in win.tuning_combo.toolTip()

    for bad, words in (("99", "±50"), ("banana", "not 'auto'"), ("500 Hz", "400–480")):
        with qtbot.waitSignal(win.sigError, timeout=5000) as blocker:
            choose(qtbot, win, "set", bad)
        assert words in blocker.args[0] and "stays +20 cents (A4 = 445.1 Hz)." in blocker.args[0]
        close_error(win)
        assert win.tuning_setting() == Tuning(20.0, "set")  # the old setting, shown and kept
        assert win.tuning_combo.currentText() == "Set: +20 c…"
        assert win.settings.value("model/tuning") == "+20.0"

    choose(qtbot, win, "off")
    assert win.tuning_setting() == Tuning(0.0, "off") and win.tuning_combo.currentText() == "A440 (off)"
    choose(qtbot, win, "set", "+35", accept=False)  # Cancel: stays off
    assert win.tuning_setting() == Tuning(0.0, "off") and win.tuning_combo.currentText() == "A440 (off)"
    assert win.settings.value("model/tuning") == "off"
    assert make_window().tuning_setting() == Tuning(0.0, "off")

    choose(qtbot, win, "set", "442 Hz")  # concert pitch in Hz: 7.85 cents, kept to 0.1 cent
    assert win.tuning_setting() == Tuning(7.9, "set") and win.settings.value("model/tuning") == "+7.9"
    win2 = make_window()
    assert win2.tuning_setting() == Tuning(7.9, "set")
    assert win2.tuning_combo.currentText() == "Set: +7.9 c…"

    choose(qtbot, win2, "auto")
    assert make_window().tuning_setting() is None
    win2.settings.setValue("model/tuning", "banana")  # corrupt: back to Auto
    win2.settings.sync()
    win3 = make_window()
    assert win3.tuning_setting() is None and win3.tuning_combo.currentText() == "Auto"


def test_a_sharp_piano_is_measured_brought_to_a440_and_the_setting_retranscribes(qtbot, make_window,
                                                                                example_6s):
    """Test models (random weights): the GUI gives exactly what the engine gives for the
    setting, and says what it measured; every change of the setting transcribes again."""
    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe

    _, sharp_path = example_6s
    sharp = load_audio(sharp_path)
    win = make_window()
    tr = open_and_transcribe(qtbot, win, sharp_path)
    t = tr.tuning
    assert t.source == "measured" and t.cents == pytest.approx(CENTS, abs=3.0) and t.corrects
    model, _ = win.model_cache[win.current_spec().key()]
    assert tr.notes.equals(transcribe(sharp, model).notes) and len(tr.notes) > 0
    status = win.statusBar().currentMessage()
    m = re.search(r"piano at A4 = (\d+\.\d) Hz \(([+-]\d+) cents\), brought to A440", status)
    assert m, status
    assert float(m.group(1)) == pytest.approx(440 * 2 ** (CENTS / 1200), abs=1.0)
    assert int(m.group(2)) == pytest.approx(CENTS, abs=3)
    m = re.fullmatch(r"Auto \(([+-][\d.]+) c\)", item_texts(win)[0])
    assert m and float(m.group(1)) == pytest.approx(t.cents, abs=0.05)
    assert "Measured on this file: A4 = " in win.tuning_combo.toolTip()

    # sensitivity: the decoder alone, on the features of the measured tuning
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.sensitivity_slider.setValue(-6)
    assert blocker.args[0].info.get("decoder_only") and blocker.args[0].tuning == t

    # off: transcribed again, as it is (a full run: the kept features heard it at A440)
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        choose(qtbot, win, "off")
    off = blocker.args[0]
    assert not off.info.get("decoder_only") and off.tuning == Tuning(0.0, "off")
    assert off.notes.equals(transcribe(sharp, model, sensitivity=-0.3, tuning=Tuning()).notes)
    assert "brought to A440" not in win.statusBar().currentMessage()
    assert item_texts(win)[0].startswith("Auto (+")  # still shows what this file measured
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.sensitivity_slider.setValue(0)
    assert blocker.args[0].info.get("decoder_only") and blocker.args[0].tuning == Tuning(0.0, "off")

    # back to Auto: the kept features are of "off", so the network runs again
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        choose(qtbot, win, "auto")
    auto = blocker.args[0]
    assert not auto.info.get("decoder_only") and auto.tuning == t and auto.notes.equals(tr.notes)

    # a set tuning: a full run at that tuning, said in the status bar
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        choose(qtbot, win, "set", "+20")
    st = blocker.args[0]
    assert not st.info.get("decoder_only") and st.tuning == Tuning(20.0, "set")
    assert st.notes.equals(transcribe(sharp, model, tuning=Tuning(20.0, "set")).notes)
    assert "piano set to A4 = 445.1 Hz (+20 cents), brought to A440" in win.statusBar().currentMessage()

    # the same setting again (Set… with the value it has) starts nothing
    done = []
    win.sigTranscribed.connect(done.append)
    choose(qtbot, win, "set", "+20")
    qtbot.wait(300)
    assert done == [] and win.job is None

    # another file: its own measurement (the example in tune: not corrected)
    in_tune = load_audio(example_6s[0])
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        choose(qtbot, win, "auto")
    tr2 = open_and_transcribe(qtbot, win, example_6s[0])
    assert tr2.tuning.source == "measured" and abs(tr2.tuning.cents) < 2.0 and not tr2.tuning.corrects
    assert tr2.notes.equals(transcribe(in_tune, model).notes)
    assert item_texts(win)[0] == f"Auto ({tr2.tuning.cents:+.0f} c)"
    assert "brought to A440" not in win.statusBar().currentMessage()


def test_live_session_keeps_a440_and_disables_the_picker(qtbot, make_window, short_audio):
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource

    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    open_and_transcribe(qtbot, win, short_audio)
    assert item_texts(win)[0].startswith("Auto (")
    with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG) as blocker:
        win.start_live(FileSource(load_audio(short_audio), realtime=False))
        assert not win.tuning_combo.isEnabled()
        assert item_texts(win)[0] == "Auto"  # the measurement was of the file, not of the live input
    result = blocker.args[0]
    assert result is not None and len(result.notes) > 0 and not result.tuning.corrects
    assert win.live is None and win.tuning_combo.isEnabled()


@pytest.mark.slow
def test_shipped_model_finds_the_in_tune_notes_of_a_sharp_piano(qtbot, make_window, example_6s):
    """With the trained PARcompact: the sharp recording transcribed at Auto matches the in-tune
    recording's transcription (onsets scaled to the faster playback) far better than at A440."""
    import mir_eval.transcription as mt

    from par_studio.notes import Notes

    if not (SHIPPED_MODELS / "par-compact-320.pt").is_file():
        pytest.skip("shipped PARcompact weights not present")
    win = make_window(models=SHIPPED_MODELS)
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    win.latency_combo.setCurrentIndex(win.latency_combo.findData(320))
    in_tune, sharp = example_6s
    ref = open_and_transcribe(qtbot, win, in_tune).notes
    r = 2.0 ** (CENTS / 1200.0)
    ref = Notes(ref.onset / r, ref.offset / r, ref.pitch, ref.velocity)  # played r times faster
    auto = open_and_transcribe(qtbot, win, sharp)
    assert auto.tuning.corrects and auto.tuning.cents == pytest.approx(CENTS, abs=3.0)
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        choose(qtbot, win, "off")
    off = blocker.args[0]

    def f1(notes):
        return mt.precision_recall_f1_overlap(ref.intervals(), ref.pitches_hz(), notes.intervals(),
                                              notes.pitches_hz(), offset_ratio=None)[2]

    print(f"note F1 against the in-tune transcription: auto {f1(auto.notes):.3f}, off {f1(off.notes):.3f}")
    assert len(ref) >= 20
    assert f1(auto.notes) >= 0.9
    assert f1(auto.notes) > f1(off.notes) + 0.1


def test_live_session_hears_a_set_tuning_at_a440(qtbot, make_window, example_6s):
    """A tuning the user set applies to live input (Auto cannot measure ahead): the live result
    is the offline transcription at that tuning, and the status says so."""
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource
    from par_studio.engine.offline import transcribe

    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    _, sharp = example_6s
    open_and_transcribe(qtbot, win, sharp)
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        choose(qtbot, win, "set", "+35")
    offline = transcribe(load_audio(sharp), win.model_cache[win.current_spec().key()][0],
                         tuning=Tuning(35.0, "set"))  # the live take's velocities are refined when it stops
    with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG) as blocker:
        win.start_live(FileSource(load_audio(sharp), realtime=False))
        assert "A4 = 449.0 Hz" in win.statusBar().currentMessage()
    result = blocker.args[0]
    assert result.tuning == Tuning(35.0, "set") and result.velocity_refined
    assert len(result.notes) > 0 and result.notes.equals(offline.notes, atol=1e-3)


def test_live_pitch_spectrum_follows_a_set_tuning(qtbot, make_window, example_6s):
    """Live at a set tuning, the spectrum behind the notes is drawn on that piano's key rows and
    kept so after the session (a file transcribed at that tuning shows the same rows)."""
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource

    win = make_window()
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    win.act_pitch_spectrum.setChecked(True)
    _, sharp = example_6s
    open_and_transcribe(qtbot, win, sharp)
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        choose(qtbot, win, "set", "+35")
    with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG):
        win.start_live(FileSource(load_audio(sharp), realtime=False))
    assert win.loaded.pitch_cents == 35.0 and win.loaded.pitch_spectrogram is not None
    from par_studio.gui.spectrum import pitch_spectrogram

    live = win.loaded.pitch_spectrogram.astype(float).ravel()
    audio = load_audio(sharp)
    tuned = pitch_spectrogram(audio, tuning_cents=35.0).astype(float).ravel()
    plain = pitch_spectrogram(audio).astype(float).ravel()
    assert len(live) == len(tuned)
    # the live columns are those of the file's own pitch spectrum at +35 (up to the live scale)
    assert np.corrcoef(live, tuned)[0, 1] > np.corrcoef(live, plain)[0, 1] + 0.05
