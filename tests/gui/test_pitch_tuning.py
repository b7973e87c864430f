"""The pitch spectrum behind the notes follows the piano's tuning, as the transcription does.

A recording of a piano 35 cents sharp (4 s of the bundled example played faster) has every key's
energy between two A440 rows; the GUI computes its pitch spectrogram at the tuning the
transcription uses: Auto measures it in the pitch job's thread, Set uses its cents, A440 (off)
and tunings under 2 cents use the A440 rows. Changing the setting computes it again only when
its rows move; a live session stays at A440.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QThread

from par_studio import tuning as tuning_mod
from par_studio.gui.spectrum import pitch_spectrogram

from .conftest import RESOURCES
from .test_tuning_gui import choose, sharpened

LONG = 120_000  # ms
CENTS = 35.0


@pytest.fixture(scope="module")
def sharp_4s(tmp_path_factory):
    """(path, audio as the app loads it) of 4 s of the example, 35 cents sharp."""
    import soundfile as sf

    from par_studio.audio.io import load_audio

    y = sharpened(load_audio(RESOURCES / "example.flac", max_seconds=4.0), CENTS)
    path = tmp_path_factory.mktemp("pitch_tuning") / "sharp35.wav"
    sf.write(path, y, 16000)
    return path, load_audio(path)


@pytest.fixture(scope="module")
def expected(sharp_4s):
    """The measured tuning and the pitch spectrograms the GUI must show (computed once)."""
    _, audio = sharp_4s
    measured = tuning_mod.estimate_tuning(audio)
    assert measured is not None and measured.corrects and measured.cents == pytest.approx(CENTS, abs=3.0)
    return {"measured": measured, "auto": pitch_spectrogram(audio, tuning_cents=measured.cents),
            "off": pitch_spectrogram(audio), "+20": pitch_spectrogram(audio, tuning_cents=20.0)}


@pytest.fixture
def pitch_measurements(monkeypatch):
    """The tuning measurements made by the pitch spectrum's job (not the transcription's)."""
    calls = []
    real = tuning_mod.estimate_tuning

    def counted(audio):
        if QThread.currentThread().objectName() == "par-PitchSpectrumJob":
            calls.append(len(audio))
        return real(audio)

    monkeypatch.setattr(tuning_mod, "estimate_tuning", counted)
    return calls


def compact(win):
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))


def shown(win) -> np.ndarray:
    return win.timeline.pitch_img.image


def settle(qtbot, win):
    """Wait for the pitch job(s) and the transcription to end."""
    qtbot.waitUntil(lambda: not win._side_jobs and win.job is None, timeout=LONG)


def test_auto_measures_in_the_job_and_every_change_of_setting_moves_the_rows(qtbot, make_window, sharp_4s,
                                                                             expected, pitch_measurements):
    path, audio = sharp_4s
    win = make_window()
    compact(win)
    assert win.tuning_setting() is None  # Auto
    transcribed = []
    win.sigTranscribed.connect(transcribed.append)
    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        win.open_file(str(path))
    settle(qtbot, win)
    measured = expected["measured"]
    assert transcribed[0].tuning == measured  # the transcription's tuning is the pitch spectrum's
    assert pitch_measurements == [len(audio)]  # measured once, in the pitch job's thread
    assert win.loaded.pitch_cents == measured.cents and win.loaded.measured_cents == measured.cents
    assert np.array_equal(shown(win), expected["auto"])
    assert np.array_equal(win.loaded.pitch_spectrogram, expected["auto"])
    assert not np.array_equal(shown(win), expected["off"])

    # A440 (off): the A440 rows
    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        choose(qtbot, win, "off")
    settle(qtbot, win)
    assert np.array_equal(shown(win), expected["off"]) and win.loaded.pitch_cents == 0.0

    # a set tuning: its rows
    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        choose(qtbot, win, "set", "+20")
    settle(qtbot, win)
    assert np.array_equal(shown(win), expected["+20"]) and win.loaded.pitch_cents == 20.0

    # back to A440 through a set tuning too small to correct: +1 cent is transcribed as it is
    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        choose(qtbot, win, "set", "+1")
    settle(qtbot, win)
    assert np.array_equal(shown(win), expected["off"]) and win.loaded.pitch_cents == 0.0
    spectra = []
    win.sigPitchSpectrum.connect(lambda: spectra.append(1))
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):  # the rows stay: nothing computed
        choose(qtbot, win, "off")
    settle(qtbot, win)
    assert spectra == [] and np.array_equal(shown(win), expected["off"])

    # Auto again: the file's measurement is kept, not made again
    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        choose(qtbot, win, "auto")
    settle(qtbot, win)
    assert np.array_equal(shown(win), expected["auto"]) and pitch_measurements == [len(audio)]

    # Auto → off → Auto before the off job has ended: the Auto rows stay shown
    spectra.clear()
    choose(qtbot, win, "off")
    assert win._side_jobs  # computing the A440 rows
    choose(qtbot, win, "auto")
    settle(qtbot, win)
    qtbot.wait(200)
    assert np.array_equal(shown(win), expected["auto"]) and win.loaded.pitch_cents == measured.cents
    assert spectra == []


def test_opened_at_a440_then_auto_measures_in_the_job(qtbot, make_window, sharp_4s, expected,
                                                      pitch_measurements):
    path, audio = sharp_4s
    win = make_window()
    compact(win)
    choose(qtbot, win, "off")  # nothing open: only the setting
    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        win.open_file(str(path))
    settle(qtbot, win)
    assert np.array_equal(shown(win), expected["off"])
    assert pitch_measurements == [] and win.loaded.measured_cents is None  # nothing measured at A440

    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        choose(qtbot, win, "auto")
    settle(qtbot, win)
    assert pitch_measurements == [len(audio)]
    assert np.array_equal(shown(win), expected["auto"]) and win.loaded.pitch_cents == expected["measured"].cents


def test_an_in_tune_piano_keeps_the_a440_rows(qtbot, make_window, tmp_path, pitch_measurements):
    """The example as it is measures about -1 cent: not corrected, so the rows are A440's, and
    moving between Auto and A440 computes nothing again."""
    import soundfile as sf

    from par_studio.audio.io import load_audio

    y = load_audio(RESOURCES / "example.flac", max_seconds=3.0)
    path = tmp_path / "in_tune.wav"
    sf.write(path, y, 16000)
    audio = load_audio(path)
    m = tuning_mod.estimate_tuning(audio)
    assert m is not None and not m.corrects
    win = make_window()
    compact(win)
    with qtbot.waitSignals([win.sigTranscribed, win.sigPitchSpectrum], timeout=LONG):
        win.open_file(str(path))
    settle(qtbot, win)
    assert len(pitch_measurements) == 1 and win.loaded.measured_cents == 0.0
    assert win.loaded.pitch_cents == 0.0 and np.array_equal(shown(win), pitch_spectrogram(audio))
    spectra = []
    win.sigPitchSpectrum.connect(lambda: spectra.append(1))
    for choice in ("off", "auto"):
        with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
            choose(qtbot, win, choice)
        settle(qtbot, win)
    assert spectra == [] and len(pitch_measurements) == 1


def test_live_stays_at_a440(qtbot, make_window, sharp_4s, pitch_measurements):
    """Live input is transcribed at A440: with the view off during the session, the pitch
    spectrogram computed after Stop has the A440 rows, whatever the tuning setting."""
    from par_studio.audio.live import FileSource

    _, audio = sharp_4s
    win = make_window()
    compact(win)
    assert win.tuning_setting() is None  # Auto
    win.act_pitch_spectrum.trigger()  # off: computed by a job after Stop
    with qtbot.waitSignal(win.sigPitchSpectrum, timeout=LONG):
        with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG):
            win.start_live(FileSource(audio, realtime=False))
    settle(qtbot, win)
    assert pitch_measurements == [] and win.loaded.pitch_cents == 0.0
    assert np.array_equal(win.loaded.pitch_spectrogram, pitch_spectrogram(win.loaded.audio))
