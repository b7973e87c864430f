"""Training pipeline: dataset crops, MAESTRO layout, latency adaptation, a tiny resumable run,
the evaluator's metrics."""

from __future__ import annotations

import json

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

from par_studio.constants import FRAME_SECONDS, HOP_LENGTH, SAMPLE_RATE
from par_studio.model import PARModel, preset_config
from par_studio.model.checkpoint import load_checkpoint
from par_studio.notes import Notes, encode, notes_from_midi
from par_studio.train.dataset import CropDataset, Pair, dir_pairs, maestro_pairs
from par_studio.train.evaluate import band_metrics, note_metrics
from par_studio.train.trainer import adapt_state_dict, learning_rate, main as train_main


def _write_pair(folder, stem, seed=0, seconds=6.0, sr=SAMPLE_RATE):
    """A MIDI file and a matching audio file of decaying sines (one per note)."""
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    t = np.arange(int(seconds * sr)) / sr
    audio = np.zeros_like(t)
    for k in range(10):
        on = float(rng.uniform(0, seconds - 1.5))
        dur = float(rng.uniform(0.2, 1.0))
        pitch = int(rng.integers(40, 90))
        inst.notes.append(pretty_midi.Note(int(rng.integers(30, 120)), pitch, on, on + dur))
        f = 440 * 2 ** ((pitch - 69) / 12)
        m = (t >= on) & (t < on + dur)
        audio[m] += 0.1 * np.sin(2 * np.pi * f * t[m]) * np.exp(-3 * (t[m] - on))
    pm.instruments.append(inst)
    folder.mkdir(parents=True, exist_ok=True)
    pm.write(str(folder / f"{stem}.mid"))
    sf.write(folder / f"{stem}.flac", audio.astype(np.float32), sr)
    return Pair(folder / f"{stem}.flac", folder / f"{stem}.mid")


def test_crop_labels_match_encoded_file(tmp_path):
    pair = _write_pair(tmp_path, "a", seed=1)
    ds = CropDataset([pair], crop_frames=32, seed=0)
    item = ds.items[0]
    full = encode(notes_from_midi(pair.midi), item.T)
    for f0 in (0, 7, 50):
        c = ds.crop_at(item, f0)
        np.testing.assert_array_equal(c["state"], full.state[f0:f0 + 32])
        np.testing.assert_array_equal(c["prev_state"], full.prev_state[f0:f0 + 32])
        np.testing.assert_allclose(c["prev_time"], full.prev_time[f0:f0 + 32], atol=1e-6)
        np.testing.assert_allclose(c["prev_velocity"], full.prev_velocity[f0:f0 + 32], atol=1e-2)
        # frames are the windows the offline front end uses
        audio = sf.read(pair.audio, dtype="float32")[0]
        model = PARModel(preset_config("par-compact"))
        a = model.frontend.from_audio(torch.from_numpy(audio)[None], f0, 32)
        b = model.frontend(torch.from_numpy(c["frames"])[None])
        torch.testing.assert_close(a, b)


def test_resampled_audio_is_read_at_16k(tmp_path):
    pair = _write_pair(tmp_path, "b", seed=2, sr=44100)
    ds = CropDataset([pair], crop_frames=16, seed=0)
    assert abs(ds.items[0].n_samples - 6.0 * SAMPLE_RATE) < HOP_LENGTH
    assert ds.batch(2)["frames"].shape == (2, 16, 4096)


def test_maestro_layout(tmp_path):
    root = tmp_path / "maestro-v3.0.0"
    for i, split in enumerate(["train", "train", "validation", "test"]):
        _write_pair(root / "2018", f"p{i}", seed=i, seconds=3)
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"]
    for i, split in enumerate(["train", "train", "validation", "test"]):
        rows.append(f"X,Y,{split},2018,2018/p{i}.mid,2018/p{i}.flac,3.0")
    (root / "maestro-v3.0.0.csv").write_text("\n".join(rows) + "\n")
    assert [p.audio.name for p in maestro_pairs(root, "train")] == ["p0.flac", "p1.flac"]
    assert [p.midi.name for p in maestro_pairs(root, "test")] == ["p3.mid"]
    assert len(dir_pairs(root)) == 4
    with pytest.raises(FileNotFoundError):
        maestro_pairs(tmp_path, "train")


def _adapted_features(src: PARModel, latency: int, mel: torch.Tensor):
    """(src's state features, those of a ``latency`` ms PARcompact adapted from src, the
    adapted model) for log-mel ``mel`` (1, 229, T)."""
    dst = PARModel(preset_config("par-compact", latency)).eval()
    dst.load_state_dict(adapt_state_dict(src.state_dict(), dst))
    with torch.no_grad():
        return src.acoustic(mel)[0], dst.acoustic(mel)[0], dst


