"""The velocity refiner: attack features, training on a toy corpus, and its place in the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from par_studio import velocity as vr
from par_studio.constants import FRAME_SECONDS, MIN_MIDI, SAMPLE_RATE, STATE_ONSET, STATE_SUSTAIN
from par_studio.notes import Notes, decode
from par_studio.train import velocity_fit as vf


def _tones(onsets, pitches, amps, seconds, seed=0):
    """(n,) decaying piano-like tones (6 partials) at the given onsets (s), pitches, amplitudes."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 1e-4
    for t0, p, a in zip(onsets, pitches, amps):
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        i = int(t0 * SAMPLE_RATE)
        t = np.arange(len(y) - i) / SAMPLE_RATE
        tone = sum((0.6 ** h) * np.sin(2 * np.pi * (h + 1) * f0 * t) for h in range(6) if (h + 1) * f0 < 7900)
        y[i:] += (a * np.exp(-3 * t) * tone).astype(np.float32)
    return y


def test_attack_level_follows_amplitude_and_high_partials_are_flagged():
    onsets = [0.5, 1.5, 2.5, 3.5]
    y = _tones(onsets, [60, 60, 60, 108], [0.02, 0.08, 0.3, 0.1], 5.0)
    X = vr.onset_features(y, onsets, [60, 60, 60, 108], [64, 64, 64, 64])
    assert X.shape == (4, vr.N_FEATURES) and np.isfinite(X).all()
    att1 = X[:, 0]
    assert att1[0] < att1[1] < att1[2]  # louder strike, higher attack of the fundamental
    assert att1[2] - att1[0] == pytest.approx(20 * np.log10(15), abs=1.5)
    present = X[:, 3 * vr.N_PARTIALS: 4 * vr.N_PARTIALS]
    assert present[0].all()
    assert present[3, 0] == 1 and not present[3, 1:].any()  # C8's upper partials lie above 7.8 kHz
    assert vr.onset_features(y, [], [], []).shape == (0, vr.N_FEATURES)


def _toy_item(seed: int):
    """A recording of random strikes whose true velocity sets the amplitude, and a 'decoder'
    whose velocities are the truth plus heavy noise; as velocity_fit.item_examples returns."""
    rng = np.random.default_rng(seed)
    n = 40
    onsets = np.sort(rng.uniform(0.3, 11.5, n)).round(3)
    pitches = rng.integers(40, 90, n)
    true_v = rng.integers(20, 120, n)
    gain = 10 ** rng.uniform(-1, 0)  # the recording's level says nothing about the touch
    y = _tones(onsets, pitches, gain * (true_v / 127.0) ** 2 * 0.2, 12.5, seed)
    est_v = np.clip(true_v + rng.normal(0, 30, n), 1, 127).round()
    ref = Notes(onsets, onsets + 0.4, pitches, true_v)
    est = Notes(onsets, onsets + 0.4, pitches, est_v)
    order_ref, order_est = np.lexsort((ref.pitch, ref.onset)), np.lexsort((est.pitch, est.onset))
    ref, est = ref.take(order_ref), est.take(order_est)
    X = vr.onset_features(y, est.onset, est.pitch, est.velocity)
    idx = np.arange(n)
    return {"X": X, "ref_i": idx, "est_i": idx, "ref": ref, "est": est, "audio": y}


def test_refiner_learns_loudness_within_a_recording_and_beats_a_noisy_decoder():
    train = [_toy_item(s) for s in range(12)]
    val = [_toy_item(100 + s) for s in range(4)]
    X, y = vf.training_arrays(train)
    assert X.shape[0] == y.shape[0] == 12 * 40
    net, curve = vf.fit(X, y, val, epochs=150, log=lambda s: None)
    assert curve and curve[-1]["epoch"] == 150
    before, after = vf.score(val, None), vf.score(val, vr.VelocityRefiner(net, {}))
    assert after["corr_median"] > before["corr_median"] + 0.15
    # applied to one recording: ordered by the refiner, spread like the decoder's velocities
    it = val[0]
    out = vr.VelocityRefiner(net, {}).velocities(it["audio"], it["est"].onset, it["est"].pitch,
                                                 it["est"].velocity)
    assert out.dtype == np.int16 and out.min() >= 1 and out.max() <= 127
    assert abs(np.median(out) - np.median(it["est"].velocity)) <= 1
    assert np.corrcoef(out, it["ref"].velocity)[0, 1] > np.corrcoef(it["est"].velocity, it["ref"].velocity)[0, 1]


