"""Scoring a saved model reproduces what training scored, through the same runtime."""

from __future__ import annotations

import pytest

from seafloorhmc.evaluation import evaluate_checkpoint
from seafloorhmc.training import train

KEYS = ("au_prc", "bin_ap", "precision", "recall", "f1", "loss", "recall_by_depth", "f1_by_depth", "hvr",
        "rare_recall", "ece", "per_node")


@pytest.mark.parametrize("kind", ["images", "hmc"])
def test_evaluate_reproduces_the_runs_test_metrics(kind, image_config, hmc_config, tmp_path):
    config = image_config("train.epochs=1") if kind == "images" else hmc_config("train.epochs=2")
    trained = train(config, tmp_path / "run")
    scored = evaluate_checkpoint(tmp_path / "run", split="test")
    for key in KEYS:
        assert scored[key] == trained[key], key


def test_evaluate_on_validation_differs_from_test(image_config, tmp_path):
    """A guard that the comparison above can fail: another split gives other numbers."""
    trained = train(image_config("train.epochs=1"), tmp_path / "run")
    scored = evaluate_checkpoint(tmp_path / "run", split="val")
    assert scored["per_node"] != trained["per_node"]