def test_latency_adaptation_sums_columns_when_narrowing():
    torch.manual_seed(0)
    src = PARModel(preset_config("par-compact", 320)).eval()
    # an input steady in time: each width-3 conv sees three equal columns, so the summed
    # width-1 kernel gives the same output away from the edges (zero padding)
    a, b, dst = _adapted_features(src, 128, torch.randn(1, 229, 1).repeat(1, 1, 40))
    assert a.shape == b.shape == (1, 40, 88, a.shape[-1])  # (B, T frames, keys, H)
    torch.testing.assert_close(a[:, 8:-8], b[:, 8:-8], atol=1e-4, rtol=1e-4)
    assert dst.latency_ms == 128


def test_latency_adaptation_to_a_causal_kernel_keeps_the_past_column():
    torch.manual_seed(0)
    src = PARModel(preset_config("par-compact", 160)).eval()  # first conv (3 bins × 3 frames)
    dst = PARModel(preset_config("par-compact", 128)).eval()  # first conv (3 bins × 2 frames)
    dst.load_state_dict(adapt_state_dict(src.state_dict(), dst))
    w_src, w_dst = src.acoustic.blocks[0].conv1.weight, dst.acoustic.blocks[0].conv1.weight
    assert w_dst.shape[-1] == 2 and dst.latency_ms == 128
    torch.testing.assert_close(w_dst[..., 0], w_src[..., 0])  # the previous frame's column
    torch.testing.assert_close(w_dst[..., 1], w_src[..., 1] + w_src[..., 2])  # present + future
    # so on an input steady in time both give the same features away from the edges
    a, b, _ = _adapted_features(src, 128, torch.randn(1, 229, 1).repeat(1, 1, 40))
    torch.testing.assert_close(a[:, 4:-4], b[:, 4:-4], atol=1e-4, rtol=1e-4)


def test_latency_adaptation_widening_keeps_the_model():
    torch.manual_seed(0)
    src = PARModel(preset_config("par-compact", 192)).eval()
    a, b, dst = _adapted_features(src, 224, torch.randn(1, 229, 40))  # any input: the new column is 0
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert dst.latency_ms == 224


def test_latency_adaptation_with_zero_side_columns_keeps_the_model():
    torch.manual_seed(0)
    src = PARModel(preset_config("par-compact", 320)).eval()
    with torch.no_grad():  # make the 320 ms model's side columns zero: then both must agree
        for name, p in src.named_parameters():
            if p.dim() == 4 and p.shape[-1] == 3:
                p[..., 0] = 0
                p[..., 2] = 0
    a, b, dst = _adapted_features(src, 128, torch.randn(1, 229, 40))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert dst.latency_ms == 128


def test_learning_rate_warms_up_decays_then_cools_down_linearly():
    g = 0.9 ** (1 / 1000)
    assert learning_rate(0, 1e-3, 100, g) == pytest.approx(1e-5)
    assert learning_rate(1000, 1e-3, 100, g) == pytest.approx(0.9e-3, rel=1e-3)
    at_start = learning_rate(5000, 1e-3, 100, g, cooldown_start=5000, cooldown_steps=1000)
    assert at_start == pytest.approx(learning_rate(5000, 1e-3, 100, g))
    half = learning_rate(5500, 1e-3, 100, g, cooldown_start=5000, cooldown_steps=1000, cooldown_to=0.1)
    assert half == pytest.approx(at_start * 0.55)  # no further exponential decay during the ramp
    for step in (6000, 9000):
        assert learning_rate(step, 1e-3, 100, g, cooldown_start=5000, cooldown_steps=1000,
                             cooldown_to=0.1) == pytest.approx(at_start * 0.1)


def test_averaging_checkpoints_gives_the_mean_weights(tmp_path):
    from par_studio.model.checkpoint import save_checkpoint
    from par_studio.train.average import main as average_main

    a, b = PARModel(preset_config("par-compact", 320)), PARModel(preset_config("par-compact", 320))
    pa = save_checkpoint(a, tmp_path / "a.pt", {"steps": 1})
    pb = save_checkpoint(b, tmp_path / "b.pt", {"steps": 2})
    assert average_main([str(pa), str(pb), "-o", str(tmp_path / "avg.pt")]) == 0
    avg, meta = load_checkpoint(tmp_path / "avg.pt")
    for k, v in avg.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, (a.state_dict()[k] + b.state_dict()[k]) / 2, atol=1e-6)
    assert meta["steps"] == 2 and [x["steps"] for x in meta["averaged_from"]] == [1, 2]
    other = save_checkpoint(PARModel(preset_config("par", 320)), tmp_path / "p.pt", {})
    assert average_main([str(pa), str(other), "-o", str(tmp_path / "bad.pt")]) == 1
    assert not (tmp_path / "bad.pt").exists()


