"""Hall reverb reduction (WPE): it shortens a reverberant tail, keeps a dry signal, works in
bounded blocks, and the transcription path runs it when asked."""

from __future__ import annotations

import numpy as np
import pytest

import par_studio.dereverb as dr
from conftest import build_model, piano_like
from par_studio.constants import SAMPLE_RATE
from par_studio.engine.offline import Cancelled, transcribe
from par_studio.tuning import Tuning


def hall(y: np.ndarray, rt60: float = 2.0, seed: int = 0) -> np.ndarray:
    """``y`` through an exponentially decaying noise impulse response (RT60 seconds)."""
    rng = np.random.RandomState(seed)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = rng.randn(n) * np.exp(-6.91 * t / rt60)
    ir[0] = 0.0
    ir *= 0.5 / np.sqrt((ir ** 2).sum())
    ir[0] = 1.0  # the direct sound
    from scipy.signal import fftconvolve

    return fftconvolve(y, ir)[: len(y)].astype(np.float32)


def tail_energy(y: np.ndarray, after_s: float, span_s: float = 0.5) -> float:
    a = int(after_s * SAMPLE_RATE)
    return float((y[a:a + int(span_s * SAMPLE_RATE)] ** 2).sum())


STACCATO = tuple((0.5 * i, p, 0.8) for i, p in enumerate([60, 64, 67, 72, 55, 59, 62, 67, 48, 52]))


def staccato(seconds: float = 6.0) -> np.ndarray:
    """Short struck notes, each damped 0.15 s after its onset (as a released key), with gaps."""
    y = piano_like(seconds, notes=STACCATO)
    t = np.arange(len(y)) / SAMPLE_RATE
    damp = np.ones_like(y)
    for on, _, _ in STACCATO:
        k = t >= on + 0.15
        damp[k & (t < on + 0.5)] = np.exp(-(t[k & (t < on + 0.5)] - on - 0.15) / 0.01)
    return (y * damp).astype(np.float32)


def test_reverb_tail_after_a_released_note_is_reduced():
    dry = staccato()
    wet = hall(dry)
    out = dr.reduce_reverb(wet)
    assert out.shape == wet.shape and out.dtype == np.float32 and np.isfinite(out).all()
    # between notes (0.3-0.5 s after each onset) the hall's tail is what is left to hear
    gaps = [on + 0.3 for on, _, _ in STACCATO[2:]]
    before = sum(tail_energy(wet, g, 0.2) for g in gaps)
    after = sum(tail_energy(out, g, 0.2) for g in gaps)
    direct = sum(tail_energy(wet, on, 0.1) for on, _, _ in STACCATO[2:])
    kept = sum(tail_energy(out, on, 0.1) for on, _, _ in STACCATO[2:])
    assert after < 0.5 * before  # at least 3 dB of the tail gone
    assert kept > 0.5 * direct  # the notes themselves stay


def test_dry_notes_keep_their_attacks():
    """A dry recording has no tail to take out; the notes' first 0.1 s keep most of their energy
    (WPE does shave long steady sustains, which are predictable too: hence an option)."""
    dry = staccato()
    out = dr.reduce_reverb(dry)
    for on, _, _ in STACCATO[2:]:
        assert tail_energy(out, on, 0.1) > 0.6 * tail_energy(dry, on, 0.1)
    assert float((out ** 2).sum()) <= float((dry ** 2).sum()) * 1.05


def test_blocks_join_at_the_level_of_a_single_pass(monkeypatch):
    """A long recording runs in blocks (bounded memory); the output has the input's length and,
    where blocks overlap, the level a single pass over the whole recording gives."""
    y = hall(piano_like(10.0, notes=tuple((0.4 * i, 48 + (7 * i) % 30, 0.7) for i in range(24))))
    whole = dr.reduce_reverb(y)  # 10 s < BLOCK_SECONDS: one block
    monkeypatch.setattr(dr, "BLOCK_SECONDS", 3.0)
    fractions = []
    out = dr.reduce_reverb(y, progress=fractions.append)
    assert len(out) == len(y) and np.isfinite(out).all()
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0])  # 0-4, 3-7 and 6-10 s (the last takes the rest)
    for a in (3.0, 6.0):  # the 1 s cross-fades
        k = slice(int(a * SAMPLE_RATE), int((a + 1.0) * SAMPLE_RATE))
        ratio = np.sqrt((out[k] ** 2).mean() / (whole[k] ** 2).mean())
        assert 0.75 < ratio < 1.33


def test_edge_cases_and_cancel():
    assert len(dr.reduce_reverb(np.zeros(0, np.float32))) == 0
    short = piano_like(0.2)
    assert len(dr.reduce_reverb(short)) == len(short)
    silent = np.zeros(3 * SAMPLE_RATE, np.float32)
    assert np.allclose(dr.reduce_reverb(silent), 0.0)
    assert dr.reduce_reverb(piano_like(3.0), should_cancel=lambda: True) is None


def test_transcribe_runs_it_when_asked_and_reports_progress_and_cancel():
    model = build_model()
    y = hall(piano_like(3.0))
    seen = []
    tr = transcribe(y, model, dereverb=True, tuning=Tuning(), progress=seen.append, keep_features=True)
    assert tr.dereverb and tr.info["features"].dereverb
    assert seen and seen[-1] == 1.0 and all(a <= b + 1e-9 for a, b in zip(seen, seen[1:]))
    assert any(f <= 0.75 for f in seen)  # the dereverberation's part is reported first
    plain = transcribe(y, model, tuning=Tuning())
    assert not plain.dereverb
    same = transcribe(dr.reduce_reverb(y), model, tuning=Tuning())
    assert np.array_equal(tr.states, same.states)  # the model heard the dereverberated audio
    with pytest.raises(Cancelled):
        transcribe(y, model, dereverb=True, should_cancel=lambda: True)
