"""Tempo detection for the MIDI tempo map: played beats at known tempi, too few notes, the
CLI's --tempo auto/BPM/bad values."""

from __future__ import annotations

import numpy as np
import pytest

from par_studio.notes import Notes
from par_studio.tempo import estimate_tempo, resolve_tempo


def played(bpm: float, beats: int = 48, seed: int = 0) -> Notes:
    """A bass note on every beat (accent on the bar's first), an off-beat melody note every
    other beat; onsets jittered by 10 ms like a human player."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    on, pitch, vel = [], [], []
    for b in range(beats):
        t = 0.37 + b * beat
        on.append(t + rng.normal(0, 0.01)); pitch.append(48); vel.append(100 if b % 4 == 0 else 70)
        if b % 2 == 0:
            on.append(t + beat / 2 + rng.normal(0, 0.01)); pitch.append(67); vel.append(50)
    on = np.array(on)
    return Notes(on, on + 0.2, pitch, vel).sorted()


@pytest.mark.parametrize("bpm", [90, 108, 132, 150])
def test_estimates_the_played_tempo(bpm):
    assert estimate_tempo(played(bpm)) == pytest.approx(bpm, rel=0.03)


@pytest.mark.parametrize("bpm", [60, 72, 200])
def test_slow_and_fast_tempi_up_to_an_octave(bpm):
    """Far from the 120 BPM prior, half or double time is as plausible (the MIR convention
    "accuracy 2"); notation software then draws bars half or twice as long, not misplaced."""
    est = estimate_tempo(played(bpm))
    assert min(abs(est / (bpm * f) - 1) for f in (0.5, 1, 2)) < 0.03


def test_too_few_notes_give_no_estimate_and_resolve_falls_back():
    few = played(100, beats=4)
    assert estimate_tempo(few) is None and estimate_tempo(Notes()) is None
    assert resolve_tempo("auto", few) == 120.0
    assert resolve_tempo(None, few, default=100.0) == 100.0
    assert resolve_tempo(96.5, played(132)) == 96.5
    assert resolve_tempo("auto", played(132)) == pytest.approx(132, rel=0.03)


def test_cli_tempo_auto_and_bad_values(tmp_path, compact_ckpt, capsys, monkeypatch):
    import pretty_midi

    from par_studio import tempo
    from par_studio.cli import main
    from test_cli import _wav

    wav = _wav(tmp_path / "t.wav")
    # auto (the default) writes whatever the estimator says about the transcribed notes
    seen = []
    monkeypatch.setattr(tempo, "estimate_tempo", lambda notes: seen.append(len(notes)) or 84.0)
    assert main(["transcribe", str(wav), "-q", "--model", str(compact_ckpt)]) == 0
    _, tempi = pretty_midi.PrettyMIDI(str(tmp_path / "t.mid")).get_tempo_changes()
    assert seen and tempi == pytest.approx([84.0], rel=1e-5)
    for bad in ("fast", "1000"):
        with pytest.raises(SystemExit):
            main(["transcribe", str(wav), "--tempo", bad, "--model", str(compact_ckpt)])
        assert "tempo" in capsys.readouterr().err


def test_follow_tempo_keeps_beats_on_a_slowing_performance(monkeypatch):
    """With FOLLOW_TEMPO the grid's beats follow a performance slowing by a fifth (8ths over a
    bass on each beat): every beat within 40 ms of a played beat."""
    import par_studio.tempo as T

    rng = np.random.default_rng(1)
    ibi = np.linspace(0.5, 0.6, 60)
    beats = 1.0 + np.concatenate([[0], np.cumsum(ibi)])
    on, pitch = [], []
    for k, b in enumerate(beats[:-1]):
        on += [b, b, b + ibi[k] / 2]
        pitch += [36 + k % 5, 64 + k % 7, 67 + k % 3]
    on = np.array(on) + rng.normal(0, 0.006, len(on))
    notes = Notes(on, on + 0.2, np.array(pitch), np.full(len(on), 80)).sorted()
    monkeypatch.setattr(T, "FOLLOW_TEMPO", True)
    T._last = (None, None)
    m = T.estimate_meter(notes)
    T._last = (None, None)
    inside = m.beats[(m.beats > beats[0] + 0.3) & (m.beats < beats[-4])]  # (edges: _trim_edges)
    assert len(inside) > 40
    assert np.abs(inside[:, None] - beats[None, :]).min(axis=1).max() < 0.04


def test_bar_one_is_the_first_bar_of_the_music_when_tracked_beats_start_late():
    """Meter.first_bar_at: a grid whose beats (and first downbeat) begin three bars into the
    music is continued back, and bar 1 moves to the first bar line at or after the first note;
    an upbeat stays before bar 1."""
    from par_studio.meter import Meter

    beats = 6.0 + 0.5 * np.arange(40)  # tracked from 6 s, 4/4, downbeat at 6 s
    m = Meter(120.0, 4, 2, beats, 0)
    got = m.first_bar_at(0.5)  # music starts at 0.5 s: bar lines at 0, 2, 4, 6 ...
    assert got.downbeat_s == pytest.approx(2.0)
    assert got.quarters_at(6.0) == pytest.approx(8.0)  # the old bar 1 is now bar 3
    assert np.allclose(np.diff(got.beats), 0.5) and got.beats[0] >= 0
    assert m.first_bar_at(1.99).downbeat_s == pytest.approx(2.0)  # a note just early: bar 1
    assert m.first_bar_at(6.0).downbeat_s == pytest.approx(6.0)  # nothing before: unchanged