def test_tiny_training_run_resumes(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    for i in range(2):
        _write_pair(corpus / "train", f"t{i}", seed=i)
    _write_pair(corpus / "validation", "v0", seed=9, seconds=3)
    out = tmp_path / "run"
    args = ["--corpus", str(corpus), "--preset", "par-compact", "--out", str(out), "--batch", "2",
            "--crop-frames", "24", "--log-every", "1", "--val-every", "2", "--val-seconds", "3",
            "--checkpoint-every", "1", "--threads", "2"]
    assert train_main(args + ["--steps", "2", "--keep-every", "1"]) == 0
    first = load_checkpoint(out / "last.pt")[1]
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["step_1.pt", "step_2.pt"]
    assert first["steps"] == 2
    assert train_main(args + ["--steps", "3", "--self-condition", "0.5", "--latch", "0.5"]) == 0
    log = capsys.readouterr().out
    assert "resumed from" in log and "at step 2" in log
    model, meta = load_checkpoint(out / "last.pt")
    assert meta["steps"] == 3 and meta["cpu_seconds"] > first["cpu_seconds"]
    assert first["self_condition"] == 0.0 and meta["self_condition"] == 0.5
    assert "latch" not in first and meta["latch"] == {"p": 0.5, "max_frames": 62}
    best, bmeta = load_checkpoint(out / "best.pt")
    assert "validation_note_f1" in bmeta["metrics"]
    lines = (out / "train_log.csv").read_text().strip().splitlines()
    assert lines[0].startswith("step,loss") and len(lines) == 4
    # the loss must be finite and the weights must have moved
    fresh = PARModel(preset_config("par-compact"))
    assert not torch.equal(model.state_dict()["decoder.state_head.weight"],
                           fresh.state_dict()["decoder.state_head.weight"])


def test_metrics_perfect_and_shifted():
    ref = Notes([0.0, 1.0, 2.0], [0.5, 1.5, 3.0], [30, 60, 100], [40, 80, 100])
    m = note_metrics(ref, ref)
    for k in ("note", "note_offset", "note_offset_velocity", "frame"):
        assert m[k]["f1"] == pytest.approx(1.0)
    late = Notes(ref.onset + 0.06, ref.offset + 0.06, ref.pitch, ref.velocity)
    assert note_metrics(ref, late)["note"]["f1"] == 0.0
    early_off = Notes(ref.onset, ref.onset + 0.1, ref.pitch, ref.velocity)
    m = note_metrics(ref, early_off)
    assert m["note"]["f1"] == 1.0 and m["note_offset"]["f1"] == 0.0
    bands = band_metrics(ref, ref.take(np.array([True, True, False])))
    assert bands["21-43"]["note"]["f1"] == 1.0 and bands["88-108"]["note"]["recall"] == 0.0


def test_evaluate_command_writes_json(tmp_path, capsys):
    from par_studio.cli import main
    from par_studio.model.checkpoint import save_checkpoint

    _write_pair(tmp_path / "eval", "e0", seed=3, seconds=3)
    ckpt = save_checkpoint(PARModel(preset_config("par-compact", 192)), tmp_path / "m.pt")
    out = tmp_path / "res.json"
    assert main(["evaluate", str(tmp_path / "eval"), "--model", str(ckpt), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["files"] == 1 and res["model"]["latency_ms"] == 192
    assert set(res["overall"]) == {"note", "note_offset", "note_offset_velocity", "frame"}
    assert "note+offset" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "nothing"), "--model", str(ckpt)]) == 1


