"""MIDI and CSV out: exact re-read with pretty_midi and mido, tempo, program, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from par_studio.midi_io import RESOLUTION, read_csv, read_midi, write_csv, write_midi, write_notes
from par_studio.notes import Notes, decode, encode


def some_notes(seed=0) -> Notes:
    """Decoder-like notes on the 32 ms grid, with re-strikes (a note ending where the next of
    the same key starts), chords, extreme keys and velocities 1 and 127."""
    rng = np.random.RandomState(seed)
    on, off, pitch, vel = [], [], [], []
    for key in (0, 1, 39, 40, 43, 60, 86, 87):
        t = rng.randint(0, 10)
        for _ in range(6):
            d = rng.randint(1, 40)
            on.append(t * 0.032)
            off.append((t + d) * 0.032)
            pitch.append(21 + key)
            vel.append(rng.randint(1, 128))
            t += d + rng.choice([0, 0, 1, 7])
    vel[0], vel[1] = 1, 127
    return Notes(on, off, pitch, vel).sorted()


def _mido_notes(path):
    """Notes by FIFO pairing of note on/off per pitch with mido; times from the file's tempo."""
    import mido

    mf = mido.MidiFile(str(path))
    merged = mido.merge_tracks(mf.tracks)
    tick, tempo, seconds = 0, 500000, 0.0
    open_, notes, programs, tempos, order = {}, [], [], [], []
    for msg in merged:
        seconds += mido.tick2second(msg.time, mf.ticks_per_beat, tempo)
        tick += msg.time
        if msg.type == "set_tempo":
            tempo = msg.tempo
            tempos.append((tick, msg.tempo))
        elif msg.type == "program_change":
            programs.append(msg.program)
        elif msg.type == "note_on" and msg.velocity > 0:
            open_.setdefault(msg.note, []).append((seconds, msg.velocity))
            order.append((tick, msg.note, "on"))
        elif msg.type in ("note_off", "note_on"):
            start, v = open_[msg.note].pop(0)
            notes.append((start, seconds, msg.note, v))
            order.append((tick, msg.note, "off"))
    assert not any(open_.values())
    notes.sort(key=lambda n: (n[0], n[2]))
    return mf, notes, programs, tempos, order


@pytest.mark.parametrize("tempo", [120.0, 93.0, 200.0])
def test_midi_rereads_exactly_with_pretty_midi_and_mido(tmp_path, tempo):
    import mido
    import pretty_midi

    notes = some_notes()
    path = write_midi(notes, tmp_path / "out.mid", tempo=tempo)
    half_tick = 60.0 / (tempo * RESOLUTION) / 2

    pm = pretty_midi.PrettyMIDI(str(path))
    assert len(pm.instruments) == 1 and pm.instruments[0].program == 0 and not pm.instruments[0].is_drum
    _, tempi = pm.get_tempo_changes()
    assert tempi == pytest.approx([tempo], rel=1e-5)  # µs per beat are integers
    got = sorted(pm.instruments[0].notes, key=lambda n: (n.start, n.pitch))
    assert len(got) == len(notes)
    assert [n.pitch for n in got] == notes.pitch.tolist()
    assert [n.velocity for n in got] == notes.velocity.tolist()
    assert np.abs(np.array([n.start for n in got]) - notes.onset).max() <= half_tick
    assert np.abs(np.array([n.end for n in got]) - notes.offset).max() <= half_tick

    mf, mnotes, programs, tempos, order = _mido_notes(path)
    assert mf.ticks_per_beat == RESOLUTION
    assert programs == [0]
    assert [t for _, t in tempos] == [mido.bpm2tempo(tempo)]
    assert len(mnotes) == len(notes)
    assert [n[2] for n in mnotes] == notes.pitch.tolist()
    assert [n[3] for n in mnotes] == notes.velocity.tolist()
    assert np.abs(np.array([n[0] for n in mnotes]) - notes.onset).max() <= half_tick + 1e-9
    assert np.abs(np.array([n[1] for n in mnotes]) - notes.offset).max() <= half_tick + 1e-9
    # a re-strike: at the same tick the old note's off comes before the new note's on
    seen = {}
    for tick, note, kind in order:
        if kind == "on" and seen.get((tick, note)) == "on":
            pytest.fail(f"two note-ons of {note} at tick {tick}")
        if kind == "off":
            assert seen.get((tick, note)) != "on", f"note {note} at tick {tick}: on before off"
        seen[(tick, note)] = kind


