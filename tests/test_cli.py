"""The command line, in-process (par_studio.cli.main) and once as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from par_studio.audio.io import load_audio
from par_studio.cli import main
from par_studio.constants import SAMPLE_RATE
from par_studio.engine.offline import transcribe
from par_studio.midi_io import RESOLUTION, read_csv, read_midi
from par_studio.model.checkpoint import load_checkpoint

from conftest import piano_like

HALF_TICK = 60.0 / (120 * RESOLUTION) / 2


def _wav(path, seconds=0.8, seed=0):
    sf.write(path, piano_like(seconds, seed=seed), SAMPLE_RATE)
    return path


def _expected(path, ckpt):
    model, _ = load_checkpoint(ckpt)
    return transcribe(load_audio(path), model).notes


def test_transcribe_one_file_writes_the_transcribed_notes(tmp_path, compact_ckpt, capsys):
    wav = _wav(tmp_path / "x.wav")
    out = tmp_path / "x.mid"
    assert main(["transcribe", str(wav), "-o", str(out), "--model", str(compact_ckpt)]) == 0
    assert out.exists()
    expected = _expected(wav, compact_ckpt)
    assert len(expected) > 20  # the calibrated random model fires notes on this input
    assert read_midi(out).equals(expected, atol=HALF_TICK)
    io = capsys.readouterr()
    assert "x.wav" in io.out and "done: 1 transcribed, 0 failed" in io.err


def test_csv_and_default_output_next_to_input(tmp_path, compact_ckpt):
    wav = _wav(tmp_path / "y.wav")
    assert main(["transcribe", str(wav), "--csv", "-q", "--model", str(compact_ckpt)]) == 0
    mid, csv = tmp_path / "y.mid", tmp_path / "y.csv"
    assert mid.exists() and csv.exists()
    expected = _expected(wav, compact_ckpt)
    assert len(expected) > 20 and read_csv(csv).equals(expected, atol=1e-6)
    assert read_midi(mid).equals(expected, atol=HALF_TICK)


def test_folder_and_glob_inputs(tmp_path, compact_ckpt):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _wav(src / "a.wav", seed=1)
    _wav(src / "sub" / "b.wav", seed=2)
    (src / "readme.txt").write_text("not audio")
    out = tmp_path / "out"
    assert main(["transcribe", str(src), "-o", str(out), "-q", "--model", str(compact_ckpt)]) == 0
    # the input folder's structure is mirrored under -o
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mid")) == ["a.mid", "sub/b.mid"]
    out2 = tmp_path / "out2"
    assert main(["transcribe", str(src / "*.wav"), "-o", str(out2), "-q", "--model", str(compact_ckpt)]) == 0
    assert sorted(p.name for p in out2.iterdir()) == ["a.mid"]


def test_bad_file_among_good_ones(tmp_path, compact_ckpt, capsys):
    good1, good2 = _wav(tmp_path / "good1.wav", seed=3), _wav(tmp_path / "good2.wav", seed=4)
    bad = tmp_path / "bad.wav"
    bad.write_text("this is not audio")
    out = tmp_path / "out"
    rc = main(["transcribe", str(good1), str(bad), str(good2), "-o", str(out), "--model", str(compact_ckpt)])
    assert rc != 0
    err = capsys.readouterr().err.splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and "bad.wav" in errors[0]
    assert not any("Traceback" in line for line in err)
    assert "done: 2 transcribed, 1 failed" in err[-1]
    assert sorted(p.name for p in out.iterdir()) == ["good1.mid", "good2.mid"]


def test_missing_input_and_missing_model(tmp_path, compact_ckpt, capsys):
    wav = _wav(tmp_path / "z.wav")
    rc = main(["transcribe", str(wav), str(tmp_path / "nope.wav"), "-q", "--model", str(compact_ckpt)])
    assert rc == 1 and (tmp_path / "z.mid").exists()
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [f"error: {tmp_path / 'nope.wav'}: file not found"]
    assert main(["transcribe", str(wav), "--model", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pt" in err[0] and "Traceback" not in err[0]


def test_tempo_option(tmp_path, compact_ckpt):
    import pretty_midi

    wav = _wav(tmp_path / "t.wav")
    assert main(["transcribe", str(wav), "--tempo", "90", "-q", "--model", str(compact_ckpt)]) == 0
    _, tempi = pretty_midi.PrettyMIDI(str(tmp_path / "t.mid")).get_tempo_changes()
    assert tempi == pytest.approx([90.0], rel=1e-5)  # µs per beat are integers


def test_info_json(tiny_ckpts, capsys):
    for preset, path in tiny_ckpts.items():
        capsys.readouterr()
        assert main(["info", "--model", str(path), "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
        model, _ = load_checkpoint(path)
        assert d["parameters"] == model.n_parameters()
        assert d["latency_ms"] == 320 and d["preset"] == preset
        assert d["macs_per_frame"]["total"] == sum(v for k, v in d["macs_per_frame"].items() if k != "total") > 0
        assert d["metadata"]["training_data"].startswith("none")
        assert d["state_bias"] == list(model.cfg.state_bias) and len(d["state_bias"]) == 5
    assert main(["info", "--model", str(tiny_ckpts["par"])]) == 0
    text = capsys.readouterr().out
    assert "look-ahead:   320 ms" in text and "MACs/frame" in text and "onset bias +0" in text


def test_no_subcommand_without_gui_prints_help(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "par_studio.gui.app", None)  # GUI not importable
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: par-studio" in out and "transcribe" in out and "info" in out


def test_help_and_bad_latency(capsys):
    with pytest.raises(SystemExit) as e:
        main(["transcribe", "--help"])
    assert e.value.code == 0 and "--latency" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["transcribe", "x.wav", "--latency", "250"])
    assert e.value.code == 2


def test_console_script_subprocess(tmp_path, compact_ckpt):
    wav = _wav(tmp_path / "s.wav", seconds=0.5)
    exe = shutil.which("par-studio")
    cmd = [exe] if exe else [sys.executable, "-m", "par_studio.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd + ["transcribe", str(wav), "-o", str(tmp_path / "s.mid"), "--model", str(compact_ckpt),
                              "--threads", "1"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.mid").exists()
    assert read_midi(tmp_path / "s.mid").equals(_expected(wav, compact_ckpt), atol=HALF_TICK)


def test_info_says_when_a_model_is_fine_tuned(tmp_path, capsys):
    from par_studio.model.checkpoint import save_checkpoint

    from conftest import build_model

    plain = save_checkpoint(build_model("par-compact", 320), tmp_path / "plain.pt", metadata={"steps": 10})
    tuned = save_checkpoint(build_model("par-compact", 320), tmp_path / "tuned.pt",
                            metadata={"steps": 5, "initialised_from": "runs/base/last.pt"})
    assert main(["info", "--model", str(plain)]) == 0
    assert "fine-tuned" not in capsys.readouterr().out
    assert main(["info", "--model", str(tuned)]) == 0
    out = capsys.readouterr().out
    assert "fine-tuned:   from runs/base/last.pt" in out and "steps:" in out
    taught = save_checkpoint(build_model("par-compact", 192), tmp_path / "taught.pt",
                             metadata={"steps": 7, "initialised_from": "par-compact-320.pt",
                                       "teacher": "par-compact-320"})
    assert main(["info", "--model", str(taught)]) == 0
    out = capsys.readouterr().out
    assert "distilled:    from par-compact-320 (its decoder" in out and "fine-tuned" not in out


def test_plain_midi_output_puts_bar_one_on_the_estimated_downbeat(tmp_path, compact_ckpt, monkeypatch):
    """`transcribe X -o Y.mid` (no score options) of a performance that starts 2.37 s late:
    the file states the estimated tempo and time signature and has a bar line on the grid's
    first downbeat; a typed --tempo keeps 0 s as bar 1."""
    import pretty_midi

    from par_studio import transcribe_cli  # noqa: F401  (the command's module)
    from par_studio.engine import offline
    from par_studio.notes import Notes
    from par_studio.tempo import estimate_meter
    from test_score import bwv846

    played, _ = bwv846(70.0, bars=(1, 4))
    late = Notes(played.onset + 2.37, played.offset + 2.37, played.pitch, played.velocity)

    from par_studio.tuning import Tuning

    class Tr:
        notes = late
        duration = 25.0
        tuning = Tuning()

    monkeypatch.setattr(offline, "transcribe", lambda *a, **k: Tr())
    wav = _wav(tmp_path / "t.wav")
    assert main(["transcribe", str(wav), "-q", "--model", str(compact_ckpt), "-o", str(tmp_path / "y.mid")]) == 0
    meter = estimate_meter(late)
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "y.mid"))
    assert pm.get_tempo_changes()[1][-1] == pytest.approx(meter.quarter_bpm, rel=2e-3)
    assert f"{pm.time_signature_changes[-1].numerator}/{pm.time_signature_changes[-1].denominator}" == meter.time_signature
    assert np.abs(pm.get_downbeats() - meter.downbeat_s).min() < 0.005
    assert np.allclose(sorted(n.start for n in pm.instruments[0].notes), np.sort(late.onset), atol=2e-3)
    assert main(["transcribe", str(wav), "-q", "--model", str(compact_ckpt), "--tempo", "100",
                 "-o", str(tmp_path / "z.mid")]) == 0
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "z.mid"))
    assert pm.get_tempo_changes()[1].tolist() == [pytest.approx(100.0)] and pm.get_downbeats()[0] == 0.0


def test_every_subcommand_prints_its_help(capsys):
    """`par-studio CMD --help` works for every command (a '%' in a help text once made
    build-corpus --help raise inside argparse)."""
    from par_studio.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"transcribe", "build-corpus", "build-corpus-v2", "train", "evaluate"} <= set(sub.choices)
    for name in sub.choices:  # main() builds each command's real parser (its module imported)
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0, name
        assert "usage:" in capsys.readouterr().out
