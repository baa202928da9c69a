"""Run reports: built from real tiny runs; pictures are real PNGs; tables hold metrics.json's numbers."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from report_helpers import assert_png, parse_html, table_dict

from seafloorhmc import max_constraint
from seafloorhmc.config import load_config
from seafloorhmc.metrics import evaluate
from seafloorhmc.models.persistence import save_weights
from seafloorhmc.report import try_write_run_report, write_run_report
from seafloorhmc.report.run_report import MAX_NODE_ROWS
from seafloorhmc.testing.reference import random_taxonomy
from seafloorhmc.utils.atomic import write_json

PICTURES = {"training_curves.png", "by_depth.png", "taxonomy_tree.png", "pr_curve.png", "reliability.png"}


def expected_cell(value) -> str:
    """How the report must print a metric: floats to 4 decimals, None as a dash, ints as they are."""
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def assert_images_exist(run, parsed):
    pictures = [src for src in parsed.images]
    for src in pictures:
        assert not src.startswith(("/", "file:")), f"{src} is not a relative link"
        assert_png(run / src)
    return {src.split("/")[-1] for src in pictures}


def test_the_trainer_writes_the_report_with_every_picture(image_run):
    assert (image_run / "report.html").is_file()
    parsed = parse_html(image_run / "report.html")
    assert assert_images_exist(image_run, parsed) == PICTURES
    assert {p.name for p in (image_run / "plots").iterdir()} == PICTURES  # no temp files left behind


def test_tables_hold_the_numbers_of_metrics_json(image_run):
    out = write_run_report(image_run)
    assert out == image_run / "report.html"
    metrics = json.loads((image_run / "metrics.json").read_text())
    parsed = parse_html(out)

    shown = table_dict(parsed.tables["metrics"])
    for key in ("au_prc", "bin_ap", "precision", "recall", "f1", "hvr", "ece", "n_examples", "threshold"):
        assert shown[key] == expected_cell(metrics[key]), key
    assert shown["au_prc"] == f"{metrics['au_prc']:.4f}"

    info = table_dict(parsed.tables["run-info"])
    assert info["selected epoch"] == str(metrics["selected_epoch"])
    assert info["selection"] == "best val au_prc"
    assert info["data test"] == str(metrics["data"]["test"])

    by_depth = parsed.tables["by-depth"]
    assert by_depth[0] == ["depth", "nodes", "precision", "recall", "F1"]
    assert [row[0] for row in by_depth[1:]] == sorted(metrics["recall_by_depth"], key=int)
    for depth, nodes, _precision, recall, f1 in by_depth[1:]:
        assert nodes == str(metrics["n_nodes_by_depth"][depth])
        assert recall == expected_cell(metrics["recall_by_depth"][depth])
        assert f1 == expected_cell(metrics["f1_by_depth"][depth])

    per_node = parsed.tables["per-node"]
    assert len(per_node) - 1 == len(metrics["per_node"])
    header = per_node[0]
    for row, truth in zip(per_node[1:], metrics["per_node"]):
        cells = dict(zip(header, row))
        assert cells["node"] == truth["node"].replace("/", " > "), "written as the user writes labels"
        assert cells["test n"] == str(truth["support_test"])
        assert cells["F1"] == expected_cell(truth["f1"]) and cells["AP"] == expected_cell(truth["ap"])

    assert table_dict(parsed.tables["config-run"])["name"] == "tiny-images"
    assert table_dict(parsed.tables["config-train"])["lr"] == "0.003"
    assert table_dict(parsed.tables["config-model"])["encoder"] == "test_resnet"
    assert table_dict(parsed.tables["config-model"])["weights"] == "null"


def test_feature_vector_run_without_validation_split(hmc_run_without_val):
    metrics = json.loads((hmc_run_without_val / "metrics.json").read_text())
    assert metrics["selection"] == "last epoch"
    parsed = parse_html(write_run_report(hmc_run_without_val))
    assert assert_images_exist(hmc_run_without_val, parsed) == PICTURES
    assert table_dict(parsed.tables["run-info"])["selection"] == "last epoch"
    assert table_dict(parsed.tables["metrics"])["f1"] == expected_cell(metrics["f1"])


def test_a_failing_picture_is_logged_and_the_rest_are_shown(image_run, tmp_path, caplog):
    run = tmp_path / "run"
    shutil.copytree(image_run, run)
    (run / "test_predictions.npz").write_bytes(b"not an npz file")
    with caplog.at_level(logging.WARNING, logger="seafloorhmc.report"):
        parsed = parse_html(write_run_report(run))
    assert assert_images_exist(run, parsed) == PICTURES - {"pr_curve.png"}  # the stale old PNG is not linked
    page = "".join(parsed.text)
    assert "Precision–recall: could not be drawn" in page
    assert any("precision–recall" in r.getMessage() and str(run) in r.getMessage() for r in caplog.records)


def test_a_run_without_test_metrics_notes_what_is_missing(hmc_run_without_val, tmp_path, caplog):
    run = tmp_path / "run"
    shutil.copytree(hmc_run_without_val, run)
    full = json.loads((run / "metrics.json").read_text())
    keep = ("split", "selected_epoch", "selection", "epochs", "data", "taxonomy_fingerprint", "config")
    write_json(run / "metrics.json", {k: full[k] for k in keep} | {"split": None})
    (run / "test_predictions.npz").unlink()
    shutil.rmtree(run / "plots")
    with caplog.at_level(logging.WARNING, logger="seafloorhmc.report"):
        parsed = parse_html(write_run_report(run))
    assert not caplog.records, "missing test data is not a failure"
    assert assert_images_exist(run, parsed) == {"training_curves.png", "taxonomy_tree.png"}
    page = "".join(parsed.text)
    assert "No test metrics" in page and "Reliability: not available" in page
    assert "metrics" not in parsed.tables and "per-node" not in parsed.tables


def test_thousands_of_nodes_top_levels_and_a_shortened_node_table(tmp_path):
    """A C-HMCNN-sized taxonomy: the tree shows its top levels, the page the first MAX_NODE_ROWS nodes."""
    tax = random_taxonomy(2500, seed=5)
    rng = np.random.default_rng(0)
    raw = (rng.random((60, len(tax))) < 0.002).astype(np.float32)
    targets = max_constraint(torch.tensor(raw), tax).numpy()
    probs = max_constraint(torch.sigmoid(torch.tensor(4 * targets - 2 + rng.normal(0, 1, targets.shape),
                                                      dtype=torch.float32)), tax).numpy()
    config = load_config(None, ["name=big"])
    metrics = evaluate(probs, targets, tax, train_targets=targets)
    run = tmp_path / "big"
    run.mkdir()
    write_json(run / "metrics.json", {**metrics, "split": "test", "selected_epoch": 1, "selection": "last epoch",
                                      "epochs": 1, "config": config.to_dict()})
    save_weights(torch.nn.Linear(1, 1), run / "model.safetensors", config, tax, epoch=0)
    np.savez(run / "test_predictions.npz", nodes=np.array(tax.nodes), probs=probs, targets=targets,
             known=np.ones_like(targets, dtype=bool))
    (run / "log.csv").write_text("epoch,train_loss,lr\n1,0.5,0.001\n")
    parsed = parse_html(write_run_report(run))
    assert assert_images_exist(run, parsed) == PICTURES
    assert len(parsed.tables["per-node"]) - 1 == MAX_NODE_ROWS < len(metrics["per_node"])
    assert f"first {MAX_NODE_ROWS} of {len(metrics['per_node'])} nodes" in "".join(parsed.text)
    from PIL import Image

    with Image.open(run / "plots" / "taxonomy_tree.png") as image:  # top levels: at most 150 rows of 0.3 inch
        assert image.height <= (0.3 * 150 + 1.2) * 120 + 1 and image.width < 1800


def test_bad_run_folders_are_named(tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match=r"metrics\.json does not exist.*not a finished seafloorhmc run"):
        write_run_report(tmp_path)
    (tmp_path / "metrics.json").write_text('{"au_prc": 0.5,\n oops}')
    with pytest.raises(ValueError, match=r"metrics\.json is not valid JSON \(line 2"):
        write_run_report(tmp_path)
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"metrics\.json holds a JSON list"):
        write_run_report(tmp_path)
    with caplog.at_level(logging.WARNING, logger="seafloorhmc.report"):
        assert try_write_run_report(tmp_path) is None
    assert any(str(tmp_path) in r.getMessage() and "JSON list" in r.getMessage() for r in caplog.records)
