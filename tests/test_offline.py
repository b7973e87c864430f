"""Offline engine: chunked = one pass (bounded memory), 88 keys stepped as one batch, outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from par_studio.constants import N_KEYS, N_STATES
from par_studio.engine.offline import Cancelled, acoustic_chunks, transcribe
from par_studio.features import n_frames
from par_studio.notes import decode

from conftest import lively_model, piano_like

AUDIO = piano_like(1.6)  # 51 frames
T = n_frames(len(AUDIO))


@pytest.fixture(scope="module")
def models():
    return {(p, lat): lively_model(p, lat, seed=0) for p in ("par", "par-compact") for lat in (320, 160, 128)}


@pytest.mark.parametrize("latency", [320, 160, 128])  # 128 ms: a causal (past-only) first conv
@pytest.mark.parametrize("preset", ["par", "par-compact"])
def test_chunked_acoustic_equals_one_pass(models, preset, latency):
    model = models[(preset, latency)]
    audio = torch.from_numpy(AUDIO)
    with torch.inference_mode():
        ref_f, ref_v = model.acoustic(model.frontend.from_audio(audio[None]))
        for chunk in (1, 4, 13, 50, T, 1000):
            firsts, fs, vs = zip(*acoustic_chunks(model, audio, chunk))
            assert list(firsts) == list(range(0, T, chunk))
            f, v = torch.cat(fs), torch.cat(vs)
            assert f.shape == ref_f[0].shape and v.shape == ref_v[0].shape
            # equal up to float32 summation order of differently sized matrix products
            torch.testing.assert_close(f, ref_f[0], rtol=0, atol=1e-5)
            torch.testing.assert_close(v, ref_v[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("latency", [320, 160, 128])
@pytest.mark.parametrize("preset", ["par", "par-compact"])
def test_chunked_transcription_equals_one_pass(models, preset, latency):
    model = models[(preset, latency)]
    one = transcribe(AUDIO, model, chunk_frames=10_000)
    assert len(one.notes) > 10 and len(np.unique(one.states)) >= 3  # a model whose output varies
    for chunk in (3, 16):
        tr = transcribe(AUDIO, model, chunk_frames=chunk)
        assert np.array_equal(tr.states, one.states)
        np.testing.assert_allclose(tr.probabilities.astype(np.float32), one.probabilities.astype(np.float32), atol=2e-3)
        np.testing.assert_allclose(tr.velocity, one.velocity, atol=1e-5)
        assert tr.notes.equals(one.notes)


def test_chunks_only_compute_their_frames_plus_the_receptive_margin(models):
    """Memory stays bounded: no acoustic call sees more than chunk + 2 × margin frames."""
    model = models[("par", 320)]
    seen = []
    real = model.frontend.from_audio

    def spy(x, first_frame=0, count=None):
        out = real(x, first_frame, count)
        seen.append(out.shape[-1])
        return out

    model.frontend.from_audio = spy
    try:
        transcribe(AUDIO, model, chunk_frames=8)
    finally:
        del model.frontend.from_audio
    margin = model.cfg.future_frames
    assert margin == 6
    assert len(seen) == -(-T // 8) and max(seen) <= 8 + 2 * margin


@pytest.mark.parametrize("preset", ["par", "par-compact"])
def test_fast_greedy_loop_decides_as_stepping_the_modules_frame_by_frame(models, preset):
    """The rearranged greedy loop (model/greedy.py) against PARModel.step frame by frame, with
    the state carried across two calls and a non-zero sensitivity."""
    model = models[(preset, 320)]
    (_, feat, vfeat), = acoustic_chunks(model, torch.from_numpy(AUDIO), 10_000)
    runs = []
    for reference in (True, False):
        ar, out = None, []
        for a, b in ((0, 20), (20, T)):
            s, p, v, ar = model.run_decoder(feat[a:b], vfeat[a:b], ar, 0.3, reference=reference)
            out.append((s, p, v))
        runs.append([torch.cat(x) for x in zip(*out)])
    (s0, p0, v0), (s1, p1, v1) = runs
    assert len(set(s0.flatten().tolist())) > 1  # a lively model: several states occur
    assert torch.equal(s0, s1)
    torch.testing.assert_close(p1, p0, rtol=0, atol=1e-5)
    torch.testing.assert_close(v1, v0, rtol=0, atol=1e-5)


def test_progress_is_reported_within_a_chunk_as_the_decoder_goes(models, monkeypatch):
    from par_studio.engine import offline
    from par_studio.engine.progress import REPORT_EVERY_FRAMES, Throttle

    monkeypatch.setattr(offline, "Throttle", lambda report: Throttle(report, interval=0.0))
    seen = []
    transcribe(AUDIO, models[("par-compact", 320)], chunk_frames=10_000, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0
    steps = np.diff([0.0] + seen)
    assert len(seen) >= T // REPORT_EVERY_FRAMES and steps.max() <= REPORT_EVERY_FRAMES / T + 1e-9


def test_transcription_outputs(models):
    model = models[("par", 160)]
    seen = []
    tr = transcribe(AUDIO, model, chunk_frames=16, progress=seen.append)
    assert tr.states.shape == (T, N_KEYS) and tr.states.dtype == np.uint8
    assert tr.probabilities.shape == (T, N_KEYS, N_STATES) and tr.probabilities.dtype == np.float16
    assert tr.velocity.shape == (T, N_KEYS) and tr.velocity.dtype == np.float32
    assert tr.states.max() < N_STATES
    np.testing.assert_allclose(tr.probabilities.astype(np.float32).sum(-1), 1.0, atol=5e-3)
    chosen = np.take_along_axis(tr.probabilities, tr.states[..., None].astype(np.int64), -1)[..., 0]
    assert np.all(chosen >= tr.probabilities.max(-1) - 1e-3)  # the state is the argmax
    assert np.all((tr.velocity >= 0) & (tr.velocity <= 1))
    assert tr.notes.equals(decode(tr.states, tr.velocity)) and tr.redecode().equals(tr.notes)
    assert tr.model == "par" and tr.latency_ms == 160
    assert tr.duration == pytest.approx(1.6) and tr.n_frames == T
    assert tr.frame_times()[1] == pytest.approx(0.032)
    assert seen == sorted(seen) and seen[-1] == 1.0  # throttled to one report per 0.1 s


def test_cancel(models):
    with pytest.raises(Cancelled):
        transcribe(AUDIO, models[("par", 320)], chunk_frames=8, should_cancel=lambda: True)


def test_very_short_input(models):
    tr = transcribe(np.zeros(100, np.float32), models[("par-compact", 160)])
    assert tr.states.shape == (1, N_KEYS)


def test_decoder_only_rerun_equals_a_full_transcription():
    """Kept acoustic features + another sensitivity give exactly the full run's result."""
    from par_studio.engine.offline import redecode

    audio = piano_like(1.5)
    model = lively_model("par-compact", 320, seed=0)
    first = transcribe(audio, model, keep_features=True, chunk_frames=16)
    feats = first.info["features"]
    assert feats.feat.shape[:2] == (first.n_frames, 88) and feats.nbytes > 0
    for s in (0.0, -0.6, 0.6):
        full = transcribe(audio, model, sensitivity=s)
        again = redecode(feats, model, sensitivity=s, chunk_frames=7)
        assert np.array_equal(again.states, full.states) and again.notes.equals(full.notes, atol=0)
        assert np.array_equal(again.velocity, full.velocity)
    assert "features" not in transcribe(audio, model).info  # only when asked
    with pytest.raises(ValueError, match="another model"):
        redecode(feats, lively_model("par-compact", 320, seed=1))


def test_progress_clock_estimates_from_the_pace_since_the_first_report():
    from par_studio.engine.progress import ProgressClock, Throttle, format_left

    now = [100.0]
    clock = ProgressClock(clock=lambda: now[0])
    now[0] += 30.0  # model loading before the first report: not part of the pace
    assert clock.update(0.10) is None
    now[0] += 0.2
    assert clock.update(0.105) is None  # too early to tell
    now[0] += 9.8
    assert clock.update(0.30) == pytest.approx(10.0 * 0.70 / 0.20)  # 35 s left at 2 %/s
    assert clock.update(1.0) == 0.0
    assert format_left(None) == "" and format_left(35) == "35 s left"
    assert format_left(125) == "2 min 05 s left" and format_left(3725) == "1 h 02 min left"
    t = [0.0]
    seen = []
    throttle = Throttle(seen.append, interval=0.1, clock=lambda: t[0])
    for k in range(1, 11):  # a report every 0.03 s: one in four passes, and always the end
        t[0] = 0.03 * k
        throttle(k / 10)
    assert seen[0] == 0.1 and seen[-1] == 1.0 and len(seen) < 6