def test_ship_writes_model_eval_and_card(tmp_path):
    from par_studio.model.checkpoint import save_checkpoint
    from par_studio.train.ship import main as ship_main

    _write_pair(tmp_path / "test", "x0", seed=4, seconds=3)
    run = tmp_path / "run"
    ckpt = save_checkpoint(PARModel(preset_config("par-compact", 320)), run / "best.pt", {"steps": 7})
    (run / "val_log.csv").write_text("step,note_f1,note_offset_f1,note_offset_velocity_f1,cpu_hours\n"
                                     "5,0.5000,0.2500,0.1000,0.010\n")
    models = tmp_path / "models"
    models.mkdir()
    (models / "MODEL_CARD.md").write_text("# card\n<!-- figures -->\nold\n<!-- /figures -->\ntail\n")
    assert ship_main([str(ckpt), "--name", "par-compact-320", "--test-dir", str(tmp_path / "test"),
                      "--models-dir", str(models)]) == 0
    model, meta = load_checkpoint(models / "par-compact-320.pt")
    assert meta["steps"] == 7 and "test_note_f1" in meta["metrics"]
    res = json.loads((models / "par-compact-320.eval.json").read_text())
    assert res["files"] == 1 and res["learning_curve"][0]["step"] == 5
    card = (models / "MODEL_CARD.md").read_text()
    assert "old" not in card and "| par-compact | 320 ms | 447,140 | 7 |" in card
    assert "5: 0.50/0.25" in card and card.endswith("tail\n")


def test_ship_rescoring_a_shipped_model_keeps_its_calibration_and_curve(tmp_path):
    """Re-scoring shipped weights in place (e.g. after an inference change) keeps the history
    only their training could record; a new checkpoint shipped under that name does not."""
    from par_studio.model.checkpoint import save_checkpoint
    from par_studio.train.ship import main as ship_main

    _write_pair(tmp_path / "test", "x0", seed=4, seconds=3)
    models = tmp_path / "models"
    shipped = save_checkpoint(PARModel(preset_config("par-compact", 320)), models / "m.pt", {"steps": 7})
    old = {"files": 1, "model": {"source": "runs/x/best.pt"},
           "calibration": {"tune_dir": "val", "state_bias": [0, 0, -0.5, 0, -0.5]},
           "learning_curve": [{"step": 5, "note_f1": 0.5, "note_offset_f1": 0.25, "cpu_hours": 0.01}]}
    (models / "m.eval.json").write_text(json.dumps(old))
    assert ship_main([str(shipped), "--name", "m", "--test-dir", str(tmp_path / "test"),
                      "--models-dir", str(models)]) == 0
    res = json.loads((models / "m.eval.json").read_text())
    assert res["calibration"] == old["calibration"] and res["learning_curve"] == old["learning_curve"]
    assert res["model"]["source"] == "runs/x/best.pt"
    assert "tuning_cents" not in json.dumps(res)  # per-file rows stay out of the shipped JSON
    other = save_checkpoint(PARModel(preset_config("par-compact", 320)), tmp_path / "new" / "c.pt", {"steps": 9})
    assert ship_main([str(other), "--name", "m", "--test-dir", str(tmp_path / "test"),
                      "--models-dir", str(models)]) == 0
    res = json.loads((models / "m.eval.json").read_text())
    assert "calibration" not in res and "learning_curve" not in res
    assert res["model"]["source"] == "new/c.pt"


def test_ship_tunes_the_onset_bias_and_picks_the_best_checkpoint_on_validation(tmp_path):
    from conftest import lively_model
    from par_studio.model.checkpoint import save_checkpoint
    from par_studio.train.ship import main as ship_main

    _write_pair(tmp_path / "val", "v0", seed=5, seconds=3)
    _write_pair(tmp_path / "test", "t0", seed=6, seconds=3)
    cks = [save_checkpoint(lively_model("par-compact", 320, seed=s), tmp_path / "run" / f"c{s}.pt", {"steps": s})
           for s in (0, 1)]
    models = tmp_path / "models"
    models.mkdir()
    assert ship_main([str(c) for c in cks] + ["--name", "m", "--test-dir", str(tmp_path / "test"),
                      "--tune-dir", str(tmp_path / "val"), "--bias-grid", "0,-30", "--bias-refine", "10",
                      "--offset-grid", "0,-3", "--offset-refine", "0", "--shift-grid", "0,0.016",
                      "--models-dir", str(models)]) == 0
    res = json.loads((models / "m.eval.json").read_text())
    cal = res["calibration"]
    # candidates are named by their last two path parts: no machine path in shipped files
    assert [c["checkpoint"] for c in cal["candidates"]] == [f"run/c{s}.pt" for s in (0, 1)]
    assert str(tmp_path) not in json.dumps(res["calibration"]) + json.dumps(res["model"])
    winner = max(cal["candidates"], key=lambda c: c["best_score"])  # first of equals
    assert cal["chosen"] == winner["checkpoint"] == res["model"]["source"]
    tried = [r["bias"] for r in cal["sweep"]]
    assert tried[:2] == [0.0, -30.0] and set(tried[2:4]) <= {10.0, -10.0, -20.0, -40.0}
    onset = max(cal["sweep"][:4], key=lambda r: r["score"])["bias"]
    assert [(r["bias"], r["offset_bias"]) for r in cal["sweep"][4:5]] == [(onset, -3.0)]
    best_row = max(cal["sweep"][:5], key=lambda r: r["score"])
    best, off = best_row["bias"], best_row["offset_bias"]
    shifts = cal["sweep"][5:]  # then the note-end shifts, at the chosen bias
    assert [(r["bias"], r["offset_bias"], r["offset_shift_s"]) for r in shifts] == [(best, off, 0.0), (best, off, 0.016)]
    shift = max(shifts, key=lambda r: r["score"])["offset_shift_s"]
    model, meta = load_checkpoint(models / "m.pt")
    assert meta["steps"] == winner["steps"]
    assert model.cfg.state_bias == (0.0, off, best, 0.0, best) == tuple(res["model"]["state_bias"])
    assert model.cfg.offset_shift_s == shift == res["model"]["offset_shift_s"] == cal["offset_shift_s"]
    with pytest.raises(SystemExit):  # several checkpoints but nothing to choose with
        ship_main([str(c) for c in cks] + ["--name", "m", "--test-dir", str(tmp_path / "test"),
                                           "--models-dir", str(models)])


