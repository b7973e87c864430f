"""A live take's velocities refined when it stops (par_studio.engine.take), as offline does,
and ``par-studio live -o`` writing them."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from par_studio.constants import ONSET_STATES, SAMPLE_RATE
from par_studio.engine import take as tk
from par_studio.engine.offline import Cancelled, transcribe
from par_studio.engine.streaming import StreamingEngine
from par_studio.engine.tuned_stream import TunedStream
from par_studio.tuning import Tuning
from par_studio.velocity import load_refiner


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def take_inputs():
    """(model, audio): a calibrated random model and 6.5 s of piano-like strikes of many
    loudnesses, on which the shipped refiner changes the decoder's velocities."""
    from conftest import lively_model, piano_like

    notes = [(0.1 + 0.3 * i, 40 + (7 * i) % 40, 0.2 + 0.08 * (i % 10)) for i in range(20)]
    return lively_model(), piano_like(6.5, notes=notes)


def streamed(model, audio, tuning=Tuning(), block=1600):
    """The finished streaming result of ``audio`` pushed in blocks (at ``tuning``)."""
    eng = StreamingEngine(model, keep_probabilities=False)
    if tuning.corrects:
        eng = TunedStream(eng, tuning)
    for a in range(0, len(audio), block):
        eng.push(audio[a:a + block])
    eng.finish()
    return eng.result()


# --------------------------------------------------------------------------- the take's audio
def test_take_audio_keeps_every_block_in_chunks_and_lets_go_past_its_limit(monkeypatch):
    monkeypatch.setattr(tk, "_CHUNK", 1000)
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal(n).astype(np.float32) for n in (0, 333, 1000, 2501, 7, 1)]
    t = tk.TakeAudio()
    for b in blocks:
        t.append(b)
    assert np.array_equal(t.array(), np.concatenate(blocks)) and t.n == 3842 and not t.overflowed
    assert len(t._chunks) == 4  # fixed chunks, not one array per block
    assert tk.TakeAudio().array().shape == (0,)
    small = tk.TakeAudio(max_seconds=3000 / SAMPLE_RATE)
    for b in blocks:
        small.append(b)
    assert small.overflowed and small.array() is None and small._chunks == [] and small.n == 3842
    assert tk.MAX_TAKE_SECONDS * SAMPLE_RATE * 4 <= 500 * 2**20  # at most ~460 MB of float32


@pytest.mark.parametrize("cents", [30.0, -25.0, 1.0])
def test_heard_at_a440_is_what_the_stream_and_offline_hear(monkeypatch, cents):
    monkeypatch.setattr(tk, "_RESAMPLE_PIECE", 7777)  # several pieces, cut anywhere
    audio = (np.random.default_rng(1).standard_normal(3 * SAMPLE_RATE) * 0.1).astype(np.float32)
    tuning = Tuning(cents, "set")
    ticks = []
    heard = tk.heard_at_a440(audio, tuning, tick=lambda: ticks.append(1))
    assert heard.dtype == np.float32 and np.array_equal(heard, tuning.to_a440(audio))
    assert len(ticks) == (7 if tuning.corrects else 0)
    if not tuning.corrects:  # within 2 cents: the input as it is
        assert heard is audio


# --------------------------------------------------------------------------- refine_take
@pytest.mark.parametrize("tuning", [Tuning(), Tuning(30.0, "set")], ids=["a440", "plus30"])
def test_the_take_gets_the_velocities_offline_refines(take_inputs, tuning):
    model, audio = take_inputs
    res = streamed(model, audio, tuning)
    before = res.velocity.copy()
    tr = tk.refine_take(res, audio)
    assert tr is not res and tr.velocity_refined and not res.velocity_refined
    assert np.array_equal(res.velocity, before)  # the decoder's result is left as it was
    # exactly the refiner's call on the streaming frames and the audio the model heard (at A440)
    want = load_refiner().refine_frames(res.states, res.velocity, tuning.to_a440(audio))
    assert np.array_equal(tr.velocity, want) and np.array_equal(tr.states, res.states)
    assert tr.notes.equals(tr.redecode()) and tr.tuning == tuning and tr.duration == res.duration
    # as an offline transcription of the same audio refines them (the same states)
    off = transcribe(audio, model, tuning=tuning)
    on = np.isin(off.states, ONSET_STATES)
    assert np.array_equal(tr.states, off.states) and np.array_equal(tr.velocity[on], off.velocity[on])
    assert tr.notes.equals(off.notes, atol=1e-3)
    # and they are not the decoder's
    assert len(res.notes) >= 8 and np.array_equal(tr.notes.pitch, res.notes.pitch)
    assert np.array_equal(tr.notes.onset, res.notes.onset) and np.array_equal(tr.notes.offset, res.notes.offset)
    assert (tr.notes.velocity != res.notes.velocity).mean() > 0.3


