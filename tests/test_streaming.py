"""The streaming engine gives exactly the offline engine's states and notes.

Small random-init models whose decoder is made confident by scaling weights (the LSTM's
acoustic-input weights are standardised and amplified, the state head is scaled), so that the
state rolls mix all five states and many notes; no output is faked.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from par_studio.constants import HOP_LENGTH, SAMPLE_RATE, STATE_OFF, WINDOW_HALF
from par_studio.engine.offline import acoustic_chunks, transcribe
from par_studio.engine.streaming import StreamingEngine
from par_studio.model import PARModel, preset_config
from par_studio.notes import Notes, decode
from par_studio.tuning import Tuning

#: the streaming engine hears the input as it is (live input is not tuning-corrected), so the
#: offline runs it is compared with leave the audio at A440 too
A440 = Tuning()

SR = SAMPLE_RATE


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; one thread is also the fastest here
    yield
    torch.set_num_threads(old)


def make_audio(seconds: float = 3.0, seed: int = 1) -> np.ndarray:
    """Decaying tones with a digital-silence stretch (and silence at the end)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    a = np.zeros_like(t)
    for _ in range(10):
        f, s, d = rng.uniform(60, 2000), rng.uniform(0, seconds - 0.5), rng.uniform(0.2, 1.2)
        a += 0.3 * ((t >= s) & (t < s + d)) * np.exp(-(t - s) * 3) * np.sin(2 * np.pi * f * t)
    a[int(1.0 * SR): int(2.1 * SR) + 77] = 0.0
    a[-int(0.3 * SR):] = 0.0
    return a.astype(np.float32)


def confident_model(preset: str, latency: int, audio: np.ndarray, seed: int = 0, conv_widths=None) -> PARModel:
    torch.manual_seed(seed)
    cfg = preset_config(preset, latency)
    m = PARModel(cfg if conv_widths is None else replace(cfg, conv_widths=conv_widths)).eval()
    H = m.cfg.pitch_features
    with torch.inference_mode():
        _, feat, _ = next(acoustic_chunks(m, torch.from_numpy(audio)))
    mu, sd = feat.mean(dim=(0, 1)).clone(), float(feat.std())
    with torch.no_grad():
        W = m.decoder.lstm.weight_ih_l0
        g = 3.0 / sd
        m.decoder.lstm.bias_ih_l0.sub_((W[:, :H] * g) @ mu - W[:, :H] @ mu)
        W[:, :H].mul_(g)
        m.decoder.state_head.weight.mul_(10.0)
    return m


def stream(model, audio, block, **kw) -> StreamingEngine:
    eng = StreamingEngine(model, **kw)
    found = []
    for i in range(0, len(audio), block):
        upd = eng.push(audio[i: i + block])
        found.append(upd.finished)
        assert eng.frames_emitted == eng.expected_frames()
    found.append(eng.finish().finished)
    eng._found = Notes.concat(found)
    return eng


AUDIO = make_audio()


@pytest.mark.parametrize("preset", ["par", "par-compact"])
@pytest.mark.parametrize("latency", [320, 160, 128])
def test_streaming_equals_offline(preset, latency):
    model = confident_model(preset, latency, AUDIO)
    off = transcribe(AUDIO, model, tuning=A440, refine_velocity=False)
    counts = np.bincount(off.states.ravel(), minlength=5)
    assert (counts > 0).sum() >= 4 and len(off.notes) > 20, counts  # a non-trivial roll
    blocks = [1, 100, 512, 3000, 16000] if (preset, latency) == ("par-compact", 320) else [100, 512, 3000, 16000]
    for block in blocks:
        eng = stream(model, AUDIO, block)
        tr = eng.result()
        assert tr.states.shape == off.states.shape
        assert np.array_equal(tr.states, off.states), f"block {block}"
        assert tr.notes.equals(off.notes), f"block {block}"
        assert eng._found.equals(decode(off.states, off.velocity, include_open=False))
        assert eng.notes().equals(off.notes)  # incremental decoder = shared decoder
        # float outputs agree to rounding (batched BLAS/FFT sums differ in the last bits)
        assert np.abs(tr.velocity - off.velocity).max() < 1e-5
        assert np.abs(tr.probabilities.astype(np.float32) - off.probabilities.astype(np.float32)).max() < 2e-3
        assert eng.stats["frames_gated_cnn"] > 0 or block == 16000
        assert tr.latency_ms == off.latency_ms == latency


@pytest.mark.parametrize("widths", [(2, 2, 2, 2, 2, 2), (3, 2, 1, 2, 3, 3)])
def test_streaming_equals_offline_with_causal_kernels(widths):
    # width 2 (previous and present frame) in either conv of a block, alone and beside width 3:
    # the caches hold past columns only and finish() pads nothing after them
    model = confident_model("par-compact", 320, AUDIO, conv_widths=widths)
    assert model.cfg.latency_ms == 128 + 32 * widths.count(3) and model.cfg.past_frames == 6 - widths.count(1)
    off = transcribe(AUDIO, model, tuning=A440, refine_velocity=False)
    assert len(off.notes) > 20
    for block in (100, 3000):
        eng = stream(model, AUDIO, block)
        tr = eng.result()
        assert np.array_equal(tr.states, off.states), f"block {block}"
        assert tr.notes.equals(off.notes) and eng.notes().equals(off.notes)
        assert eng.stats["frames_gated_cnn"] > 0
        assert tr.latency_ms == off.latency_ms == model.cfg.latency_ms


