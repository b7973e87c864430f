"""The note verifier: its trees, what removing a proposal does to the states, its features, finding
the one that belongs to a model, and its place in the engine."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from par_studio import verifier as vf
from par_studio.constants import (FRAME_SECONDS, STATE_OFF, STATE_OFFSET, STATE_ONSET, STATE_REONSET,
                                  STATE_SUSTAIN)
from par_studio.notes import decode


def _fitted(seed=0, n=600):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, vf.N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 7] - X[:, 30] * X[:, 2] + 0.3 * rng.standard_normal(n)) > 0
    clf = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, y)
    return clf, X


def _verifier(trees, fingerprint="x", keep_above=0.5, shift=0.5):
    return vf.NoteVerifier(trees["feature"], trees["threshold"], trees["left"], trees["right"], trees["value"],
                           trees["leaf"], float(trees["baseline"]), shift, keep_above, fingerprint)


def test_exported_trees_give_scikit_learns_probabilities_and_survive_the_file(tmp_path):
    clf, X = _fitted()
    trees = vf.trees_from_sklearn(clf)
    v = _verifier(trees)
    Z = np.random.default_rng(1).standard_normal((300, vf.N_FEATURES)).astype(np.float32) * 2
    np.testing.assert_allclose(v.probability(Z), clf.predict_proba(Z)[:, 1], atol=1e-9)
    many = np.random.default_rng(2).standard_normal((2 * vf.ROWS + 17, vf.N_FEATURES)).astype(np.float32)
    np.testing.assert_allclose(v.probability(many), clf.predict_proba(many)[:, 1], atol=1e-9)  # in blocks
    vf.save_verifier(tmp_path / "m.verifier.npz", trees, 0.5, 0.3, "abc", {"note": "test"})
    back = vf.read_verifier(tmp_path / "m.verifier.npz")
    np.testing.assert_allclose(back.probability(Z), clf.predict_proba(Z)[:, 1], atol=1e-9)
    assert (back.shift, back.keep_above, back.fingerprint, back.metadata) == (0.5, 0.3, "abc", {"note": "test"})


def test_the_threshold_moves_with_the_sensitivity():
    clf, _ = _fitted()
    v = _verifier(vf.trees_from_sklearn(clf), keep_above=0.4)
    assert v.threshold_for(0.0) == pytest.approx(0.4)
    assert v.threshold_for(1.0) < v.threshold_for(0.5) < 0.4 < v.threshold_for(-0.5) < v.threshold_for(-1.0) < 1


def _roll(T=20):
    s = np.zeros((T, 88), np.uint8)
    return s


def test_removing_proposals_merges_restrikes_and_silences_lone_onsets():
    s = _roll()
    k = 40
    s[2, k] = STATE_ONSET
    s[3:6, k] = STATE_SUSTAIN
    s[6, k] = STATE_REONSET  # a re-strike while the note sounds
    s[7:10, k] = STATE_SUSTAIN
    s[10, k] = STATE_OFFSET
    s[12, 50] = STATE_ONSET  # a lone note
    s[13:15, 50] = STATE_SUSTAIN
    s[15, 50] = STATE_OFFSET
    t, kk = vf.candidates(s)
    assert list(zip(t, kk)) == [(2, 40), (6, 40), (12, 50)]
    # all kept: nothing changes
    assert np.array_equal(vf.remove_onsets(s, t, kk, np.ones(3, bool)), s)
    # the re-strike dropped: one long note of key 40
    out = vf.remove_onsets(s, t, kk, np.array([True, False, True]))
    n = decode(out)
    assert len(n) == 2 and n.onset[0] == pytest.approx(2 * FRAME_SECONDS) and n.offset[0] == pytest.approx(10 * FRAME_SECONDS)
    # the lone note dropped: silence (its offset frame too)
    out = vf.remove_onsets(s, t, kk, np.array([True, True, False]))
    assert (out[:, 50] == STATE_OFF).all() and len(decode(out)) == 2
    # the first onset dropped, the re-strike kept: it becomes the note's onset
    out = vf.remove_onsets(s, t, kk, np.array([False, True, True]))
    assert out[6, k] == STATE_ONSET and (out[2:6, k] == STATE_OFF).all()
    n = decode(out)
    assert len(n) == 2 and n.onset[0] == pytest.approx(6 * FRAME_SECONDS)
    # everything dropped: no notes
    assert len(decode(vf.remove_onsets(s, t, kk, np.zeros(3, bool)))) == 0


def test_features_see_the_octave_below_the_length_and_the_restrike():
    T = 40
    s = _roll(T)
    P = np.zeros((T, 88, 5), np.float32)
    P[..., STATE_OFF] = 1.0
    s[5, 30] = STATE_ONSET  # a low note
    s[6:20, 30] = STATE_SUSTAIN
    s[6, 42] = STATE_ONSET  # its octave, one frame later: a possible partial
    s[7:9, 42] = STATE_SUSTAIN
    s[25, 30] = STATE_ONSET  # the low key again after a pause
    s[26, 30] = STATE_SUSTAIN
    for t, k in ((5, 30), (6, 42), (25, 30)):
        P[t, k] = [0.1, 0, 0.9, 0, 0]
    audio = np.random.default_rng(0).standard_normal(T * 512).astype(np.float32) * 0.01
    X = vf.candidate_features(s, P, np.full((T, 88), 0.5, np.float32), audio)
    assert X.shape == (3, vf.N_FEATURES) and np.isfinite(X).all()
    t, k = vf.candidates(s)
    order = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(t, k))}
    lo, octave_below = order[(5, 30)], order[(6, 42)]
    assert X[lo, 0] == pytest.approx(np.log(0.9 / 0.1), abs=1e-4)  # the onset logit
    assert np.exp(X[lo, 4]) == pytest.approx(15 * FRAME_SECONDS)  # 15 frames long
    assert np.exp(X[octave_below, 4]) == pytest.approx(3 * FRAME_SECONDS)
    i12 = 5 + 2 * vf.INTERVALS.index(12)
    assert X[octave_below, i12] == 1 and X[lo, i12] == 0  # an onset an octave below, within 2 frames
    assert X[lo, 5 + 2 * vf.INTERVALS.index(-12)] == 1  # and from the low note: an onset an octave above
    gap = 5 + 2 * len(vf.INTERVALS) + 1
    assert np.exp(X[order[(25, 30)], gap]) == pytest.approx(20 * FRAME_SECONDS)  # the key's previous onset
    assert vf.candidate_features(_roll(), np.zeros((20, 88, 5)), np.zeros((20, 88)), audio).shape == (0, vf.N_FEATURES)


def test_a_verifier_is_found_only_for_its_own_weights_and_damaged_files_are_skipped(tmp_path, caplog, monkeypatch):
    from conftest import lively_model

    # the app's log file handler stops records at "par_studio" once it is set up: let caplog see them
    monkeypatch.setattr(logging.getLogger("par_studio"), "propagate", True)
    model = lively_model()
    clf, _ = _fitted()
    trees = vf.trees_from_sklearn(clf)
    assert vf.find_verifier(model, tmp_path) is None
    vf.save_verifier(tmp_path / "other.verifier.npz", trees, 0.5, 0.4, "0123456789abcdef", {})
    assert vf.find_verifier(model, tmp_path) is None
    vf.save_verifier(tmp_path / "mine.verifier.npz", trees, 0.5, 0.4, vf.model_fingerprint(model), {})
    assert vf.find_verifier(model, tmp_path).fingerprint == vf.model_fingerprint(model)
    # recalibrating the model's onset bias makes it another model for the verifier
    model.set_state_bias([b + (0.25 if i == STATE_ONSET else 0.0) for i, b in enumerate(model.cfg.state_bias)])
    assert vf.find_verifier(model, tmp_path) is None
    # a damaged file and one with hostile tree indices are skipped with a warning
    (tmp_path / "broken.verifier.npz").write_bytes(b"PK\x03\x04 not really")
    bad = dict(trees)
    bad["left"] = bad["left"].copy()
    bad["left"][0, 0] = 10 ** 6
    vf.save_verifier(tmp_path / "hostile.verifier.npz", bad, 0.5, 0.4, "x", {})
    with caplog.at_level(logging.WARNING, logger="par_studio.verifier"):
        vf.find_verifier(model, tmp_path)
    assert "broken.verifier.npz" in caplog.text and "hostile.verifier.npz" in caplog.text


def _constant_verifier(model, logit_above: float, keep_above: float = 0.5, shift: float = 0.75):
    """One tree: p = sigmoid(+4) when the proposal's onset logit > logit_above, else sigmoid(-4)."""
    z = np.zeros((1, 3))
    trees = {"feature": np.zeros((1, 3), np.int64), "threshold": np.array([[logit_above, 0, 0]]),
             "left": np.array([[1, 0, 0]]), "right": np.array([[2, 0, 0]]), "value": z + [[0, -4, 4]],
             "leaf": np.array([[False, True, True]]), "baseline": 0.0}
    return _verifier(trees, vf.model_fingerprint(model), keep_above=keep_above, shift=shift)