def test_without_refiner_audio_or_when_it_fails_the_decoder_velocities_stay(take_inputs, monkeypatch, caplog):
    model, audio = take_inputs
    # the app's log file handler stops records at "par_studio" once it is set up: let caplog see them
    monkeypatch.setattr(logging.getLogger("par_studio"), "propagate", True)
    res = streamed(model, audio[:2 * SAMPLE_RATE])
    short = audio[:2 * SAMPLE_RATE]
    assert tk.refine_take(None, short) is None
    assert tk.refine_take(res, None) is res and tk.refine_take(res, np.zeros(0, np.float32)) is res
    with caplog.at_level(logging.WARNING, logger="par_studio"):
        assert tk.refine_take(res, short[:-SAMPLE_RATE // 2]) is res  # not the audio of these frames
        assert "does not span" in caplog.text

    class Broken:
        def refine_frames(self, *a, **k):
            raise ValueError("damaged")

    monkeypatch.setattr(tk, "load_refiner", lambda: Broken())
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="par_studio"):
        assert tk.refine_take(res, short) is res
    assert "ValueError: damaged" in caplog.text and "decoder's velocities are kept" in caplog.text
    monkeypatch.setattr(tk, "load_refiner", lambda: None)
    assert tk.refine_take(res, short) is res and not tk.refiner_available()


def test_a_cancel_stops_the_refinement(take_inputs):
    model, audio = take_inputs
    res = streamed(model, audio, Tuning(30.0, "set"))
    with pytest.raises(Cancelled):
        tk.refine_take(res, audio, should_cancel=lambda: True)
    assert not res.velocity_refined


# --------------------------------------------------------------------------- par-studio live -o
def test_live_cli_writes_the_refined_velocities(tmp_path, take_inputs, monkeypatch, capsys):
    from par_studio import cli
    from par_studio.midi_io import read_midi
    from par_studio.model.checkpoint import save_checkpoint

    model, audio = take_inputs
    ckpt = save_checkpoint(model, tmp_path / "m.pt")
    wav = tmp_path / "in.wav"
    sf.write(wav, audio, SAMPLE_RATE, subtype="FLOAT")
    live = ["live", "--file", str(wav), "--no-realtime", "--model", str(ckpt), "-o"]
    assert cli.main(["transcribe", str(wav), "--model", str(ckpt), "-o", str(tmp_path / "off.mid"), "-q",
                     "--tuning", "off"]) == 0
    assert cli.main(live + [str(tmp_path / "live.mid")]) == 0
    err = capsys.readouterr().err
    assert "refining the velocities" in err and "(velocities refined from the whole take)" in err
    # the file has the velocities par-studio transcribe gives the same audio
    assert (tmp_path / "live.mid").read_bytes() == (tmp_path / "off.mid").read_bytes()
    refined = read_midi(tmp_path / "live.mid")
    res = streamed(model, audio)
    want = tk.refine_take(res, audio)
    assert refined.equals(want.notes, atol=0.01)
    # with the refiner missing, the decoder's velocities (the ones printed as the notes ended)
    monkeypatch.setattr(tk, "load_refiner", lambda: None)
    assert cli.main(live + [str(tmp_path / "plain.mid")]) == 0
    err = capsys.readouterr().err
    assert "refining" not in err and "velocities refined" not in err
    plain = read_midi(tmp_path / "plain.mid")
    assert plain.equals(res.notes, atol=0.01) and not plain.equals(refined, atol=0.01)
    assert np.array_equal(plain.sorted().pitch, refined.sorted().pitch)
