"""The one training recipe (models/recipe.toml): ten models, valid inits, commands in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from par_studio.constants import LATENCY_SETTINGS_MS
from par_studio.train import recipe


def test_recipe_names_ten_models_all_lookaheads():
    r = recipe.load_recipe()
    got = {(m["preset"], m["latency"]) for m in r["model"]}
    assert got == {(p, lat) for p in ("par", "par-compact") for lat in LATENCY_SETTINGS_MS}
    assert all(m["name"] == f"{m['preset']}-{m['latency']}" for m in r["model"])


def test_plan_orders_corpus_train_ship_and_variants_start_from_320(tmp_path):
    r = recipe.load_recipe()
    models = tmp_path / "models"
    cmds = recipe.plan(r, tmp_path / "work", recipe.STAGES, set(), models)
    assert cmds[0][:2] == ["par-studio", "build-corpus-v2"]
    assert len(cmds) == 1 + 3 * len(r["model"]) + 1
    assert "par_studio.train.velocity_fit" in cmds[-1]  # after every model is shipped
    assert Path(cmds[-1][cmds[-1].index("--model") + 1]).name == f"{r['velocity']['model']}.pt"
    trains = [c for c in cmds if c[:2] == ["par-studio", "train"]]
    for c in trains:
        lat = int(c[c.index("--latency") + 1])
        if lat != 320:
            init = Path(c[c.index("--init") + 1])
            assert init.parent == models and init.name.endswith("-320.pt")
        else:
            assert "--init" not in c
        steps = int(c[c.index("--steps") + 1])
        assert int(c[c.index("--cooldown-start") + 1]) < steps
    ships = [c for c in cmds if "par_studio.train.ship" in c]
    assert all(sum(a == "--heldout" for a in c) == len(recipe.HELDOUT_SETS) for c in ships)
    # each model's verifier is fitted right after it ships, on its shipped weights
    for i, c in enumerate(cmds):
        if "par_studio.train.verifier_fit" in c:
            ship = cmds[i - 1]
            name = ship[ship.index("--name") + 1]
            assert "par_studio.train.ship" in ship
            assert Path(c[c.index("--model") + 1]) == models / f"{name}.pt"
            assert Path(c[c.index("--out") + 1]) == models / f"{name}.verifier.npz"
    assert sum("par_studio.train.verifier_fit" in c for c in cmds) == len(r["model"])
    files = {Path(c[c.index("--model") + 1]).stem: int(c[c.index("--files") + 1])
             for c in cmds if "par_studio.train.verifier_fit" in c}
    assert files["par-320"] == 103 and files["par-compact-320"] == r["verifier"]["files"] == 514
    # the decoder is calibrated on the calibration set that the corpus stage renders
    assert all(Path(c[c.index("--tune-dir") + 1]).name == "calibration" for c in ships)
    assert cmds[0][cmds[0].index("--calibration") + 1] == str(r["corpus"]["calibration"])


def test_only_and_stage_filter(tmp_path):
    r = recipe.load_recipe()
    cmds = recipe.plan(r, tmp_path, ("train",), {"par-192"}, tmp_path)
    assert len(cmds) == 1 and Path(cmds[0][cmds[0].index("--out") + 1]) == tmp_path / "runs" / "par-192"


def test_init_must_name_an_earlier_model(tmp_path):
    bad = tmp_path / "r.toml"
    text = (recipe.RECIPE).read_text().replace('init = "model:par-compact-320"', 'init = "model:par-128"', 1)
    bad.write_text(text)
    with pytest.raises(ValueError, match="earlier model"):
        recipe.load_recipe(bad)


def test_a_distilled_variant_is_taught_by_its_sibling_and_shipped_like_the_others(tmp_path):
    text = recipe.RECIPE.read_text()
    start = text.index('name = "par-compact-224"')
    block = text[start:text.index("[[model]]", start)]
    changed = tmp_path / "r.toml"
    changed.write_text(text.replace(block, block.replace('init = "model:par-compact-320"',
                                                         'init = "distill:par-compact-320"')))
    r = recipe.load_recipe(changed)
    models = tmp_path / "models"
    cmds = recipe.plan(r, tmp_path / "work", ("train", "ship"), {"par-compact-224"}, models)
    assert len(cmds) == 2 and "par_studio.train.distill" in cmds[0] and "par_studio.train.ship" in cmds[1]
    c = cmds[0]
    assert Path(c[c.index("--teacher") + 1]) == models / "par-compact-320.pt"
    assert c[c.index("--latency") + 1] == "224"
    assert Path(c[c.index("--out") + 1]) == tmp_path / "work" / "runs" / "par-compact-224"
    steps = int(c[c.index("--steps") + 1])
    assert int(c[c.index("--cooldown-start") + 1]) + int(c[c.index("--cooldown-steps") + 1]) == steps
    assert c[c.index("--crop-frames") + 1] == str(r["train"]["crop_frames"])
    # the distiller accepts every option the recipe gives it
    from par_studio.train.distill import add_arguments
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    p.parse_args(c[c.index("--teacher"):])
    # a teacher must come earlier in the recipe
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('init = "model:par-compact-320"', 'init = "distill:par-128"', 1))
    with pytest.raises(ValueError, match="earlier model"):
        recipe.load_recipe(bad)
