"""Checkpoints: exact round trip, and every kind of bad file → CheckpointError naming the file."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from par_studio.engine.offline import transcribe
from par_studio.errors import CheckpointError
from par_studio.model.checkpoint import (
    available_latencies,
    load_checkpoint,
    resolve_model,
    save_checkpoint,
    shipped_path,
)

from conftest import build_model, lively_model, piano_like


def test_round_trip_gives_identical_outputs(tmp_path):
    model = lively_model("par", 192, seed=0)
    meta = {"training_data": "unit test", "steps": 12, "metrics": {"note_f1": 0.5}}
    path = save_checkpoint(model, tmp_path / "m.pt", metadata=meta)
    loaded, got = load_checkpoint(path)
    assert not loaded.training
    assert loaded.cfg == model.cfg and loaded.latency_ms == 192
    assert {k: got[k] for k in meta} == meta and got["path"] == str(path)
    sd0, sd1 = model.state_dict(), loaded.state_dict()
    assert sd0.keys() == sd1.keys() and all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    audio = piano_like(0.8)
    a, b = transcribe(audio, model), transcribe(audio, loaded)
    assert np.array_equal(a.states, b.states)
    assert np.array_equal(a.probabilities, b.probabilities) and np.array_equal(a.velocity, b.velocity)
    assert len(a.notes) > 10 and a.notes.equals(b.notes, atol=0)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left


@pytest.fixture(scope="module")
def good_blob(tiny_ckpts):
    return torch.load(tiny_ckpts["par"], map_location="cpu", weights_only=True)


def _bad_files(tmp_path, src, good_blob):
    data = src.read_bytes()
    files = {}
    p = tmp_path / "random-bytes.pt"
    p.write_bytes(np.random.RandomState(0).bytes(5000))
    files["corrupt"] = p
    p = tmp_path / "cut-in-half.pt"
    p.write_bytes(data[: len(data) // 2])
    files["truncated"] = p
    p = tmp_path / "cut-short.pt"
    p.write_bytes(data[:100])
    files["truncated-header"] = p
    p = tmp_path / "empty.pt"
    p.write_bytes(b"")
    files["empty"] = p
    p = tmp_path / "a-list.pt"
    torch.save([1, 2, 3], p)
    files["wrong-format-list"] = p
    p = tmp_path / "a-tensor.pt"
    torch.save(torch.zeros(3), p)
    files["wrong-format-tensor"] = p
    p = tmp_path / "bare-state-dict.pt"
    torch.save(build_model("par").state_dict(), p)
    files["wrong-format-state-dict"] = p
    p = tmp_path / "compact-weights-in-par.pt"
    torch.save({**good_blob, "state_dict": build_model("par-compact").state_dict()}, p)
    files["mismatched"] = p
    p = tmp_path / "other-latency-weights.pt"
    torch.save({**good_blob, "state_dict": build_model("par", 128).state_dict()}, p)
    files["mismatched-latency"] = p
    p = tmp_path / "missing-key.pt"
    sd = dict(good_blob["state_dict"])
    sd.pop(next(iter(sd)))
    torch.save({**good_blob, "state_dict": sd}, p)
    files["missing-weight"] = p
    p = tmp_path / "bad-config.pt"
    torch.save({**good_blob, "config": {**good_blob["config"], "conv_widths": [5] * 6}}, p)
    files["bad-config"] = p
    p = tmp_path / "unknown-field.pt"
    torch.save({**good_blob, "config": {**good_blob["config"], "warp": 9}}, p)
    files["unknown-config-field"] = p
    p = tmp_path / "future-version.pt"
    torch.save({**good_blob, "version": 99}, p)
    files["version"] = p
    p = tmp_path / "no-metadata.pt"
    torch.save({k: v for k, v in good_blob.items() if k != "metadata"}, p)
    files["no-metadata"] = p
    files["missing"] = tmp_path / "does-not-exist.pt"
    return files


def test_bad_files_raise_checkpoint_error_naming_the_file(tmp_path, tiny_ckpts, good_blob):
    files = _bad_files(tmp_path, tiny_ckpts["par"], good_blob)
    for kind, path in files.items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        msg = str(info.value)
        assert path.name in msg, (kind, msg)
        assert "\n" not in msg and "Traceback" not in msg, (kind, msg)


def test_bad_checkpoint_on_the_command_line_is_one_error_line(tmp_path, tiny_ckpts, good_blob, capsys):
    from par_studio.cli import main

    files = _bad_files(tmp_path, tiny_ckpts["par"], good_blob)
    for kind in ("corrupt", "truncated", "mismatched"):
        capsys.readouterr()
        assert main(["info", "--model", str(files[kind])]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and files[kind].name in err[0], (kind, err)


def test_resolve_model_presets_and_paths(tmp_path, tiny_ckpts):
    with pytest.raises(CheckpointError, match="No trained par model"):
        resolve_model("par", 320, models_dir=tmp_path)
    save_checkpoint(build_model("par-compact", 192), shipped_path("par-compact", 192, tmp_path))
    assert available_latencies("par-compact", tmp_path) == [192]
    model, meta = resolve_model("par-compact", 192, models_dir=tmp_path)
    assert model.cfg.preset == "par-compact" and model.latency_ms == 192
    with pytest.raises(CheckpointError, match="192 ms"):
        resolve_model("par-compact", 320, models_dir=tmp_path)  # lists the shipped latencies
    model, _ = resolve_model(str(tiny_ckpts["par"]))
    assert model.cfg.preset == "par" and model.latency_ms == 320
    with pytest.raises(CheckpointError, match="320 ms model"):
        resolve_model(str(tiny_ckpts["par"]), 160)


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = save_checkpoint(build_model("par-compact"), tmp_path / "m.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(build_model("par-compact", seed=3), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.pt"]


def test_state_bias_is_saved_and_steers_decoding(tmp_path):
    """The decoder's calibration bias travels in the checkpoint and changes what is decoded:
    a strongly negative onset bias suppresses notes that the unbiased model finds."""
    from par_studio.train.calibrate import onset_bias_vector

    model = lively_model("par-compact", 320, seed=0)
    audio = piano_like(0.8)
    plain = transcribe(audio, model)
    assert len(plain.notes) > 10
    model.set_state_bias(onset_bias_vector(-20.0))
    path = save_checkpoint(model, tmp_path / "biased.pt")
    loaded, _ = load_checkpoint(path)
    assert loaded.cfg.state_bias == (0.0, 0.0, -20.0, 0.0, -20.0)
    assert len(transcribe(audio, loaded).notes) == 0
    # checkpoints written before the field existed load with no bias
    blob = torch.load(path, weights_only=False)
    del blob["config"]["state_bias"]
    torch.save(blob, tmp_path / "old.pt")
    old, _ = load_checkpoint(tmp_path / "old.pt")
    assert old.cfg.state_bias == (0.0,) * 5
    assert transcribe(audio, old).notes.equals(plain.notes, atol=0)


def test_note_end_shift_is_saved_and_checked(tmp_path):
    from par_studio.model.config import ModelConfig

    model = lively_model("par-compact", 320, seed=0)
    model.set_offset_shift(0.016)
    loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / "shifted.pt"))
    assert loaded.cfg.offset_shift_s == 0.016
    blob = torch.load(tmp_path / "shifted.pt", weights_only=False)
    del blob["config"]["offset_shift_s"]  # written before the field existed
    torch.save(blob, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[0].cfg.offset_shift_s == 0.0
    for bad in (-0.01, 0.032, 0.5):  # a shift of a whole frame or more would be a label change
        with pytest.raises(ValueError, match="offset_shift_s"):
            ModelConfig(offset_shift_s=bad)