def test_decoded_notes_survive_midi(tmp_path):
    notes = some_notes(1)
    lab = encode(notes, 400)
    dec = decode(lab.state, lab.velocity)
    path = write_midi(dec, tmp_path / "dec.mid")
    assert read_midi(path).equals(dec, atol=60.0 / (120 * RESOLUTION) / 2)


def test_empty_notes_and_bad_tempo(tmp_path):
    path = write_midi(Notes(), tmp_path / "empty.mid")
    assert len(read_midi(path)) == 0
    with pytest.raises(ValueError):
        write_midi(some_notes(), tmp_path / "x.mid", tempo=0)
    assert not (tmp_path / "x.mid").exists()


def _boom(*a, **k):
    raise OSError("simulated failure mid-write")


@pytest.mark.parametrize("where", ["fsync", "replace"])
@pytest.mark.parametrize("fmt", ["mid", "csv"])
def test_failed_write_keeps_existing_file_and_leaves_no_temp(tmp_path, monkeypatch, where, fmt):
    path = tmp_path / f"song.{fmt}"
    write_notes(some_notes(2), path)
    before = path.read_bytes()
    monkeypatch.setattr(os, where, _boom)
    with pytest.raises(OSError, match="simulated"):
        write_notes(some_notes(3), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_successful_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "song.mid"
    write_midi(some_notes(2), path)
    write_midi(some_notes(3), path)
    assert os.listdir(tmp_path) == ["song.mid"]
    assert read_midi(path).equals(some_notes(3), atol=1e-3)
    out = write_midi(some_notes(3), tmp_path / "new" / "dir" / "x.mid")
    assert out.exists()


@pytest.mark.filterwarnings("ignore:loadtxt")  # numpy warns about the header-only (empty) CSV
def test_csv_round_trip(tmp_path):
    notes = some_notes(4)
    path = write_notes(notes, tmp_path / "notes.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "onset_s,offset_s,pitch,velocity" and len(lines) == len(notes) + 1
    back = read_csv(path)
    assert back.equals(notes, atol=1e-6)
    assert len(read_csv(write_csv(Notes(), tmp_path / "empty.csv"))) == 0
    assert set(os.listdir(tmp_path)) == {"notes.csv", "empty.csv"}


def test_exports_get_normal_file_permissions(tmp_path):
    import os
    import stat

    from par_studio.midi_io import write_csv, write_midi
    from par_studio.notes import Notes

    n = Notes([0.0], [0.5], [60], [90])
    old = os.umask(0o022)
    try:
        mid = write_midi(n, tmp_path / "a.mid")
        csv_path = write_csv(n, tmp_path / "a.csv")
    finally:
        os.umask(old)
    for p in (mid, csv_path):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
    os.chmod(mid, 0o640)
    write_midi(n, mid)  # overwriting keeps the file's own mode
    assert stat.S_IMODE(os.stat(mid).st_mode) == 0o640


def test_read_notes_by_extension_and_clear_errors(tmp_path):
    from par_studio.errors import MidiError
    from par_studio.midi_io import read_notes, write_csv, write_midi

    notes = Notes([0.1, 0.5], [0.4, 1.5], [60, 64], [70, 90])
    assert read_notes(write_csv(notes, tmp_path / "n.csv")).equals(notes, atol=1e-6)
    assert read_notes(write_midi(notes, tmp_path / "n.mid")).equals(notes, atol=2e-3)
    (tmp_path / "cols.csv").write_text("onset_s,offset_s,pitch\n0.1,0.2,60\n")
    (tmp_path / "back.csv").write_text("onset_s,offset_s,pitch,velocity\n0.1,0.2,60,80\n0.5,0.3,61,80\n")
    (tmp_path / "junk.mid").write_bytes(b"not midi at all")
    for name, words in (("cols.csv", "4 columns"), ("back.csv", "line 3"), ("junk.mid", "junk.mid"),
                        ("missing.csv", "no such file")):
        with pytest.raises(MidiError, match=words):
            read_notes(tmp_path / name)
