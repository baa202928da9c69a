"""The review flag: row correctness, the calibrated threshold (against a brute force), and the threshold a
training run stores, scores on test and hands to ``seafloorhmc predict``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from seafloorhmc.datamodule import prepare_data
from seafloorhmc.distributed import SINGLE_PROCESS
from seafloorhmc.models.persistence import load_trained_model, read_info
from seafloorhmc.prediction.options import PredictOptions
from seafloorhmc.prediction.predictor import write_predictions
from seafloorhmc.prediction.review import (
    FLAG_ALL,
    ReviewThreshold,
    calibrate_review_threshold,
    collect_review_rows,
    prediction_cells,
    review_scores,
)
from seafloorhmc.runtime import Runtime
from seafloorhmc.training import train


def test_prediction_cells_by_hand():
    eval_mask = torch.tensor([False, True, True, True])  # node 0 is the root
    targets = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]])
    predicted = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 0]]).bool()
    known = torch.ones(3, 4, dtype=torch.bool)
    known[2, 2] = False  # below a partial label: cannot be scored
    u = torch.tensor([[0.9, 0.1, 0.2, 0.3], [0.9, 0.4, 0.5, 0.6], [0.9, 0.7, 0.8, 0.05]])
    cell_u, correct = prediction_cells(predicted, targets, known, eval_mask, u)
    # the root is not evaluated; row 0: nodes 1 (right), 2 (wrong); row 1: 1 (right), 3 (wrong); row 2: none scored
    assert cell_u.tolist() == pytest.approx([0.1, 0.2, 0.4, 0.6]) and correct.tolist() == [True, False, True, False]


def _brute_force(u: np.ndarray, ok: np.ndarray, target: float) -> float:
    best = FLAG_ALL
    for tau in np.unique(u):
        kept = u <= tau
        if ok[kept].mean() >= target:
            best = max(best, float(tau))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_precision_calibration_matches_a_brute_force(seed):
    rng = np.random.default_rng(seed)
    u = np.round(rng.random(300), 2)  # ties on purpose
    ok = rng.random(300) > u * 0.6  # uncertain rows are wrong more often
    result = calibrate_review_threshold(u, ok, "precision", 0.85)
    assert result.threshold == _brute_force(u, ok, 0.85)
    share, precision, kept = review_scores(u, ok, result.threshold)
    assert (result.flagged_share, result.unflagged_precision) == (share, precision)
    assert precision >= 0.85 and kept == int((u <= result.threshold).sum()) and result.reached


def test_flagged_share_and_unreachable_targets(caplog):
    u = np.arange(10) / 10
    ok = np.array([True] * 10)
    result = calibrate_review_threshold(u, ok, "flagged_share", 0.3)
    assert result.threshold == pytest.approx(0.6) and result.flagged_share == pytest.approx(0.3)
    wrong = np.zeros(10, dtype=bool)
    result = calibrate_review_threshold(u, wrong, "precision", 0.9)
    assert (result.threshold, result.reached, result.flagged_share, result.unflagged_precision) == (
        FLAG_ALL, False, 1.0, None)
    assert "every prediction will be flagged" in caplog.text
    assert "every prediction is flagged" in result.describe()
    assert ReviewThreshold.from_dict(result.to_dict()) == result
    with pytest.raises(ValueError, match="no predictions to calibrate"):
        calibrate_review_threshold(np.zeros(0), np.zeros(0, dtype=bool))


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory):
    from seafloorhmc.config import load_config
    from seafloorhmc.testing import write_tiny_image_manifest

    folder = tmp_path_factory.mktemp("review_data")
    manifest = write_tiny_image_manifest(folder, n_images=48, size=32)
    config = load_config(None, [
        "data.format=manifest", f"data.annotations={manifest}", "data.image_size=32", "model.encoder=test_resnet",
        "model.members=3", "model.hidden=16", "train.epochs=3", "train.batch_size=8", "train.progress=false",
        "train.lr=0.003", "train.report=false", "eval.review_target=0.6"])
    run = tmp_path_factory.mktemp("review_run") / "run"
    metrics = train(config, run)
    return run, manifest, metrics


def test_training_stores_the_threshold_and_scores_it_on_test(calibrated_run):
    run, _, metrics = calibrated_run
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("review_threshold", "review_flagged_share", "review_unflagged_precision", "review_target"):
        assert key in saved
    stored = read_info(run).review
    assert stored["threshold"] == saved["review_threshold"] and stored["method"] == "precision"
    assert stored["target"] == 0.6 and stored["uncertainty"] == "bma"
    assert saved["review"]["validation"] == stored


def test_predict_flags_with_the_stored_threshold(calibrated_run, tmp_path):
    """predict's uncertainty and flag are the ones calibration saw: same rows, same numbers."""
    run, manifest, metrics = calibrated_run
    with open(manifest, newline="") as handle:
        test_rows = [r for r in csv.DictReader(handle) if r["split"] == "test"]
    points = tmp_path / "test_images.csv"
    points.write_text("image\n" + "\n".join(str(manifest.parent / r["image"]) for r in test_rows) + "\n")
    out = tmp_path / "pred.csv"
    summary = write_predictions(run, points, out, PredictOptions(workers=0, progress=False))
    assert dict(summary.settings)["review guarantee"].startswith("on validation: ")
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    info = read_info(run)
    data = prepare_data(info.config)
    runtime = Runtime.from_config(info.config, device="cpu")
    model, _ = load_trained_model(run)
    loaders = data.loaders(info.config, SINGLE_PROCESS)
    seen = collect_review_rows(model, loaders.test, data.taxonomy, runtime, 0.5, "bma")
    assert [float(r["uncertainty"]) for r in rows] == pytest.approx(seen.row_uncertainty.tolist(), abs=6e-5)
    assert [r["needs_review"] == "true" for r in rows] == (seen.row_uncertainty > metrics["review_threshold"]).tolist()
    share, precision, _ = review_scores(seen.uncertainty, seen.correct, metrics["review_threshold"])
    assert metrics["review_flagged_share"] == pytest.approx(share)
    assert metrics["review_unflagged_precision"] == (pytest.approx(precision) if precision is not None else None)
    assert all(r["needs_review"] == "true" for r in rows if r["to_review"])  # what to look at, in flagged rows
    assert all(set(r["to_review"].split(";")) <= set(r["predicted"].split(";")) for r in rows if r["to_review"])
    rows_flagged = float(np.mean([r["needs_review"] == "true" for r in rows]))
    assert metrics["review_rows_flagged_share"] == pytest.approx(rows_flagged)
