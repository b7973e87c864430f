"""Transcribe → Reduce hall reverb: a checkable option, kept in the settings (off by default).

Toggling it transcribes the open file again with a full run (the kept acoustic features heard
the other audio); a sensitivity change with the same setting runs the decoder alone. The notes
shown are the engine's ``transcribe(..., dereverb=True)``; the status bar and the progress bar
say what runs; a live session (not dereverberated) disables it. The audio is 3 s of the bundled
example played in a synthetic hall (RT60 2 s), so WPE takes well under a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import RESOURCES

LONG = 120_000  # ms
RT60 = 2.0


def in_a_hall(y: np.ndarray, rt60: float = RT60, seed: int = 0) -> np.ndarray:
    """``y`` (16 kHz) convolved with a synthetic hall's impulse response: the direct sound,
    then exponentially decaying noise (60 dB down after ``rt60`` s), same length, peak 0.9."""
    from scipy.signal import fftconvolve

    sr = 16000
    t = np.arange(int(1.5 * rt60 * sr)) / sr
    rir = np.random.default_rng(seed).standard_normal(len(t)) * 10 ** (-3.0 * t / rt60) * 0.1
    rir[0] = 1.0
    wet = fftconvolve(y, rir)[: len(y)]
    return (0.9 * wet / np.abs(wet).max()).astype(np.float32)


@pytest.fixture(scope="module")
def hall_audio(tmp_path_factory):
    import soundfile as sf

    from par_studio.audio.io import load_audio

    y = in_a_hall(load_audio(RESOURCES / "example.flac", max_seconds=3.0))
    path = tmp_path_factory.mktemp("hall") / "hall.wav"
    sf.write(path, y, 16000)
    return path


def open_and_transcribe(qtbot, win, path):
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.open_file(str(path))
    return blocker.args[0]


def compact(win):
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))


def test_option_is_in_the_transcribe_menu_off_by_default_and_remembered(qtbot, make_window):
    win = make_window()
    a = win.act_dereverb
    assert a in win.transcribe_menu.actions() and a.isCheckable() and a.isEnabled()
    assert a.text().replace("&", "") == "Reduce hall reverb"
    assert not a.isChecked() and win.dereverb_setting() is False
    assert a.statusTip().startswith("For recordings in a reverberant hall or church: takes out the late reverb")
    assert a.statusTip().endswith("not needed for dry rooms.")
    assert a.toolTip() == f"<p>{a.statusTip()}</p>"  # rich text, so the tooltip wraps
    assert win.transcribe_menu.toolTipsVisible()

    a.trigger()  # as a click in the menu does (no file open: nothing to transcribe)
    assert win.dereverb_setting() is True and win.job is None
    assert make_window().act_dereverb.isChecked()
    a.trigger()
    assert not make_window().act_dereverb.isChecked()

    for corrupt in ("banana", "2", ""):
        win.settings.setValue("model/dereverb", corrupt)
        win.settings.sync()
        assert make_window().dereverb_setting() is False, corrupt
    win.settings.setValue("model/dereverb", True)
    win.settings.sync()
    assert make_window().dereverb_setting() is True


def test_toggling_retranscribes_fully_and_the_notes_are_the_engines(qtbot, make_window, hall_audio):
    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import DEREVERB_SHARE, transcribe

    audio = load_audio(hall_audio)
    win = make_window()
    compact(win)
    dry = open_and_transcribe(qtbot, win, hall_audio)
    assert dry.dereverb is False and not dry.info["features"].dereverb
    assert "hall reverb" not in win.statusBar().currentMessage()
    model, _ = win.model_cache[win.current_spec().key()]

    # on: the network runs again on the dereverberated audio (not the decoder on kept features)
    messages = []
    win.statusBar().messageChanged.connect(messages.append)
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.act_dereverb.trigger()
        assert win.job is not None and win.job[0].reduces_reverb
        assert win.progress.format() == "Reducing reverb %p%"
        # the bar's words follow the engine's split of the progress (what the job reports)
        win._on_progress(0.5 * DEREVERB_SHARE)
        assert win.progress.format().startswith("Reducing reverb")
        win._on_progress(DEREVERB_SHARE + 0.01)
        assert win.progress.format().startswith("Transcribing")
    on = blocker.args[0]
    assert any("reducing the hall reverb first" in m for m in messages), messages
    assert win.settings.value("model/dereverb") in (True, "true")
    assert not on.info.get("decoder_only") and on.dereverb is True and on.info["features"].dereverb
    expect = transcribe(audio, model, dereverb=True)
    assert on.notes.equals(expect.notes) and win.notes.equals(expect.notes) and len(expect.notes) > 0
    assert not on.notes.equals(dry.notes)  # the option changes what the model hears
    assert win.statusBar().currentMessage().endswith("; hall reverb reduced")

    # sensitivity with the same setting: the decoder alone, on the dereverberated features
    messages.clear()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.sensitivity_slider.setValue(-6)
    resens = blocker.args[0]
    assert resens.info.get("decoder_only") and resens.dereverb is True
    assert resens.notes.equals(transcribe(audio, model, sensitivity=-0.3, dereverb=True).notes)
    assert not any("reducing" in m for m in messages), messages  # nothing is dereverberated now
    assert "decoder only" in win.statusBar().currentMessage()
    assert win.statusBar().currentMessage().endswith("; hall reverb reduced")  # the notes' audio was

    # off again: a full run on the audio as it is
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.act_dereverb.trigger()
        assert not win.job[0].reduces_reverb and win.progress.format() == "Transcribing %p%"
    off = blocker.args[0]
    assert not off.info.get("decoder_only") and off.dereverb is False
    assert off.notes.equals(transcribe(audio, model, sensitivity=-0.3).notes)
    assert "hall reverb" not in win.statusBar().currentMessage()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.sensitivity_slider.setValue(0)
    assert blocker.args[0].info.get("decoder_only") and blocker.args[0].notes.equals(dry.notes)


def test_a_file_opened_with_the_option_on_is_dereverberated(qtbot, make_window, hall_audio):
    """The setting kept from an earlier session applies to the first transcription of a file."""
    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe

    win = make_window()
    win.settings.setValue("model/dereverb", True)
    win.settings.setValue("model/preset", "par-compact")
    win.settings.sync()
    win2 = make_window()
    assert win2.dereverb_setting()
    tr = open_and_transcribe(qtbot, win2, hall_audio)
    model, _ = win2.model_cache[win2.current_spec().key()]
    assert tr.dereverb and tr.notes.equals(transcribe(load_audio(hall_audio), model, dereverb=True).notes)
    assert "; hall reverb reduced" in win2.statusBar().currentMessage()


def test_live_session_disables_the_option(qtbot, make_window, short_audio):
    from par_studio.audio.io import load_audio
    from par_studio.audio.live import FileSource

    win = make_window()
    compact(win)
    win.act_dereverb.trigger()  # on, with no file open yet
    open_and_transcribe(qtbot, win, short_audio)
    assert win.act_dereverb.isEnabled()
    with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG) as blocker:
        win.start_live(FileSource(load_audio(short_audio), realtime=False))
        assert not win.act_dereverb.isEnabled()
    assert blocker.args[0] is not None and len(blocker.args[0].notes) > 0
    assert win.live is None and win.act_dereverb.isEnabled() and win.act_dereverb.isChecked()
