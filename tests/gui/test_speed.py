"""Playback speed: a passage slowed down through the real playback callback keeps its pitch,
the notes line up with the stretched source, and the playhead stays in source seconds."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from par_studio.constants import SAMPLE_RATE as SR
from par_studio.notes import Notes

LONG = 120_000


def strongest_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), 8 * len(y)))
    return float(np.argmax(spec) * SR / (8 * len(y)))


def first_loud(y: np.ndarray, frac: float = 0.3) -> float:
    env = np.abs(y[: len(y) // 160 * 160]).reshape(-1, 160).max(1)
    return np.nonzero(env > frac * env.max())[0][0] / 100


def test_half_speed_keeps_pitch_and_timing_and_the_setting(qtbot, make_window, short_audio, fake_output):
    from par_studio.audio.io import load_audio
    from par_studio.audio.stretch import time_stretch

    win = make_window()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.open_file(str(short_audio))
    win.set_notes(Notes([0.6], [2.2], [69], [100]))
    vp = win.timeline.viewport()
    qtbot.keyClick(vp, Qt.Key_BracketLeft)
    qtbot.keyClick(vp, Qt.Key_BracketLeft)
    assert win.speed.speed == 0.5 and win.speed.button.text() == "Speed 50 %"
    assert float(win.settings.value("playback/speed")) == 0.5
    qtbot.keyClick(vp, Qt.Key_BracketLeft)  # no slower speed: stays
    assert win.speed.speed == 0.5

    # notes only: the A4 note at 0.6 s sounds at 1.2 s of playback, still at 440 Hz
    win.mixer.slider.setValue(win.mixer.slider.maximum())
    win.seek(0.0)
    win.toggle_play()
    qtbot.waitUntil(lambda: len(fake_output.made) > 0 and fake_output.made[-1].active, timeout=LONG)
    stream = fake_output.made[-1]
    heard = np.concatenate([stream.pull(1024) for _ in range(int(2.0 * SR / 1024))])
    assert abs(first_loud(heard) - 1.2) < 0.03
    assert abs(strongest_hz(heard[int(1.3 * SR): int(1.9 * SR)]) - 440.0) < 3.0
    assert np.isclose(win.player.position(), len(heard) / SR * 0.5, atol=1e-3)  # source seconds
    win.toggle_play()

    # source only: what is heard is the source stretched to half speed, from the playhead
    win.mixer.slider.setValue(win.mixer.slider.minimum())
    win.seek(0.5)
    win.toggle_play()
    stream = fake_output.made[-1]
    heard = np.concatenate([stream.pull(1024) for _ in range(20)])
    ref = time_stretch(load_audio(short_audio), 0.5)[SR: SR + len(heard)]
    gain = np.dot(heard, ref) / np.dot(ref, ref)
    assert np.allclose(heard, gain * ref, atol=1e-4) and 0.2 < gain <= 1.0

    # ] while playing: on at 75 % from the same place in the source
    pos = win.player.position()
    qtbot.keyClick(vp, Qt.Key_BracketRight)
    assert win.speed.speed == 0.75
    qtbot.waitUntil(lambda: win.player.playing and win.player.speed == 0.75, timeout=LONG)
    assert abs(win.player.position() - pos) < 0.01
    win.toggle_play()


def test_speed_is_remembered_and_100_percent_plays_the_source_itself(qtbot, make_window, short_audio,
                                                                   fake_output):
    from par_studio.audio.io import load_audio

    win = make_window()
    win.speed.set_speed(0.75)
    win.close()
    win2 = make_window()
    assert win2.speed.speed == 0.75 and win2.speed.button.text() == "Speed 75 %"
    with qtbot.waitSignal(win2.sigTranscribed, timeout=LONG):
        win2.open_file(str(short_audio))
    win2.speed.set_speed(1.0)
    win2.mixer.slider.setValue(win2.mixer.slider.minimum())
    win2.toggle_play()
    stream = fake_output.made[-1]
    heard = np.concatenate([stream.pull(1024) for _ in range(10)])
    src = load_audio(short_audio)[: len(heard)]
    assert np.allclose(heard, src, atol=1e-5)
    assert win2.speed.job is None  # nothing was stretched