def test_diagnosis_classifies_false_notes_and_counts_states(tmp_path, capsys):
    from conftest import lively_model
    from par_studio.model.checkpoint import save_checkpoint
    from par_studio.train.diagnose import false_note_kinds, main as diagnose_main, recall_by_kind, state_confusion

    ref = Notes([0.0, 1.0], [0.9, 2.0], [60, 48], [80, 80])
    est = Notes([0.01, 0.5, 1.02, 1.5, 1.0], [0.4, 0.9, 1.4, 2.0, 1.3], [60, 60, 60, 70, 48], [80] * 5)
    # matched C4 and C3; a re-strike inside the C4; C4 at 1.02 is 12 above the C3 starting
    # 20 ms before (harmonic); a B♭4 out of nowhere
    assert false_note_kinds(ref, est) == {"matched": 2, "split_or_restrike": 1, "harmonic": 1, "other": 1}
    # C4 struck again at 0.9 s as the first ends (a re-strike), found; a fresh G4, missed
    ref2 = Notes([0.0, 0.9, 1.0], [0.9, 1.5, 1.4], [60, 60, 67], [80] * 3)
    est2 = Notes([0.0, 0.92], [0.9, 1.5], [60, 60], [80] * 2)
    assert recall_by_kind(ref2, est2) == {"restrike": [1, 1], "fresh": [2, 1]}
    conf = state_confusion(np.array([[0, 2], [3, 1]]), np.array([[0, 2], [4, 0]]))
    assert conf.sum() == 4 and conf[0, 0] == conf[2, 2] == conf[3, 4] == conf[1, 0] == 1

    _write_pair(tmp_path / "d", "d0", seed=7, seconds=3)
    ckpt = save_checkpoint(lively_model("par-compact", 320, seed=0), tmp_path / "m.pt")
    out = tmp_path / "diag.json"
    assert diagnose_main([str(ckpt), str(tmp_path / "d"), "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["files"] == 1 and d["reference_notes"] == 10
    from par_studio.features import n_frames

    assert np.array(d["state_confusion"]["counts"]).sum() == n_frames(3 * SAMPLE_RATE) * 88
    assert d["estimated_notes"] == d["false_notes"]["other"] + d["false_notes"]["harmonic"] + \
        d["false_notes"]["split_or_restrike"] + round(d["note_precision"] * d["estimated_notes"])
    rk = d["reference_by_kind"]
    assert rk["restrike"]["notes"] + rk["fresh"]["notes"] == 10
    assert rk["restrike"]["found"] + rk["fresh"]["found"] == round(d["note_recall"] * 10)
    out_text = capsys.readouterr().out
    assert "teacher-forced hit" in out_text and "re-strikes" in out_text
    assert diagnose_main([str(ckpt), str(tmp_path / "empty")]) == 1


def test_bias_sweep_refines_onset_then_offset_around_the_best_grid_point():
    """The sweep scores each bias (here with a stand-in peaked at onset −0.6, offset −0.7),
    tries the best grid point ± refine, then sweeps the offset bias at the chosen onset bias,
    and leaves the best bias on the model."""
    from conftest import build_model
    from par_studio.train import calibrate

    model = build_model("par-compact", 320)

    def fake_eval():
        on, off = model.cfg.state_bias[2], model.cfg.state_bias[1]
        f = 0.9 - (on + 0.6) ** 2 - (off + 0.7) ** 2
        return {"overall": {"note": {"f1": f}, "note_offset": {"f1": f / 2}}}

    bias, rows = calibrate.tune_onset_bias(model, [], refine=0.125, offset_grid=(0.0, -0.5, -1.0),
                                           offset_refine=0.25, evaluate=fake_eval)
    assert [r["bias"] for r in rows[:6]] == [0.0, -0.25, -0.5, -0.75, -0.625, -0.375]
    assert [(r["bias"], r["offset_bias"]) for r in rows[6:]] == [(-0.625, -0.5), (-0.625, -1.0), (-0.625, -0.75),
                                                                  (-0.625, -0.25)]
    assert bias == (0.0, -0.75, -0.625, 0.0, -0.625) == model.cfg.state_bias


def test_offset_shift_sweep_keeps_the_best_shift_on_the_model():
    from conftest import build_model
    from par_studio.train import calibrate

    model = build_model("par-compact", 320)
    model.set_state_bias((0.0, -0.5, -0.25, 0.0, -0.25))

    def fake_eval():
        f = 0.7 - abs(model.cfg.offset_shift_s - 0.016)
        return {"overall": {"note": {"f1": 0.9}, "note_offset": {"f1": f}}}

    shift, rows = calibrate.tune_offset_shift(model, fake_eval, (0.024, 0.0, 0.016, 0.008))
    assert [r["offset_shift_s"] for r in rows] == [0.0, 0.008, 0.016, 0.024]
    assert shift == 0.016 == model.cfg.offset_shift_s
    assert all((r["bias"], r["offset_bias"]) == (-0.25, -0.5) for r in rows)
    model.set_offset_shift(0.0)
    assert calibrate.tune_offset_shift(model, lambda: {"overall": {"note": {"f1": 0.9}, "note_offset": {"f1": 0.5}}},
                                       (0.0, 0.016))[0] == 0.0  # a tie keeps the note ends as they are


def test_validation_set_decodes_like_the_full_evaluator(tmp_path):
    """Calibration reuses acoustic features; its scores must equal a full evaluation's."""
    from conftest import lively_model
    from par_studio.train.calibrate import ValidationSet
    from par_studio.train.evaluate import evaluate_pairs

    _write_pair(tmp_path / "val", "v0", seed=5, seconds=3)
    pairs = dir_pairs(tmp_path / "val")
    model = lively_model("par-compact", 320, seed=1)
    vs = ValidationSet(pairs, model)
    for b in (0.0, 2.0):
        model.set_state_bias((0.0, -b, b, 0.0, b))
        full, fast = evaluate_pairs(pairs, model)["overall"], vs.evaluate()["overall"]
        for k in ("note", "note_offset", "note_offset_velocity"):
            assert fast[k] == pytest.approx(full[k])


def test_figures_table_marks_fine_tuned_models(tmp_path):
    """The card's table says when steps and CPU hours are those of a fine-tuning only."""
    import json

    from par_studio.train.ship import figures_table

    def result(init):
        f1 = {"f1": 0.5}
        return {"model": {"preset": "par-compact", "latency_ms": 320, "parameters": 447140, "steps": 5000,
                          "cpu_hours": 1.5, "initialised_from": init},
                "overall": {k: f1 for k in ("note", "note_offset", "note_offset_velocity", "frame")},
                "bands": {}, "real_time_factor": 0.04, "files": 30}

    (tmp_path / "a-320.eval.json").write_text(json.dumps(result(None)))
    table = figures_table(tmp_path)
    assert "| 5000 |" in table and "¹" not in table
    (tmp_path / "b-192.eval.json").write_text(json.dumps(result("runs/x/last.pt")))
    table = figures_table(tmp_path)
    assert "| 5000 ¹ |" in table and "| 5000 |" in table
    assert "¹ fine-tuned or distilled from another checkpoint" in table


def test_figures_table_lookahead_rows(tmp_path):
    """The look-ahead table has a row per look-ahead and shows a model's held-out scores in its
    preset's column, "–" where no weights are shipped."""
    import json

    from par_studio.train.ship import lookahead_table

    def f1(x):
        return {"overall": {"note": {"f1": x}, "note_offset": {"f1": x / 2}}}

    r = {"model": {"preset": "par-compact", "latency_ms": 160}, "test_name": "freepats",
         "overall": f1(0.8)["overall"], "heldout": {"splendid": f1(0.7)}}
    (tmp_path / "par-compact-160.eval.json").write_text(json.dumps(r))
    lines = lookahead_table(tmp_path)
    row = {l.split(" | ")[0]: l for l in lines if l.startswith("| 1") or l.startswith("| 2") or l.startswith("| 3")}
    assert set(row) == {"| 128 ms", "| 160 ms", "| 192 ms", "| 224 ms", "| 320 ms"}
    assert row["| 160 ms"] == "| 160 ms | 0.700 / 0.350 | 0.800 / 0.400 | – | – |"
    assert row["| 320 ms"].count("–") == 4


def test_lookahead_chart_stores_the_points_it_draws(tmp_path):
    """The chart draws each shipped model's held-out note / note+offset F1 at its look-ahead,
    leaves out look-aheads without weights, and its SVG carries those points for checking;
    update_card redraws it."""
    import json

    from par_studio.train.card_chart import CHART, chart_data, read_chart_data
    from par_studio.train.ship import END, START, update_card

    def f1(x):
        return {"overall": {k: {"f1": x / d} for k, d in (("note", 1), ("note_offset", 2),
                                                          ("note_offset_velocity", 3), ("frame", 1))},
                "bands": {}}

    for ms, x in ((160, 0.8), (320, 0.9)):
        r = {"model": {"preset": "par-compact", "latency_ms": ms, "steps": 10, "parameters": 1, "cpu_hours": 0.1},
             "test_name": "freepats", "files": 12, "real_time_factor": 0.05, **f1(x),
             "heldout": {"splendid": f1(x - 0.1)}}
        (tmp_path / f"par-compact-{ms}.eval.json").write_text(json.dumps(r))
    data = chart_data(tmp_path)
    assert data["par-compact"]["splendid"]["note"] == [[160, 0.7], [320, 0.8]]
    assert data["par-compact"]["freepats"]["note_offset"] == [[160, 0.4], [320, 0.45]]
    assert data["par"]["splendid"]["note"] == []
    (tmp_path / "MODEL_CARD.md").write_text(f"x\n{START}\n{END}\n")
    update_card(tmp_path)
    svg = (tmp_path / CHART).read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert read_chart_data(tmp_path / CHART) == data


def _one_key_labels(T: int = 24):
    """(1, T, 88) labels of key 0: a note on frames 2-5 (offset at 6), the next at 15-17
    (offset at 18); the reference context is the labels shifted by one frame."""
    state = torch.zeros(1, T, 88, dtype=torch.long)
    state[0, 2, 0], state[0, 3:6, 0], state[0, 6, 0] = 2, 3, 1
    state[0, 15, 0], state[0, 16:18, 0], state[0, 18, 0] = 2, 3, 1
    prev_state = torch.zeros_like(state)
    prev_state[:, 1:] = state[:, :-1]
    prev_time = torch.zeros(1, T, 88)
    prev_vel = torch.zeros(1, T, 88)
    for t, k in zip(range(3, 7), range(1, 5)):
        prev_time[0, t, 0], prev_vel[0, t, 0] = k / 313, 0.5
    return state, prev_state, prev_time, prev_vel


def test_latched_context_sustains_after_a_note_end_until_the_next_note():
    from par_studio.train.perturb import latch_note_ends
    state, ps, pt, pv = _one_key_labels()
    g = torch.Generator().manual_seed(0)
    s, t, v = latch_note_ends(ps, pt, pv, state, generator=g, p=1.0, max_frames=100)
    # the first note's end (context frame 7 would say offset) latches until its label turns
    # onset at frame 15; time since onset keeps counting from the note's last frame (4 at 6)
    assert s[0, :, 0].tolist()[:16] == [0, 0, 0, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0]
    assert (t[0, 7:15, 0] * 313).round().tolist() == list(range(5, 13))
    assert torch.allclose(v[0, 7:15, 0], torch.full((8,), 0.5))
    assert s[0, 19, 0] == 3 and s[0, 20:, 0].eq(3).all()  # the second note's end, to crop end
    # other keys and the labels themselves are untouched; the inputs are not modified
    assert torch.equal(s[..., 1:], ps[..., 1:]) and ps[0, 7, 0] == 1
    # p = 0 changes nothing; a latch of at most 3 frames ends after 3 frames
    s0, t0, v0 = latch_note_ends(ps, pt, pv, state, generator=g, p=0.0)
    assert torch.equal(s0, ps) and torch.equal(t0, pt) and torch.equal(v0, pv)
    s3, _, _ = latch_note_ends(ps, pt, pv, state, generator=g, p=1.0, max_frames=3)
    latched = (s3[0, 7:15, 0] == 3).sum().item()
    assert 1 <= latched <= 3 and s3[0, 7 + latched:15, 0].eq(0).all()


def test_fine_tune_validates_with_the_start_weights_decoder_calibration():
    from par_studio.train.trainer import inherit_decoder_calibration

    m = PARModel(preset_config("par-compact", 320))
    assert tuple(m.cfg.state_bias) == (0.0,) * 5
    inherit_decoder_calibration(m, {"config": {"state_bias": [0.0, -0.75, -0.5, 0.0, -0.5],
                                               "offset_shift_s": 0.016}})
    assert tuple(m.cfg.state_bias) == (0.0, -0.75, -0.5, 0.0, -0.5) and m.cfg.offset_shift_s == 0.016
    inherit_decoder_calibration(m, {"config": {}})  # an old checkpoint without them: unchanged
    assert m.cfg.offset_shift_s == 0.016


def test_format_report_counts_files_in_words():
    from par_studio.train.evaluate import format_report

    m = {"precision": 1.0, "recall": 0.5, "f1": 2 / 3}
    res = {"files": 1, "audio_seconds": 30.0, "real_time_factor": 0.1, "bands": {},
           "overall": {k: m for k in ("note", "note_offset", "note_offset_velocity", "frame")}}
    assert format_report(res).startswith("1 file, 30 s of audio")
    res["files"] = 3
    assert format_report(res).startswith("3 files, 30 s of audio")


def test_verifier_rescore_records_app_figures_and_the_card_shows_both(tmp_path, capsys):
    """A model with a note verifier: its held-out figures as the app transcribes go to its
    eval.json ("note_check") and the card shows them, with the decoder-alone ones beside."""
    from par_studio import verifier as vf
    from par_studio.model.checkpoint import save_checkpoint
    from par_studio.train.ship import main as ship_main
    from par_studio.train.verifier_fit import main as fit_main

    _write_pair(tmp_path / "test", "x0", seed=4, seconds=3)
    models = tmp_path / "models"
    models.mkdir()
    (models / "MODEL_CARD.md").write_text("# card\n<!-- figures -->\nold\n<!-- /figures -->\ntail\n")
    ckpt = save_checkpoint(PARModel(preset_config("par-compact", 320)), tmp_path / "run" / "best.pt", {"steps": 7})
    assert ship_main([str(ckpt), "--name", "m", "--test-dir", str(tmp_path / "test"), "--test-name", "freepats",
                      "--models-dir", str(models)]) == 0
    model, _ = load_checkpoint(models / "m.pt")
    # one tree that keeps nothing: the app's figures are zeros, the decoder's stay
    trees = {"feature": np.zeros((1, 3), np.int64), "threshold": np.zeros((1, 3)), "left": np.array([[1, 0, 0]]),
             "right": np.array([[2, 0, 0]]), "value": np.array([[0.0, -4.0, -4.0]]),
             "leaf": np.array([[False, True, True]]), "baseline": 0.0}
    vf.save_verifier(models / "m.verifier.npz", trees, 0.5, 0.5, vf.model_fingerprint(model), {"calibration": {}})
    before = json.loads((models / "m.eval.json").read_text())
    before["overall"]["note"]["f1"] = 0.123  # a figure to recognise (the toy model finds no right note)
    (models / "m.eval.json").write_text(json.dumps(before))
    assert fit_main(["--corpus", str(tmp_path), "--model", str(models / "m.pt"), "--rescore",
                     "--heldout", f"freepats={tmp_path / 'test'}"]) == 0
    res = json.loads((models / "m.eval.json").read_text())
    assert res["note_check"]["heldout"]["freepats"]["overall"]["note"]["f1"] == 0.0
    assert res["overall"] == before["overall"]  # the decoder-alone figures are kept
    card = (models / "MODEL_CARD.md").read_text()
    app, plain = card.split("without the note check")
    assert "| m | – | – | – | 0.000 / 0.000 / 0.000 |" in app
    assert "| m | – | – | – | 0.123 / " in plain
    # a verifier for other weights is refused
    other = save_checkpoint(PARModel(preset_config("par-compact", 320)), tmp_path / "o.pt")
    assert fit_main(["--corpus", str(tmp_path), "--model", str(other), "--out", str(models / "m.verifier.npz"),
                     "--rescore"]) == 2
    assert "other weights" in capsys.readouterr().err