def test_streaming_applies_the_models_note_end_shift_like_offline():
    model = confident_model("par-compact", 320, AUDIO)
    plain = transcribe(AUDIO, model, tuning=A440, refine_velocity=False).notes
    model.set_offset_shift(0.016)
    off = transcribe(AUDIO, model, tuning=A440, refine_velocity=False)
    assert off.offset_shift_s == 0.016 and off.redecode().equals(off.notes)
    later = off.notes.offset - plain.offset
    assert np.allclose(later[later > 0], 0.016) and (later > 0).sum() > 5  # some notes end later
    eng = stream(model, AUDIO, 3000)
    assert eng.notes().equals(off.notes) and eng.result().notes.equals(off.notes)
    assert eng._found.equals(decode(off.states, off.velocity, include_open=False, offset_shift=0.016))


def test_block_size_one_other_preset():
    # block size 1 for the PAR preset at a low latency too (shorter audio: it is slow in Python)
    audio = AUDIO[: int(1.6 * SR)]
    model = confident_model("par", 192, audio)
    off = transcribe(audio, model, tuning=A440, refine_velocity=False)
    tr = stream(model, audio, 1).result()
    assert np.array_equal(tr.states, off.states) and tr.notes.equals(off.notes)


def test_gate_off_gives_same_result():
    model = confident_model("par-compact", 192, AUDIO)
    a = stream(model, AUDIO, 700).result()
    b = stream(model, AUDIO, 700, silence_gate=False).result()
    assert np.array_equal(a.states, b.states) and a.notes.equals(b.notes)


def test_decoder_gate_skips_settled_silence_exactly():
    # a model whose LSTMs have no memory (forget-gate bias -30, no recurrent weights): on
    # silence the decoder reaches an exact fixed point, and the gate must replay it without
    # changing anything. (With random recurrent weights the 88 keys flicker in the last bit
    # with different periods, so the whole state never repeats exactly and nothing is skipped.)
    audio = np.zeros(6 * SR, np.float32)
    audio[: SR // 2] = AUDIO[: SR // 2]
    audio[4 * SR: 4 * SR + SR // 2] = AUDIO[SR // 2: SR]
    torch.manual_seed(0)
    model = PARModel(preset_config("par-compact", 320)).eval()
    with torch.no_grad():
        model.decoder.state_head.bias[0] += 5.0  # off on silence (context stays constant)
        for lstm in (model.decoder.lstm, model.decoder.vel_lstm):
            for name, p in lstm.named_parameters():
                if name.startswith("bias_ih"):
                    h = lstm.hidden_size
                    p[h: 2 * h] = -30.0
                if name.startswith("weight_hh"):
                    p.zero_()
    off = transcribe(audio, model, tuning=A440, refine_velocity=False)
    eng = stream(model, audio, 512)
    tr = eng.result()
    assert eng.stats["steps_skipped"] > 30, eng.stats
    assert np.array_equal(tr.states, off.states) and tr.notes.equals(off.notes)
    assert np.abs(tr.velocity - off.velocity).max() < 1e-5


def test_frames_and_latency_accounting():
    model = PARModel(preset_config("par-compact", 224)).eval()
    eng = StreamingEngine(model, keep_history=False)
    assert eng.latency_ms == 224
    assert eng.lookahead_samples == WINDOW_HALF + 3 * HOP_LENGTH
    upd = eng.push(np.zeros(eng.lookahead_samples - 1, np.float32))
    assert upd.n_frames == 0 and eng.frames_emitted == 0
    upd = eng.push(np.zeros(1, np.float32))
    assert upd.n_frames == 1 and upd.first_frame == 0
    eng.push(np.zeros(10 * HOP_LENGTH, np.float32))
    assert eng.frames_emitted == 11
    n = eng.samples_pushed
    last = eng.finish()
    assert eng.frames_emitted == n // HOP_LENGTH + 1
    assert (last.states == STATE_OFF).dtype == bool
    with pytest.raises(RuntimeError):
        eng.result()
    with pytest.raises(RuntimeError):
        eng.push(np.zeros(5, np.float32))


def test_empty_and_tiny_inputs():
    model = PARModel(preset_config("par", 320)).eval()
    for n in (0, 1, 511, 2047, 2048, 2600):
        audio = (np.random.default_rng(n).standard_normal(n) * 0.1).astype(np.float32)
        off = transcribe(audio, model, tuning=A440, refine_velocity=False)
        eng = StreamingEngine(model)
        eng.push(audio)
        eng.finish()
        tr = eng.result()
        assert np.array_equal(tr.states, off.states), n


def test_sensitivity_moves_the_note_count_and_streams_like_offline():
    """Note sensitivity (an onset-logit offset) finds more notes above 0 and fewer below, and
    the streaming engine with the same sensitivity gives exactly the offline result."""
    model = confident_model("par-compact", 320, AUDIO)
    counts = {s: len(transcribe(AUDIO, model, sensitivity=s, tuning=A440, refine_velocity=False).notes) for s in (-1.0, 0.0, 1.0)}
    assert counts[-1.0] <= counts[0.0] <= counts[1.0] and counts[-1.0] < counts[1.0], counts
    off = transcribe(AUDIO, model, sensitivity=-0.5, tuning=A440, refine_velocity=False)
    tr = stream(model, AUDIO, 3000, sensitivity=-0.5).result()
    assert np.array_equal(tr.states, off.states) and tr.notes.equals(off.notes)
    assert not np.array_equal(off.states, transcribe(AUDIO, model, tuning=A440, refine_velocity=False).states)