def test_the_engine_decodes_looser_and_keeps_what_the_verifier_accepts(monkeypatch):
    from conftest import lively_model, piano_like
    from par_studio.engine import offline

    model = lively_model()
    audio = piano_like(6.5, notes=[(0.1 + 0.3 * i, 40 + (7 * i) % 40, 0.2 + 0.08 * (i % 10)) for i in range(20)])
    plain = offline.transcribe(audio, model, refine_velocity=False, verify_notes=False, tuning=None)
    loose = offline.transcribe(audio, model, sensitivity=0.75, refine_velocity=False, verify_notes=False, tuning=None)
    assert not plain.notes_verified
    monkeypatch.setattr(offline, "find_verifier", lambda m: _constant_verifier(m, -100.0))  # keeps all
    everything = offline.transcribe(audio, model, refine_velocity=False, keep_features=True, tuning=None)
    assert everything.notes_verified and everything.notes.equals(loose.notes)
    assert everything.info["verifier"] == {"proposed": len(loose.notes), "kept": len(loose.notes)}
    monkeypatch.setattr(offline, "find_verifier", lambda m: _constant_verifier(m, 100.0))  # keeps none
    assert len(offline.transcribe(audio, model, refine_velocity=False, tuning=None).notes) == 0
    # a real cut (proposals at the calibrated sensitivity): the verified notes are the proposals
    # above it, and the frames say the same
    logits = vf.candidate_features(plain.states, plain.probabilities, plain.velocity, audio)[:, 0]
    cut = float(np.median(logits))
    assert (logits > cut).any() and (logits <= cut).any()
    monkeypatch.setattr(offline, "find_verifier", lambda m: _constant_verifier(m, cut, shift=0.0))
    some = offline.transcribe(audio, model, keep_features=True, tuning=None)
    assert 0 < len(some.notes) < len(plain.notes) and some.redecode().equals(some.notes)
    assert some.info["verifier"] == {"proposed": len(plain.notes), "kept": int((logits > cut).sum())}
    assert some.velocity_refined or offline.load_refiner() is None
    # the sensitivity moves the threshold: more proposals kept, never fewer
    monkeypatch.setattr(offline, "find_verifier", lambda m: _constant_verifier(m, cut, keep_above=0.02, shift=0.0))
    low = offline.transcribe(audio, model, sensitivity=-1.0, refine_velocity=False, tuning=None)
    high = offline.transcribe(audio, model, sensitivity=1.0, refine_velocity=False, tuning=None)
    assert len(high.notes) == len(plain.notes) and len(low.notes) == int((logits > cut).sum())
    # redecode (the app's sensitivity changes) gives what transcribe gives, from the kept
    # proposals: the decoder does not run again
    monkeypatch.setattr(offline, "find_verifier", lambda m: _constant_verifier(m, cut, shift=0.0))
    feats = some.info["features"]
    assert 0.0 in feats.proposals and feats.nbytes > feats.feat.numel() * 4 + feats.vfeat.numel() * 4 + feats.audio.nbytes

    def no_decoder(*a, **k):
        raise AssertionError("the decoder ran again")

    monkeypatch.setattr(model, "run_decoder", no_decoder)
    again = offline.redecode(feats, model)
    assert again.notes.equals(some.notes) and again.notes_verified
    fewer = offline.redecode(feats, model, sensitivity=-1.0, refine_velocity=False)
    assert len(fewer.notes) <= len(again.notes) and not np.shares_memory(fewer.velocity, feats.proposals[0.0][2])
    monkeypatch.undo()
    assert offline.redecode(some.info["features"], model, verify_notes=False, refine_velocity=False
                            ).notes.equals(plain.notes)


