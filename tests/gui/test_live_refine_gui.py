"""A live take's velocities are refined when it stops (in the live worker's thread), drawn and
exported as such; without the refiner the decoder's stay; stopping, opening a file or closing
the window while it refines neither hangs nor crashes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from par_studio.engine import take as tk
from par_studio.midi_io import read_midi

from .conftest import notes_close

LONG = 120_000  # ms


def compact(win):
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))


def live_take(qtbot, win, audio):
    """Play ``audio`` through the live path (as fast as the worker goes) until the take stops."""
    from par_studio.audio.live import FileSource

    with qtbot.waitSignal(win.sigLiveStopped, timeout=LONG) as blocker:
        win.start_live(FileSource(audio, realtime=False))
    return blocker.args[0]


def decoder_result(win, audio):
    """The streaming engine's own result for ``audio`` (the decoder's velocities)."""
    from par_studio.engine.streaming import StreamingEngine

    model, _ = win.model_cache[win.current_spec().key()]
    eng = StreamingEngine(model, keep_probabilities=False, sensitivity=win.sensitivity())
    for a in range(0, len(audio), 4000):
        eng.push(audio[a:a + 4000])
    eng.finish()
    return eng.result()


@pytest.fixture(scope="module")
def audio(short_audio):
    from par_studio.audio.io import load_audio

    return load_audio(short_audio)


def test_a_stopped_take_is_drawn_and_exported_with_the_refined_velocities(qtbot, make_window, audio, tmp_path,
                                                                          monkeypatch):
    from par_studio.constants import ONSET_STATES

    seen = []  # what the live worker refined: its streaming result and the take's audio
    refine = tk.refine_take
    monkeypatch.setattr(tk, "refine_take", lambda tr, a, **kw: seen.append((tr, a)) or refine(tr, a, **kw))
    win = make_window()
    compact(win)
    result = live_take(qtbot, win, audio)
    assert result.velocity_refined and "velocities refined" in win.statusBar().currentMessage()
    (decoded, heard), = seen
    assert np.array_equal(heard, audio) and not decoded.velocity_refined
    # exactly the refiner's call on the streaming frames and the take's audio (as it is: no tuning set)
    want = tk.load_refiner().refine_frames(decoded.states, decoded.velocity, audio)
    assert np.array_equal(result.states, decoded.states) and np.array_equal(result.velocity, want)
    # the streaming engine's own frames for this audio; at the onsets, the same refined velocities
    plain = decoder_result(win, audio)
    on = np.isin(plain.states, ONSET_STATES)
    assert np.array_equal(result.states, plain.states)
    assert np.array_equal(result.velocity[on], tk.load_refiner().refine_frames(plain.states, plain.velocity,
                                                                               audio)[on])
    assert len(plain.notes) >= 8 and np.array_equal(result.notes.pitch, plain.notes.pitch)
    assert (result.notes.velocity != plain.notes.velocity).mean() > 0.3  # not the decoder's
    assert np.array_equal(win.loaded.audio, audio)  # the take's audio, for playing and saving
    # what is drawn is the refined take, and what is exported is what is drawn
    assert win.notes is result.notes and win.transcription is result
    drawn = win.timeline.drawn_notes()
    assert drawn.equals(result.notes)
    mid = win.export(tmp_path / "take.mid")
    assert notes_close(read_midi(mid), drawn, atol=2e-3)


def test_without_the_refiner_the_take_keeps_the_decoder_velocities(qtbot, make_window, audio, monkeypatch, tmp_path):
    monkeypatch.setattr(tk, "load_refiner", lambda: None)
    win = make_window()
    compact(win)
    result = live_take(qtbot, win, audio)
    plain = decoder_result(win, audio)
    assert not result.velocity_refined and "refined" not in win.statusBar().currentMessage()
    assert np.allclose(result.velocity, plain.velocity, atol=1e-6) and result.notes.equals(plain.notes)
    assert win.timeline.drawn_notes().equals(plain.notes)
    assert notes_close(read_midi(win.export(tmp_path / "take.mid")), plain.notes, atol=2e-3)


class SlowRefiner:
    """Refines until released (polling the worker's cancel), then gives the velocities + 1/128."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()
        self.cancelled = 0

    def refine_frames(self, states, velocity, audio, tick=None):
        self.entered.set()
        deadline = time.monotonic() + 60
        try:
            while not self.release.is_set() and time.monotonic() < deadline:
                tick()
                time.sleep(0.005)
        except Exception:
            self.cancelled += 1
            raise
        return velocity + np.float32(1 / 128)


def test_the_gui_stays_live_while_the_take_refines_and_a_teardown_then_is_quick(qtbot, make_window, audio,
                                                                               short_audio, monkeypatch):
    slow = SlowRefiner()
    monkeypatch.setattr(tk, "load_refiner", lambda: slow)
    win = make_window()
    compact(win)
    from par_studio.audio.live import FileSource

    # 1. the refinement runs in the worker's thread: the GUI goes on (its timers run), and the
    #    Live button or a new take while it finishes change nothing
    stopped = []
    win.sigLiveStopped.connect(stopped.append)
    win.start_live(FileSource(audio, realtime=False))
    qtbot.waitUntil(slow.entered.is_set, timeout=LONG)
    assert win.live is not None and win.live["state"] == "finishing"
    ticks = []
    from PySide6.QtCore import QTimer

    timer = QTimer(win)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.wait(300)
    assert len(ticks) >= 5 and not stopped  # the event loop is free
    timer.stop()
    win.toggle_live()
    win.start_live(FileSource(audio, realtime=False))
    assert win.live["state"] == "finishing"
    slow.release.set()
    qtbot.waitUntil(lambda: bool(stopped), timeout=LONG)
    result = stopped[0]
    assert result.velocity_refined and slow.cancelled == 0
    assert win.notes is result.notes and win.timeline.drawn_notes().equals(result.notes)

    # 2. opening a file while a take refines: the worker stops at its next poll, quickly
    slow.entered.clear()
    slow.release.clear()
    win.start_live(FileSource(audio, realtime=False))
    qtbot.waitUntil(slow.entered.is_set, timeout=LONG)
    t0 = time.monotonic()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG):
        win.open_file(str(short_audio))
        assert time.monotonic() - t0 < 5.0 and win.live is None
    assert slow.cancelled == 1 and len(stopped) == 1
    assert not [t for t in win.worker_threads() if t.isRunning() and t.objectName() == "par-LiveWorker"]

    # 3. closing the window while a take refines
    slow.entered.clear()
    win.start_live(FileSource(audio, realtime=False))
    qtbot.waitUntil(slow.entered.is_set, timeout=LONG)
    t0 = time.monotonic()
    win.shutdown()
    assert time.monotonic() - t0 < 5.0 and win.live is None and slow.cancelled == 2
    assert not [t for t in win.worker_threads() if t.isRunning()]
