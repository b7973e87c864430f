"""Live input at a set tuning: the streaming engine hears the piano at A440 and its notes come
back on the input's clock, as the offline transcription at that tuning gives them."""

from __future__ import annotations

import numpy as np
import pytest

from par_studio.constants import SAMPLE_RATE
from par_studio.engine.offline import transcribe
from par_studio.engine.streaming import StreamingEngine
from par_studio.engine.tuned_stream import TunedStream
from par_studio.tuning import Tuning
from test_streaming import confident_model, make_audio


def stream(engine, audio, block=1600):
    for a in range(0, len(audio), block):
        engine.push(audio[a:a + block])
    engine.finish()
    return engine


def res_states_equal(live, off) -> bool:
    states = live.result().states
    return states.shape == off.states.shape and np.array_equal(states, off.states)


def matched(a, b, tol=0.07):
    """Share of the notes of ``a`` with a note of ``b`` of the same pitch within ``tol`` s."""
    hits = sum(bool(np.any((b.pitch == p) & (np.abs(b.onset - t) <= tol))) for t, p in zip(a.onset, a.pitch))
    return hits / max(1, len(a))


@pytest.mark.parametrize("cents", [30.0, -25.0])
def test_tuned_stream_gives_the_offline_notes_at_that_tuning(cents):
    audio = make_audio(3.0, seed=5)
    model = confident_model("par-compact", 192, audio)
    tuning = Tuning(cents, "set")
    off = transcribe(audio, model, tuning=tuning, refine_velocity=False)
    live = stream(TunedStream(StreamingEngine(model), tuning), audio)
    notes = live.notes()
    assert len(off.notes) > 5
    # the model heard the same resampled audio: the same frames (as many as the slowed-down
    # audio has, not the input's) and the same notes
    assert res_states_equal(live, off)
    assert notes.equals(off.notes, atol=1e-3) and matched(off.notes, notes) == 1.0
    assert notes.end_time() <= len(audio) / SAMPLE_RATE + 0.1  # on the input's clock
    res = live.result()
    assert res.tuning == tuning and res.frame_seconds == pytest.approx(off.frame_seconds)
    assert res.notes.equals(notes) and res.redecode().equals(notes)
    assert res.duration == pytest.approx(len(audio) / SAMPLE_RATE)
    assert live.samples_pushed == len(audio)
    assert abs(live.frames_emitted - off.n_frames * tuning.time_scale) <= 2


def test_in_tune_stream_is_the_plain_engine():
    audio = make_audio(2.0, seed=6)
    model = confident_model("par-compact", 192, audio)
    plain = stream(StreamingEngine(model), audio)
    tuned = stream(TunedStream(StreamingEngine(model), Tuning(1.0, "set")), audio)  # < 2 c: not corrected
    assert tuned.notes().equals(plain.notes()) and tuned.frames_emitted == plain.frames_emitted
    assert tuned.latency_ms == plain.latency_ms


def test_live_cli_at_a_set_tuning_matches_transcribe_at_it(tmp_path, capsys):
    from par_studio import cli
    from par_studio.midi_io import read_midi
    from test_live import live_cli_inputs

    _, wav, ckpt = live_cli_inputs(tmp_path)
    assert cli.main(["transcribe", str(wav), "--model", str(ckpt), "-o", str(tmp_path / "off.mid"), "-q",
                     "--tuning", "+30"]) == 0
    assert cli.main(["live", "--file", str(wav), "--no-realtime", "--model", str(ckpt), "--tuning", "+30",
                     "-o", str(tmp_path / "live.mid")]) == 0
    assert "+30 cents, set; corrected" in capsys.readouterr().err
    off, liv = read_midi(tmp_path / "off.mid"), read_midi(tmp_path / "live.mid")
    assert len(off) > 10 and liv.equals(off, atol=1e-3)
    plain = tmp_path / "plain.mid"
    assert cli.main(["live", "--file", str(wav), "--no-realtime", "--model", str(ckpt), "-o", str(plain)]) == 0
    assert not read_midi(plain).equals(off, atol=1e-3)  # without it the model hears other audio
    with pytest.raises(SystemExit) as exc:
        cli.main(["live", "--file", str(wav), "--model", str(ckpt), "--tuning", "auto"])
    assert exc.value.code == 2 and "cannot be measured ahead" in capsys.readouterr().err