def test_rejected_proposals_become_candidate_notes_at_the_sensitivity_that_keeps_them():
    from par_studio.candidates import find_candidates

    T = 60
    s = _roll(T)
    P = np.zeros((T, 88, 5), np.float32)
    P[..., STATE_OFF] = 1.0
    for t, k, p in ((10, 30, 0.9), (30, 50, 0.6)):  # a confident and a doubtful proposal
        s[t, k] = STATE_ONSET
        s[t + 1:t + 12, k] = STATE_SUSTAIN
        s[t + 12, k] = STATE_OFFSET
        P[t, k] = [1 - p, 0, p, 0, 0]
        P[t + 1:t + 12, k] = [0, 0, 0, 1, 0]
    audio = np.random.default_rng(0).standard_normal(T * 512).astype(np.float32) * 0.01
    vel = np.full((T, 88), 0.5, np.float32)
    # keeps proposals whose onset logit > 1 (logit 0.9 = 2.2, logit 0.6 = 0.4); a rejected one
    # (p = sigmoid(-4)) is kept from sensitivity +1 on
    z = np.zeros((1, 3))
    trees = {"feature": np.zeros((1, 3), np.int64), "threshold": np.array([[1.0, 0, 0]]),
             "left": np.array([[1, 0, 0]]), "right": np.array([[2, 0, 0]]), "value": z + [[0, -4, 4]],
             "leaf": np.array([[False, True, True]]), "baseline": 0.0}
    v = _verifier(trees, keep_above=float(1 / (1 + np.exp(2.0))), shift=0.5)
    out, counts, rejected = v.verify(s, P, vel, audio)
    assert counts == {"proposed": 2, "kept": 1} and (out[:, 50] == STATE_OFF).all()
    assert list(rejected["t"]) == [30] and list(rejected["k"]) == [50] and rejected["shift"] == 0.5
    assert rejected["margin"][0] == pytest.approx(1.0, abs=1e-5)
    c = find_candidates(P, out, vel, rejected=rejected)
    assert list(c.notes.pitch) == [71] and c.notes.onset[0] == pytest.approx(30 * FRAME_SECONDS)
    assert c.margin[0] == pytest.approx(1.0, abs=1e-5)
    assert len(c.up_to(0.99)) == 0 and len(c.up_to(1.0)) == 1
    # without the rejected list the doubtful note would be no candidate (its frame was a proposal)
    assert len(find_candidates(P, out, vel)) == 0
    # and at +1 the verifier keeps it
    assert (v.verify(s, P, vel, audio, sensitivity=1.0)[0] == s).all()
