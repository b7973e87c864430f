"""Labels and decoding: hand-made state rolls, hand-made label rolls, pedal handling, and the
encode → decode round trip on real human performances (ASAP, read in place)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from par_studio.constants import (
    FRAME_SECONDS,
    MIN_MIDI,
    N_KEYS,
    STATE_OFF,
    STATE_OFFSET,
    STATE_ONSET,
    STATE_REONSET,
    STATE_SUSTAIN,
    TIME_SINCE_ONSET_CAP,
)
from par_studio.notes import Notes, apply_sustain, decode, encode, notes_from_midi, notes_from_pretty_midi, sustain_intervals

OFF, OFS, ON, SUS, RE = STATE_OFF, STATE_OFFSET, STATE_ONSET, STATE_SUSTAIN, STATE_REONSET
F = FRAME_SECONDS


def roll(T: int, **keys) -> np.ndarray:
    """A (T, 88) state roll; keys given as k<index>=[states from frame 0]."""
    s = np.zeros((T, N_KEYS), np.int64)
    for name, seq in keys.items():
        k = int(name[1:])
        s[: len(seq), k] = seq
    return s


def as_tuples(n: Notes):
    return [(round(a / F), round(b / F), int(p), int(v)) for a, b, p, v in zip(n.onset, n.offset, n.pitch, n.velocity)]


# --------------------------------------------------------------------------- decode
def test_decode_single_note_times_pitch_and_velocity_at_onset_frame():
    s = roll(10, k39=[OFF, OFF, ON, SUS, SUS, SUS, OFS, OFF])
    v = np.zeros((10, N_KEYS), np.float32)
    v[:, 39] = 0.1  # other frames carry other values ...
    v[2, 39] = 100 / 128  # ... the onset frame holds the note's velocity
    n = decode(s, v)
    assert as_tuples(n) == [(2, 6, MIN_MIDI + 39, 100)]
    assert n.onset[0] == pytest.approx(2 * 0.032) and n.offset[0] == pytest.approx(6 * 0.032)


def test_decode_reonset_ends_previous_note():
    s = roll(9, k0=[ON, SUS, SUS, RE, SUS, SUS, OFS])
    assert as_tuples(decode(s)) == [(0, 3, 21, 64), (3, 6, 21, 64)]


def test_decode_new_onset_ends_previous_note_and_one_frame_notes():
    s = roll(6, k87=[ON, ON, SUS, ON, OFF])
    assert as_tuples(decode(s)) == [(0, 1, 108, 64), (1, 3, 108, 64), (3, 4, 108, 64)]


def test_decode_note_ends_at_first_non_sustain_frame_even_without_offset_state():
    s = roll(6, k10=[ON, SUS, OFF, SUS, SUS])  # orphan sustain (no onset) makes no note
    assert as_tuples(decode(s)) == [(0, 2, 31, 64)]


def test_decode_open_notes_at_the_end():
    s = roll(5, k5=[OFF, ON, SUS, SUS, SUS], k6=[ON, SUS, OFS, OFF, OFF], k7=[OFF, OFF, OFF, OFF, RE])
    assert as_tuples(decode(s)) == [(0, 2, 27, 64), (1, 5, 26, 64), (4, 5, 28, 64)]
    assert as_tuples(decode(s, include_open=False)) == [(0, 2, 27, 64)]


def test_decode_offset_shift_moves_only_notes_ended_by_release():
    s = roll(10, k0=[ON, SUS, OFS, OFF], k1=[ON, SUS, RE, SUS, OFF], k3=[ON, SUS, ON, OFF],
             k2=[OFF, ON] + [SUS] * 8)
    base, shifted = decode(s), decode(s, offset_shift=0.016)
    assert np.array_equal(base.onset, shifted.onset) and np.array_equal(base.pitch, shifted.pitch)
    moved = {(round(a / F), int(p)): round(b - c, 6)
             for a, b, c, p in zip(shifted.onset, shifted.offset, base.offset, shifted.pitch)}
    assert moved == {
        (0, 21): 0.016,  # released (offset state)
        (0, 22): 0.0, (2, 22): 0.016,  # the re-strike ends the first note where it starts
        (0, 24): 0.0, (2, 24): 0.016,  # so does a new onset
        (1, 23): 0.0,  # still sounding at the end of the roll
    }
    # frame_offset (streaming windows) and include_open keep their meaning
    later = decode(s, offset_shift=0.016, frame_offset=5)
    assert later.offset[later.pitch == 21][0] == pytest.approx(2 * F + 0.016 + 5 * F)
    assert len(decode(s, offset_shift=0.016, include_open=False)) == len(shifted) - 1


def test_decode_velocity_rounding_clipping_and_frame_offset():
    s = roll(4, k1=[ON, OFS], k2=[ON, OFS], k3=[OFF, ON, OFS])
    v = np.zeros((4, N_KEYS), np.float32)
    v[0, 1], v[0, 2], v[1, 3] = 0.0, 1.0, 63.4 / 128
    n = decode(s, v, frame_offset=100)
    assert as_tuples(n) == [(100, 101, 22, 1), (100, 101, 23, 127), (101, 102, 24, 63)]


def test_decode_polyphony_sorted_and_empty():
    s = roll(4, k40=[ON, SUS, OFS], k0=[ON, OFS], k80=[OFF, ON, SUS, SUS])
    n = decode(s)
    assert list(n.pitch) == [21, 61, 101]
    assert np.all(np.diff(n.onset) >= 0)
    assert len(decode(np.zeros((0, N_KEYS), int))) == 0
    assert len(decode(roll(5, k3=[SUS, SUS, OFS]))) == 0


# --------------------------------------------------------------------------- encode
def test_encode_hand_made_roll_and_context():
    notes = Notes([2 * F, 0.0], [5 * F, 3 * F + 0.01], [21, 108], [100, 40])
    lab = encode(notes, 8)
    assert list(lab.state[:, 0]) == [OFF, OFF, ON, SUS, SUS, OFS, OFF, OFF]
    assert list(lab.state[:, 87]) == [ON, SUS, SUS, OFS, OFF, OFF, OFF, OFF]  # 3.31 frames → 3
    assert lab.onset_mask[2, 0] and lab.onset_mask[0, 87] and lab.onset_mask.sum() == 2
    np.testing.assert_allclose(lab.velocity[2:5, 0], 100 / 128)
    assert lab.velocity[5, 0] == 0 and lab.velocity[1, 0] == 0
    # context = previous frame's state, frames since onset /313, onset velocity /128
    assert list(lab.prev_state[:, 0]) == [OFF, OFF, OFF, ON, SUS, SUS, OFS, OFF]
    np.testing.assert_allclose(lab.prev_time[:, 0], np.array([0, 0, 0, 1, 2, 3, 0, 0]) / TIME_SINCE_ONSET_CAP)
    np.testing.assert_allclose(lab.prev_velocity[:, 0], np.array([0, 0, 0, 1, 1, 1, 0, 0]) * 100 / 128)


def test_encode_restrike_while_sounding_is_reonset_and_ends_previous_note():
    notes = apply_sustain(Notes([0.0, 4 * F], [8 * F, 7 * F], [60, 60], [80, 90]), [])
    lab = encode(notes, 10)
    assert list(lab.state[:, 39]) == [ON, SUS, SUS, SUS, RE, SUS, SUS, OFS, OFF, OFF]
    np.testing.assert_allclose(lab.velocity[:4, 39], 80 / 128)
    np.testing.assert_allclose(lab.velocity[4:7, 39], 90 / 128)
    # the context restarts at the re-onset
    np.testing.assert_allclose(lab.prev_time[5, 39] * TIME_SINCE_ONSET_CAP, 1)
    np.testing.assert_allclose(lab.prev_velocity[5, 39], 90 / 128)
    assert as_tuples(decode(lab.state, lab.velocity)) == [(0, 4, 60, 80), (4, 7, 60, 90)]


def test_encode_strike_after_a_gap_is_onset_and_same_frame_strikes_merge():
    notes = Notes([0.0, 3 * F, 6 * F, 6 * F + 0.004], [2 * F, 5 * F, 8 * F, 9 * F], [30] * 4, [50, 60, 70, 90])
    lab = encode(notes, 11)
    assert list(lab.state[:, 9]) == [ON, SUS, OFS, ON, SUS, OFS, ON, SUS, SUS, OFS, OFF]
    assert as_tuples(decode(lab.state, lab.velocity)) == [(0, 2, 30, 50), (3, 5, 30, 60), (6, 9, 30, 90)]


def test_encode_time_since_onset_is_capped():
    notes = Notes([0.0], [400 * F], [50], [64])
    lab = encode(notes, 405)
    assert lab.prev_time.max() == pytest.approx(1.0)
    assert lab.prev_time[TIME_SINCE_ONSET_CAP, 29] == pytest.approx(1.0)
    assert lab.prev_time[TIME_SINCE_ONSET_CAP - 1, 29] == pytest.approx((TIME_SINCE_ONSET_CAP - 1) / TIME_SINCE_ONSET_CAP)


def test_encode_decode_round_trip_on_grid_is_exact():
    rng = np.random.RandomState(3)
    on, off, pitch, vel = [], [], [], []
    for k in range(0, 88, 3):
        t = rng.randint(0, 5)
        while t < 180:
            d = rng.randint(1, 20)
            on.append(t * F)
            off.append((t + d) * F)
            pitch.append(k + MIN_MIDI)
            vel.append(rng.randint(1, 128))
            t += d + rng.randint(0, 3)  # sometimes a re-strike right at the previous end
    notes = Notes(on, off, pitch, vel)
    lab = encode(notes, 220)
    assert (lab.state == RE).any()
    assert decode(lab.state, lab.velocity).equals(notes, atol=1e-9)


# --------------------------------------------------------------------------- pedal
def _pm(notes, pedal):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(v, p, s, e) for s, e, p, v in notes]
    inst.control_changes = [pretty_midi.ControlChange(64, val, t) for t, val in pedal]
    pm.instruments.append(inst)
    return pm


def test_sustain_pedal_extends_offsets_and_cuts_at_next_strike():
    pm = _pm([(0.0, 0.5, 60, 80), (0.2, 0.4, 64, 70), (1.0, 1.2, 60, 90), (3.0, 3.5, 72, 60), (2.0, 2.1, 48, 50)],
             [(0.3, 100), (1.5, 0), (2.05, 127), (2.5, 30), (2.9, 64)])
    dry = notes_from_pretty_midi(pm, sustain=False)
    wet = notes_from_pretty_midi(pm, sustain=True)
    d = {(round(a, 3), int(p)): round(b, 3) for a, b, p in zip(dry.onset, dry.offset, dry.pitch)}
    w = {(round(a, 3), int(p)): round(b, 3) for a, b, p in zip(wet.onset, wet.offset, wet.pitch)}
    assert d[(0.0, 60)] == 0.5 and d[(0.2, 64)] == 0.4
    assert w[(0.0, 60)] == 1.0  # extended to the release at 1.5, then cut by the re-strike at 1.0
    assert w[(0.2, 64)] == 1.5  # released while the pedal is down → to the pedal release
    assert w[(1.0, 60)] == 1.5
    assert w[(2.0, 48)] == 2.5  # CC 127 down, CC 30 (< 64) up
    assert w[(3.0, 72)] == 3.5  # unreleased pedal is capped at the last note end
    assert sustain_intervals([(0.3, 100), (0.4, 90), (1.5, 0), (2.0, 64)]) == [(0.3, 1.5), (2.0, float("inf"))]


def test_pedal_below_threshold_changes_nothing():
    pm = _pm([(0.0, 0.5, 60, 80)], [(0.1, 63), (1.0, 0)])
    assert notes_from_pretty_midi(pm, sustain=True).offset[0] == pytest.approx(0.5)


def test_notes_outside_the_keyboard_and_drums_are_dropped(tmp_path):
    import pretty_midi

    pm = _pm([(0.0, 0.5, 20, 80), (0.0, 0.5, 109, 80), (0.0, 0.5, 21, 80), (0.0, 0.5, 108, 80)], [])
    drums = pretty_midi.Instrument(0, is_drum=True)
    drums.notes.append(pretty_midi.Note(100, 40, 0.0, 0.1))
    pm.instruments.append(drums)
    path = tmp_path / "x.mid"
    pm.write(str(path))
    assert sorted(notes_from_midi(path).pitch.tolist()) == [21, 108]


def test_unreadable_midi_raises_midi_error(tmp_path):
    from par_studio.errors import MidiError

    p = tmp_path / "bad.mid"
    p.write_bytes(b"not a midi file")
    with pytest.raises(MidiError, match="bad.mid"):
        notes_from_midi(p)


# --------------------------------------------------------------------------- ASAP round trip
N_ROUND_TRIP = 24
SEED = 20240406


def asap_sample(root) -> list:
    """A fixed-seed sample of ≥ 20 performances: one per composer, the rest drawn at random."""
    files = sorted(p for p in root.rglob("*.mid") if p.is_file())
    by_comp: dict[str, list] = {}
    for p in files:
        by_comp.setdefault(p.relative_to(root).parts[0], []).append(p)
    rng = random.Random(SEED)
    pick = [rng.choice(by_comp[c]) for c in sorted(by_comp)]
    rest = [p for p in files if p not in set(pick)]
    pick += rng.sample(rest, max(0, N_ROUND_TRIP - len(pick)))
    return pick


def note_f1(ref: Notes, est: Notes, with_offsets: bool) -> float:
    """mir_eval note F1 (onset 50 ms; offsets 50 ms or 20 %), matched pitch by pitch.

    Notes of different pitches never match (pitch tolerance 50 cents), so the maximum matching
    is the sum of per-pitch maximum matchings — the same number as one mir_eval call, but fast.
    """
    from mir_eval.transcription import match_notes

    matched = 0
    for p in np.union1d(ref.pitch, est.pitch):
        r, e = ref.take(ref.pitch == p), est.take(est.pitch == p)
        if len(r) and len(e):
            matched += len(match_notes(r.intervals(), r.pitches_hz(), e.intervals(), e.pitches_hz(),
                                       onset_tolerance=0.05, offset_ratio=0.2 if with_offsets else None))
    if len(ref) == 0 and len(est) == 0:
        return 1.0
    prec, rec = matched / max(1, len(est)), matched / max(1, len(ref))
    return 0.0 if matched == 0 else 2 * prec * rec / (prec + rec)


def _round_trip(path) -> tuple[Notes, Notes]:
    ref = notes_from_midi(path, sustain=True)
    T = int(np.ceil(ref.end_time() / F)) + 2
    lab = encode(ref, T)
    return ref, decode(lab.state, lab.velocity)


def test_per_pitch_f1_equals_plain_mir_eval(asap_root):
    import mir_eval

    path = min(asap_sample(asap_root), key=lambda p: p.stat().st_size)
    ref, est = _round_trip(path)
    est = est.take(np.arange(len(est)) % 7 != 0)  # make it imperfect so the check means something
    est.onset[::5] += 0.06
    for offs in (False, True):
        _, _, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref.intervals(), ref.pitches_hz(), est.intervals(), est.pitches_hz(),
            onset_tolerance=0.05, offset_ratio=0.2 if offs else None)
        assert note_f1(ref, est, offs) == pytest.approx(f, abs=1e-12)


def test_label_round_trip_on_human_performances(asap_root):
    sample = asap_sample(asap_root)
    composers = {p.relative_to(asap_root).parts[0] for p in sample}
    assert len(sample) >= 20 and len(composers) >= 10
    failures = []
    for path in sample:
        ref, est = _round_trip(path)
        assert len(ref) > 50, path
        f_on, f_off = note_f1(ref, est, False), note_f1(ref, est, True)
        if f_on < 0.99 or f_off < 0.99:
            failures.append(f"{path.relative_to(asap_root)}: onset F1 {f_on:.4f}, +offset F1 {f_off:.4f}")
        # velocities survive: (onset frame, pitch, velocity) of the reference are in the decoded notes
        got = set(zip(np.round(est.onset / F).astype(int), est.pitch.tolist(), est.velocity.tolist()))
        want = list(zip(np.round(ref.onset / F).astype(int), ref.pitch.tolist(), ref.velocity.tolist()))
        kept = sum(w in got for w in want) / len(want)
        if kept < 0.99:
            failures.append(f"{path.relative_to(asap_root)}: only {kept:.4f} of velocities kept")
    assert not failures, "\n".join(failures)