def test_refine_frames_changes_only_onset_frames_and_decode_reads_them(tmp_path):
    net = vr.RefinerNet()
    with torch.no_grad():  # z = the fundamental's attack level: louder strikes, higher velocity
        for m in net.net:
            if isinstance(m, torch.nn.Linear):
                m.weight.zero_()
                m.bias.zero_()
        net.mean[0] = -100.0  # attack levels in dB, made positive
        net.net[0].weight[0, 0] = 1.0
        net.net[2].weight[0, 0] = 1.0
        net.net[4].weight[0, 0] = 1.0
    ref = vr.VelocityRefiner(net, {})
    T = 400
    states = np.zeros((T, 88), np.uint8)
    vel = np.full((T, 88), 0.5, np.float32)
    onsets = [(20 + 30 * i, 39 + (i % 5) * 4) for i in range(10)]
    amps = [0.005 * 1.5 ** i for i in range(10)]
    for i, (t, k) in enumerate(onsets):
        states[t, k] = STATE_ONSET
        states[t + 1:t + 10, k] = STATE_SUSTAIN
        vel[t, k] = 0.2 + 0.05 * (i % 5)  # the decoder's: unrelated to the loudness
    y = _tones([t * FRAME_SECONDS for t, _ in onsets], [k + MIN_MIDI for _, k in onsets], amps,
               T * FRAME_SECONDS + 0.5)
    out = ref.refine_frames(states, vel, y)
    onset_mask = states == STATE_ONSET
    assert np.array_equal(out[~onset_mask], vel[~onset_mask])
    notes = decode(states, out)
    assert len(notes) == 10 and np.all(np.diff(notes.velocity.astype(int)) > 0)  # ordered by loudness
    few = states.copy()
    few[onsets[0][0] + 30 * 3:] = 0  # three notes: too few to compare, decoder's velocities kept
    assert np.array_equal(ref.refine_frames(few, vel, y), vel)


def test_missing_or_broken_refiner_file_means_decoder_velocities(tmp_path):
    assert vr.load_refiner(tmp_path / "absent.pt") is None
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    assert vr.load_refiner(bad) is None
    good = tmp_path / "ok.pt"
    vr.save_refiner(good, vr.RefinerNet(), {"trained_on": "test"})
    loaded = vr.load_refiner(good)
    assert loaded is not None and loaded.metadata["trained_on"] == "test"


def test_engine_refines_velocities_and_redecode_gives_the_same():
    from conftest import lively_model, piano_like
    from par_studio.engine.offline import redecode, transcribe

    assert vr.load_refiner() is not None, "models/velocity-refiner.pt is shipped"
    model = lively_model()
    notes = [(0.1 + 0.3 * i, 40 + (7 * i) % 40, 0.2 + 0.08 * (i % 10)) for i in range(20)]
    audio = piano_like(6.5, notes=notes)
    plain = transcribe(audio, model, refine_velocity=False, tuning=None)
    ref = transcribe(audio, model, keep_features=True, tuning=None)
    assert ref.velocity_refined and not plain.velocity_refined
    assert len(plain.notes) >= vr.MIN_NOTES
    # the same notes, other velocities
    assert np.array_equal(ref.notes.onset, plain.notes.onset) and np.array_equal(ref.notes.pitch, plain.notes.pitch)
    assert not np.array_equal(ref.notes.velocity, plain.notes.velocity)
    assert np.array_equal(ref.states, plain.states)
    # the stored frames say what the notes say (the app redraws from them)
    assert ref.redecode().equals(ref.notes)
    again = redecode(ref.info["features"], model)
    assert again.velocity_refined and again.notes.equals(ref.notes)
    assert redecode(ref.info["features"], model, refine_velocity=False).notes.equals(plain.notes)


def test_refiner_polls_cancel_and_takes_long_recordings_in_chunks():
    from conftest import lively_model, piano_like
    from par_studio.engine.offline import Cancelled, transcribe

    rng = np.random.default_rng(3)
    n = 3 * vr.CHUNK + 7
    onsets, pitches, vel = np.sort(rng.uniform(0, 60, n)), rng.integers(21, 109, n), rng.integers(1, 128, n)
    y = rng.standard_normal(61 * SAMPLE_RATE).astype(np.float32) * 0.01
    ticks = []
    X = vr.onset_features(y, onsets, pitches, vel, tick=lambda: ticks.append(1))
    assert X.shape == (n, vr.N_FEATURES) and len(ticks) == 4  # four chunks, a poll after each
    # a note's partial levels do not depend on which chunk it was taken in
    tail = vr.onset_features(y, onsets[-7:], pitches[-7:], vel[-7:])
    assert np.array_equal(X[-7:, :2 * vr.N_PARTIALS], tail[:, :2 * vr.N_PARTIALS])

    # cancelling while the refiner works stops the transcription
    model = lively_model()
    audio = piano_like(6.5, notes=[(0.1 + 0.3 * i, 40 + (7 * i) % 40, 0.5) for i in range(20)])
    polls = []
    plain = transcribe(audio, model, refine_velocity=False, should_cancel=lambda: polls.append(1) and False)
    assert len(plain.notes) >= vr.MIN_NOTES
    decoder_polls, seen = len(polls), []
    with pytest.raises(Cancelled):  # the decoder polls as often as before; the next poll is the refiner's
        transcribe(audio, model, should_cancel=lambda: seen.append(1) or len(seen) > decoder_polls)
