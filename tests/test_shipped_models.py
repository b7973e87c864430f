"""The weights shipped in models/: each loads under its own name, carries the biases its figures
were measured with, has its held-out figures, owns its note verifier, and the card's figures are
rendered from those figures."""

from __future__ import annotations

import json

import pytest

from par_studio.model.checkpoint import MODELS_DIR, load_checkpoint
from par_studio.train.recipe import HELDOUT_SETS, load_recipe
from par_studio.train.ship import END, START, figures_table
from par_studio.verifier import SUFFIX, find_verifier, model_fingerprint, read_verifier

SHIPPED = sorted(p for p in MODELS_DIR.glob("*.pt") if p.stem.startswith("par"))


def test_the_models_folder_ships_the_320_ms_models_and_only_recipe_models():
    names = {p.stem for p in SHIPPED}
    assert {"par-320", "par-compact-320"} <= names
    assert names <= {m["name"] for m in load_recipe()["model"]}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_shipped_model_loads_as_named_with_the_biases_of_its_figures(path):
    model, meta = load_checkpoint(path)
    assert path.stem == f"{model.cfg.preset}-{model.latency_ms}"
    r = json.loads(path.with_name(path.stem + ".eval.json").read_text())
    assert (r["model"]["preset"], r["model"]["latency_ms"]) == (model.cfg.preset, model.latency_ms)
    assert r["model"]["state_bias"] == pytest.approx(list(model.cfg.state_bias))
    assert r["model"]["offset_shift_s"] == pytest.approx(model.cfg.offset_shift_s)
    assert set(HELDOUT_SETS) <= set(r["heldout"]) and r["test_name"] == "freepats"
    stored = json.dumps({k: v for k, v in meta.items() if k != "path"})  # "path": where it was read from
    assert "/work/" not in stored and "/home/" not in stored and "/root/" not in stored


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*" + SUFFIX)), ids=lambda p: p.name)
def test_each_note_verifier_belongs_to_the_model_of_its_name(path):
    model, _ = load_checkpoint(path.with_name(path.name[: -len(SUFFIX)] + ".pt"))
    assert read_verifier(path).fingerprint == model_fingerprint(model)
    assert find_verifier(model, MODELS_DIR) is not None


def test_the_cards_figures_are_those_of_the_eval_files():
    card = (MODELS_DIR / "MODEL_CARD.md").read_text()
    block = card.split(START, 1)[1].split(END, 1)[0]
    assert block == "\n" + figures_table(MODELS_DIR)
    for p in SHIPPED:
        model, _ = load_checkpoint(p)
        assert f"| {model.cfg.preset} | {model.latency_ms} ms |" in block


def test_the_cards_lookahead_chart_draws_the_shipped_models():
    from par_studio.train.card_chart import CHART, chart_data, read_chart_data

    assert read_chart_data(MODELS_DIR / CHART) == chart_data(MODELS_DIR)
    assert f"({CHART})" in (MODELS_DIR / "MODEL_CARD.md").read_text()
