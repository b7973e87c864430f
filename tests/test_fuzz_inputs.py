"""Fuzz suite of issue 17: bad, odd and hostile inputs through the command line, the audio
loader, the checkpoint loader, evaluation, autosave and import. Every file is generated here
(tests/fuzzgen.py). Each case asserts what the user sees (one clear line naming the file, no
traceback) and that nothing is lost (inputs and earlier outputs intact)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import fuzzgen
from par_studio.audio.io import TruncatedAudioWarning, load_audio
from par_studio.cli import main
from par_studio.errors import AudioLoadError, CheckpointError


def run(argv, capsys):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "par-studio" / "unsaved"


# --------------------------------------------------------------------------- data loss
def test_audio_named_mid_is_not_overwritten_by_its_transcription(tmp_path, compact_ckpt, capsys):
    take = fuzzgen.good_wav(tmp_path / "take.wav")
    take = take.rename(tmp_path / "take.mid")
    before = take.read_bytes()
    code, _, err = run(["transcribe", take, "-q", "--model", compact_ckpt], capsys)
    assert code == 0 and take.read_bytes() == before
    assert (tmp_path / "take.transcribed.mid").stat().st_size > 0 and "take.transcribed.mid" in err


def test_same_stem_and_same_name_from_two_folders_never_collide(tmp_path, compact_ckpt, capsys):
    d = tmp_path / "in"
    fuzzgen.good_wav(d / "a.wav")
    fuzzgen.good_as(d / "a.flac", "FLAC")
    code, _, err = run(["transcribe", d / "a.wav", d / "a.flac", "-q", "--model", compact_ckpt], capsys)
    assert code == 0 and {p.name for p in d.glob("*.mid")} == {"a.wav.mid", "a.flac.mid"}
    assert "a.wav.mid" in err and "a.flac.mid" in err
    song = tmp_path / "song"
    song.mkdir()
    fuzzgen.good_as(song / "clip.ogg", "OGG")
    (song / "sub").mkdir()
    fuzzgen.good_as(song / "sub" / "clip.mp3", "MP3")
    out = tmp_path / "out"
    code, _, err = run(["transcribe", song, "-o", out, "-q", "--model", compact_ckpt], capsys)
    assert code == 0 and "2 transcribed" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mid")) == ["clip.mid", "sub/clip.mid"]
    flat = tmp_path / "flat"  # the same two files named one by one: disambiguated, and said
    code, _, err = run(["transcribe", song / "clip.ogg", song / "sub" / "clip.mp3", "-o", flat, "-q",
                        "--model", compact_ckpt], capsys)
    assert code == 0 and sorted(p.name for p in flat.iterdir()) == ["clip.mp3.mid", "clip.ogg.mid"]


def test_output_kinds_and_ambiguous_outputs(tmp_path, compact_ckpt, capsys):
    wav = fuzzgen.good_wav(tmp_path / "a.wav")
    wav2 = fuzzgen.good_wav(tmp_path / "b.wav")
    code, _, _ = run(["transcribe", wav, "-o", tmp_path / "n.csv", "--csv", "-q", "--model", compact_ckpt], capsys)
    assert code == 0 and (tmp_path / "n.csv").read_text().startswith("onset_s,offset_s,pitch,velocity")
    assert not (tmp_path / "n.mid").exists()
    for argv, words in (
        ([wav, "-o", tmp_path / "x.txt"], "x.txt"),
        ([wav, wav2, "-o", tmp_path / "X.mid"], "names one file"),
        ([wav, "-o", ""], "-o is empty"),
    ):
        code, _, err = run(["transcribe", *argv, "-q", "--model", compact_ckpt], capsys)
        assert code == 2 and words in err, (argv, err)
    assert not (tmp_path / "X.mid").exists() and not (tmp_path / "x.txt").exists()
    assert not (tmp_path / "a.mid").exists()


def test_empty_argument_is_refused_and_nothing_is_written(tmp_path, compact_ckpt, capsys, monkeypatch):
    fuzzgen.good_wav(tmp_path / "a.wav")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["transcribe", "", "-q", "--model", compact_ckpt], capsys)
    assert code == 2 and "empty name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_unwritable_output_is_refused_before_work_naming_the_target(tmp_path, compact_ckpt, capsys):
    wav = fuzzgen.good_wav(tmp_path / "a.wav")
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    code, _, err = run(["transcribe", wav, "-o", blocker / "out.mid", "--model", compact_ckpt], capsys)
    assert code == 2 and "out.mid" in err and ".tmp" not in err and "model:" not in err
    code, _, err = run(["transcribe", wav, "-o", "/proc/par-out.mid", "--model", compact_ckpt], capsys)
    assert code == 2 and "par-out.mid" in err and ".tmp" not in err


def test_late_write_failure_saves_to_the_user_data_folder(tmp_path, compact_ckpt, capsys, monkeypatch, data_home):
    import par_studio.midi_io as mio

    wav = fuzzgen.good_wav(tmp_path / "a.wav")
    real = mio.write_midi
    calls = []

    def flaky(notes, path, **kw):
        calls.append(Path(path))
        if len(calls) == 1:
            raise OSError(28, "No space left on device", str(path))
        return real(notes, path, **kw)

    monkeypatch.setattr(mio, "write_midi", flaky)
    code, _, err = run(["transcribe", wav, "-q", "--model", compact_ckpt], capsys)
    saved = list(data_home.glob("*a.mid"))
    assert code == 1 and len(saved) == 1 and str(saved[0]) in err and "No space left" in err
    assert len(mio.read_midi(saved[0])) >= 0 and saved[0].stat().st_size > 0


def test_live_output_is_checked_before_the_session(tmp_path, capsys):
    for out, words in ((str(tmp_path / "newdir") + "/", "is a folder"), ("", "empty"),
                       (str(tmp_path / "take.wav"), ".mid"), (str(tmp_path / "f.txt" / "x.mid"), "x.mid")):
        if "f.txt" in out:
            (tmp_path / "f.txt").write_text("x")
        code, _, err = run(["live", "--file", tmp_path / "none.wav", "-o", out, "--model", "par"], capsys)
        assert code == 2 and words in err, (out, err)
        assert "live:" not in err  # refused before the model and the session
    assert not (tmp_path / "newdir").exists()


# --------------------------------------------------------------------------- bounded work
@pytest.mark.parametrize("kind", sorted(fuzzgen.HOSTILE_WAVS))
def test_hostile_wav_headers_are_refused_before_decoding(tmp_path, kind, monkeypatch):
    import par_studio.audio.io as aio

    monkeypatch.setattr(aio, "_resampler", lambda sr: pytest.fail("resampling started"))
    path = fuzzgen.hostile_wav(tmp_path / f"{kind}.wav", kind)
    t0 = time.perf_counter()
    with pytest.raises(AudioLoadError) as info:
        load_audio(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)
    assert time.perf_counter() - t0 < 1.0


def test_decoding_reads_bounded_blocks(tmp_path, monkeypatch):
    import soundfile as sf

    import par_studio.audio.io as aio

    monkeypatch.setattr(aio, "BLOCK_SAMPLES", 4096)
    path = tmp_path / "multi.wav"
    sf.write(path, np.tile(fuzzgen.tone(1.0, 48000)[:, None], (1, 8)), 48000)
    sizes = []
    real = sf.SoundFile.read

    def spy(self, frames=-1, *a, **k):
        x = real(self, frames, *a, **k)
        sizes.append(x.size)
        return x

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    y = load_audio(path)
    assert abs(len(y) - 16000) <= 2 and max(sizes) <= 4096 and len(sizes) > 10


def test_memory_error_is_per_file_and_the_batch_goes_on(tmp_path, compact_ckpt, capsys, monkeypatch):
    import par_studio.audio.io as aio

    a, b = fuzzgen.good_wav(tmp_path / "a.wav"), fuzzgen.good_wav(tmp_path / "b.wav")
    real = aio.load_audio
    monkeypatch.setattr(aio, "load_audio", lambda p, *k: (_ for _ in ()).throw(MemoryError())
                        if Path(p).name == "a.wav" else real(p, *k))
    code, _, err = run(["transcribe", a, b, "-q", "--model", compact_ckpt], capsys)
    assert code == 1 and "a.wav: not enough memory" in err and "1 transcribed, 1 failed" in err
    assert (tmp_path / "b.mid").exists() and not (tmp_path / "a.mid").exists()


# --------------------------------------------------------------------------- clear messages
def test_bad_threads_and_empty_model(compact_ckpt, tmp_path, capsys):
    wav = fuzzgen.good_wav(tmp_path / "a.wav")
    for bad in ("-1", "0", "many"):
        with pytest.raises(SystemExit) as info:
            main(["transcribe", str(wav), "--threads", bad])
        assert info.value.code == 2
        assert "--threads" in capsys.readouterr().err
    code, _, err = run(["info", "--model", ""], capsys)
    assert code == 2 and "--model is empty" in err and "IsADirectory" not in err
    code, _, err = run(["info", "--model", tmp_path], capsys)
    assert code == 2 and "is a folder" in err


@pytest.fixture(scope="module")
def blob(tiny_ckpts):
    return torch.load(tiny_ckpts["par-compact"], weights_only=True)


def test_malformed_checkpoints_are_refused_before_building_in_cli(tmp_path, blob, capsys, monkeypatch):
    import par_studio.model.checkpoint as ck

    built = []
    real_model = ck.PARModel
    monkeypatch.setattr(ck, "PARModel", lambda cfg: built.append(cfg) or real_model(cfg))
    wav = fuzzgen.good_wav(tmp_path / "a.wav")
    for name, bad in fuzzgen.checkpoint_variants(blob).items():
        path = tmp_path / f"{name}.pt"
        torch.save(bad, path)
        with pytest.raises(CheckpointError) as info:
            ck.load_checkpoint(path)
        assert path.name in str(info.value) and "\n" not in str(info.value), name
        for cmd in (["info", "--model", path], ["transcribe", wav, "--model", path]):
            code, _, err = run(cmd, capsys)
            lines = err.strip().splitlines()
            assert code == 2 and len(lines) == 1 and path.name in lines[0], (name, cmd, err)
    assert built == []  # no model was ever built from a bad file
    assert not (tmp_path / "a.mid").exists()


def test_info_shows_data_set_names_not_machine_paths(tmp_path, blob, capsys):
    b = dict(blob)
    b["metadata"] = {**blob["metadata"], "training_data": "rendered corpus (/home/dev/work/corpus5)",
                     "initialised_from": "/home/dev/runs/v7/par-320-s7.pt",
                     "test_set": "30 files from C:\\Users\\dev\\corpus2\\test", "path": "/home/dev/x.pt"}
    path = tmp_path / "m.pt"
    torch.save(b, path)
    for argv in (["info", "--model", path], ["info", "--model", path, "--json"]):
        code, out, _ = run(argv, capsys)
        assert code == 0 and "/home/dev" not in out and "Users" not in out
        assert "corpus5" in out and "par-320-s7.pt" in out
        assert "corpus2/test" in out or "--json" not in argv


def test_special_files_get_messages_that_say_what_they_are(tmp_path, monkeypatch):
    cases = {
        fuzzgen.fifo(tmp_path / "pipe.wav"): "named pipe",
        Path("/dev/zero"): "device",
        Path("/proc/self/status"): "system file",
        fuzzgen.random_bytes(tmp_path / "noise.mp3"): "not an audio file",
    }
    link = tmp_path / "dangling.wav"
    link.symlink_to(tmp_path / "gone.wav")
    cases[link] = "broken link"
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    cases[loop] = "loop"
    for path, words in cases.items():
        with pytest.raises(AudioLoadError, match=words) as info:
            load_audio(path)
        assert path.name in str(info.value)
    readable = fuzzgen.good_wav(tmp_path / "locked.wav")
    monkeypatch.setattr(os, "access", lambda p, mode: False)  # tests may run as root
    with pytest.raises(AudioLoadError, match="permission denied"):
        load_audio(readable)


def test_links_and_loops_in_a_folder_are_reported_not_dropped(tmp_path, compact_ckpt, capsys):
    d = tmp_path / "in"
    fuzzgen.good_wav(d / "ok.wav")
    (d / "dangling.wav").symlink_to(d / "gone.wav")
    (d / "loop.flac").symlink_to(d / "loop.flac")
    code, _, err = run(["transcribe", d, "-q", "--model", compact_ckpt], capsys)
    assert code == 1 and "dangling.wav: is a broken link" in err and "loop.flac: is a link loop" in err
    assert (d / "ok.mid").exists()


def test_long_and_non_utf8_names(tmp_path, compact_ckpt, capsys):
    long = fuzzgen.good_wav(tmp_path / ("é" * 120 + ".wav"))  # 244 bytes
    code, _, err = run(["transcribe", long, "-q", "--csv", "--model", compact_ckpt], capsys)
    assert code == 0 and long.with_suffix(".mid").exists() and long.with_suffix(".csv").exists()
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.wav")
    fuzzgen.good_wav(os.fsdecode(raw))
    assert len(load_audio(os.fsdecode(raw))) > 0
    code, _, err = run(["transcribe", os.fsdecode(raw), "--model", compact_ckpt], capsys)
    assert code == 0 and os.path.exists(raw[:-4] + b".mid")


def test_truncated_compressed_files_are_warned(tmp_path, compact_ckpt, capsys):
    for fmt in ("MP3", "OGG"):
        if fmt == "OGG" and fuzzgen.ffmpeg_available():  # libvorbis pages as most encoders write them
            whole = fuzzgen.encode_with_ffmpeg(fuzzgen.good_wav(tmp_path / "w.wav", 10.0), tmp_path / "whole.ogg")
        else:
            whole = fuzzgen.good_as(tmp_path / f"whole.{fmt.lower()}", fmt, seconds=10.0)
        cut = fuzzgen.truncated(tmp_path / f"cut.{fmt.lower()}", whole, 0.6)
        with pytest.warns(TruncatedAudioWarning, match=cut.name):
            load_audio(cut)
        code, _, err = run(["transcribe", cut, "-q", "--model", compact_ckpt], capsys)
        assert code == 0 and f"warning: {cut}: the file is truncated" in err
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_audio(whole)  # a whole file warns nothing


def test_failed_gui_job_logs_its_traceback_instead_of_stderr(tmp_path, monkeypatch, capfd):
    pytest.importorskip("PySide6")
    from par_studio.gui.workers import LoadJob

    monkeypatch.setenv("PAR_STUDIO_LOG_DIR", str(tmp_path / "logs"))
    job = LoadJob(str(fuzzgen.hostile_wav(tmp_path / "bad.wav", "rate-1hz")))
    got = []
    job.failed.connect(got.append)
    job.run()
    job2 = LoadJob(str(tmp_path / "x.wav"))
    monkeypatch.setattr(job2, "work", lambda: (_ for _ in ()).throw(ValueError("odd")))
    job2.failed.connect(got.append)
    job2.run()
    err = capfd.readouterr().err
    log = (tmp_path / "logs" / "par-studio.log").read_text()
    assert "Traceback" not in err and "Traceback" in log and "ValueError: odd" in log
    assert "bad.wav: the header claims a sample rate of 1 Hz" in got[0] and got[1].startswith("x.wav: ") and "odd" in got[1]


# --------------------------------------------------------------------------- evaluate, autosave
def test_evaluate_scores_good_pairs_and_lists_bad_ones(tmp_path, compact_ckpt, capsys):
    from par_studio.midi_io import write_midi
    from par_studio.notes import Notes

    d = tmp_path / "pairs"
    ref = Notes([0.05], [0.3], [60], [80])
    fuzzgen.good_wav(d / "good.wav")
    write_midi(ref, d / "good.mid")
    fuzzgen.good_wav(d / "notmidi.wav")
    (d / "notmidi.mid").write_text("not midi")
    (d / "folder.wav").mkdir()
    write_midi(ref, d / "folder.mid")
    import soundfile as sf

    sf.write(d / "empty.wav", np.zeros((0, 1), np.float32), 16000)
    write_midi(ref, d / "empty.mid")
    x = fuzzgen.tone()
    x[10] = np.nan
    sf.write(d / "nan.wav", x, 16000, subtype="FLOAT")
    write_midi(ref, d / "nan.mid")
    fuzzgen.fifo(d / "pipe.wav")
    write_midi(ref, d / "pipe.mid")
    fuzzgen.random_bytes(d / "noise.wav")  # bad audio: random bytes under an audio name
    write_midi(ref, d / "noise.mid")
    js = tmp_path / "scores.json"
    code, out, err = run(["evaluate", d, "--model", compact_ckpt, "--json", js], capsys)
    res = json.loads(js.read_text())
    assert code == 1 and res["files"] == 1 and "note" in out
    assert sorted(Path(f["audio"]).name for f in res["failed"]) == ["empty.wav", "folder.wav", "nan.wav",
                                                                   "noise.wav", "notmidi.wav", "pipe.wav"]
    assert "6 of 7 pairs could not be scored" in err


def test_evaluate_json_to_an_unwritable_place_is_refused_first(tmp_path, compact_ckpt, capsys):
    from par_studio.midi_io import write_midi
    from par_studio.notes import Notes

    d = tmp_path / "pairs"
    fuzzgen.good_wav(d / "good.wav")
    write_midi(Notes([0.05], [0.3], [60], [80]), d / "good.mid")
    (tmp_path / "f.txt").write_text("x")
    code, _, err = run(["evaluate", d, "--model", compact_ckpt, "--json", tmp_path / "f.txt" / "s.json"], capsys)
    assert code == 2 and "s.json" in err and "evaluating" not in err


def test_corrupted_autosave_keeps_only_valid_notes(tmp_path):
    pytest.importorskip("PySide6")
    from par_studio.gui.session import AutosaveStore
    from par_studio.midi_io import read_csv, write_csv
    from par_studio.notes import Notes

    store = AutosaveStore(tmp_path / "autosave")
    ident = {"path": "/x/a.wav", "size": 1, "mtime_ns": 2}
    store.save(ident, Notes([0.1, 0.5], [0.4, 0.9], [60, 64], [80, 90]))
    path = store.file_for(ident)
    doc = json.loads(path.read_text())
    doc["onset"] += [-1.0, 0.2, None, 0.3]
    doc["offset"] += [0.5, "NaN", 1.0, 0.2]
    doc["pitch"] += [60, 60, 60, 500]
    doc["velocity"] += [80, 80, 80, 80]
    doc["saved_at"] = "yesterday"
    path.write_text(json.dumps(doc))
    notes, got = store.load(ident)
    assert len(notes) == 2 and got["dropped"] == 4
    back = read_csv(write_csv(notes, tmp_path / "n.csv"))  # export is readable by our own import
    assert back.equals(notes, atol=1e-6)
    path.write_text("[1, 2")  # unreadable: nothing offered, nothing raised
    assert store.load(ident) is None


def test_import_drops_invalid_rows_and_counts_them(tmp_path):
    from par_studio.midi_io import import_notes

    p = tmp_path / "n.csv"
    p.write_text("onset_s,offset_s,pitch,velocity\n0.1,0.2,60,80\n0.5,0.3,61,80\nnan,1,60,80\n"
                 "0,1,500,3\nhello\n1,2,64,0\n")
    notes, dropped = import_notes(p)
    assert dropped == 4 and list(notes.pitch) == [60, 64] and list(notes.velocity) == [80, 1]


def test_stale_temp_files_of_our_pattern_are_cleaned_on_the_next_write(tmp_path):
    from par_studio.midi_io import STALE_TMP_SECONDS, atomic_write_bytes

    old = tmp_path / ".song.mid.ab12cd_9.tmp"
    fresh = tmp_path / ".other.mid.zz99yy00.tmp"
    foreign = tmp_path / ".cache.tmp"
    for p in (old, fresh, foreign):
        p.write_bytes(b"half a file")
    t = time.time() - STALE_TMP_SECONDS - 5
    os.utime(old, (t, t))
    os.utime(foreign, (t, t))
    atomic_write_bytes(tmp_path / "x.mid", b"data")
    assert not old.exists() and fresh.exists() and foreign.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, foreign.name, "x.mid"])


def test_autosave_of_a_file_whose_name_is_not_utf8(tmp_path):
    pytest.importorskip("PySide6")
    from par_studio.gui.session import AutosaveStore
    from par_studio.notes import Notes

    store = AutosaveStore(tmp_path / "autosave")
    ident = {"path": os.fsdecode(b"/x/caf\xe9.wav"), "size": 1, "mtime_ns": 2}
    notes = Notes([0.1], [0.4], [60], [80])
    store.save(ident, notes)
    back, _ = store.load(ident)
    assert back.equals(notes)


def test_live_output_that_fails_at_the_end_is_saved_to_the_user_data_folder(tmp_path, compact_ckpt, capsys,
                                                                             monkeypatch, data_home):
    import par_studio.midi_io as mio

    wav = fuzzgen.good_wav(tmp_path / "take.wav", seconds=1.0)
    real = mio.write_notes
    calls = []

    def flaky(notes, path, tempo=120.0):
        calls.append(Path(path))
        if len(calls) == 1:
            raise OSError(5, "Input/output error", str(path))
        return real(notes, path, tempo)

    monkeypatch.setattr(mio, "write_notes", flaky)
    out = tmp_path / "live.mid"
    code, _, err = run(["live", "--file", wav, "--no-realtime", "-o", out, "--model", compact_ckpt], capsys)
    saved = list(data_home.glob("*live.mid"))
    assert code == 1 and not out.exists() and len(saved) == 1
    assert str(saved[0]) in err and "Input/output error" in err and "written to " + str(saved[0]) in err


def test_uncaught_errors_go_to_the_log_with_one_line_on_stderr(tmp_path, monkeypatch, capsys):
    from par_studio import logfile

    monkeypatch.setenv("PAR_STUDIO_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr("sys.excepthook", sys.excepthook)
    logfile.install_excepthook()
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "RuntimeError: boom" in err
    assert "Traceback" in (tmp_path / "logs" / "par-studio.log").read_text()
