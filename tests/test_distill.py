"""Look-ahead variants by feature distillation (par_studio/train/distill.py)."""

from __future__ import annotations

import pytest
import torch

from par_studio.model import PARModel, preset_config
from par_studio.model.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from par_studio.train.distill import feature_loss, main as distill_main, student_from

from test_train import _write_pair


def _teacher(tmp_path, latency=320):
    torch.manual_seed(0)
    t = PARModel(preset_config("par-compact", latency))
    t.set_state_bias((0.0, -0.5, -0.25, 0.0, -0.25))
    save_checkpoint(t, tmp_path / "teacher.pt")
    t.eval()
    return t, read_checkpoint(tmp_path / "teacher.pt")


def test_student_has_the_shorter_look_ahead_the_teachers_decoder_and_biases(tmp_path):
    teacher, blob = _teacher(tmp_path)
    student = student_from(blob, 224)
    assert student.latency_ms == 224 and teacher.latency_ms == 320
    s, t = student.state_dict(), teacher.state_dict()
    for k in t:
        if k.startswith("decoder."):
            assert torch.equal(s[k], t[k]), k
    assert torch.allclose(student.decoding_bias(), teacher.decoding_bias())
    with pytest.raises(ValueError, match="further ahead"):
        student_from(read_checkpoint(tmp_path / "teacher.pt") | {"config": student.cfg.to_dict()}, 320)


def test_feature_loss_is_zero_for_the_teacher_itself_and_positive_for_a_shorter_look_ahead(tmp_path):
    teacher, blob = _teacher(tmp_path)
    mel = torch.randn(1, teacher.cfg.n_mels, 40) * 0.3 - 1.0
    same = student_from(blob, 320).eval()
    assert feature_loss(same, teacher, mel).item() == pytest.approx(0.0, abs=1e-10)
    short = student_from(blob, 160).eval()
    assert feature_loss(short, teacher, mel).item() > 1e-8


def test_distillation_run_learns_the_teachers_features_keeps_its_decoder_and_resumes(tmp_path, capsys):
    teacher, _ = _teacher(tmp_path)
    corpus = tmp_path / "corpus"
    for i in range(2):
        _write_pair(corpus / "train", f"t{i}", seed=i)
    _write_pair(corpus / "validation", "v0", seed=9, seconds=3)
    out = tmp_path / "run"
    args = ["--teacher", str(tmp_path / "teacher.pt"), "--latency", "192", "--corpus", str(corpus),
            "--out", str(out), "--batch", "2", "--crop-frames", "24", "--log-every", "1", "--val-every", "2",
            "--val-seconds", "3", "--checkpoint-every", "1", "--keep-every", "0", "--threads", "2",
            "--lr", "3e-3", "--warmup", "1"]
    assert distill_main(args + ["--steps", "2"]) == 0
    student, meta = load_checkpoint(out / "last.pt")
    assert student.latency_ms == 192 and meta["steps"] == 2
    assert meta["teacher"] == "teacher" and meta["initialised_from"] == "teacher.pt"
    assert str(tmp_path) not in str({k: v for k, v in meta.items() if k != "path"})  # "path": where it was read
    # the decoder is the teacher's, untouched; the acoustic module moved
    s, t = student.state_dict(), teacher.state_dict()
    assert all(torch.equal(s[k], t[k]) for k in t if k.startswith("decoder."))
    start = student_from(read_checkpoint(tmp_path / "teacher.pt"), 192).state_dict()
    assert not torch.equal(s["acoustic.blocks.0.conv1.weight"], start["acoustic.blocks.0.conv1.weight"])
    assert "validation_note_f1" in load_checkpoint(out / "best.pt")[1]["metrics"]

    assert distill_main(args + ["--steps", "8"]) == 0
    assert "resumed from" in capsys.readouterr().out
    losses = [float(r.split(",")[1]) for r in (out / "train_log.csv").read_text().splitlines()[1:]]
    assert len(losses) == 8
    assert sum(losses[-3:]) < sum(losses[:3])  # it learns the teacher's features


def test_a_student_cannot_see_further_than_its_teacher(tmp_path):
    _teacher(tmp_path, latency=192)
    with pytest.raises(SystemExit, match="192 ms teacher cannot teach a 320 ms student"):
        distill_main(["--teacher", str(tmp_path / "teacher.pt"), "--latency", "320", "--corpus", str(tmp_path),
                      "--out", str(tmp_path / "run")])


def test_a_broken_teacher_is_one_clear_error_naming_the_file(tmp_path):
    bad = tmp_path / "teacher.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="teacher cannot be read.*teacher.pt"):
        distill_main(["--teacher", str(bad), "--latency", "160", "--corpus", str(tmp_path), "--out", str(tmp_path / "run")])
