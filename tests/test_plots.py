"""Plots: each writes a real PNG (opens, non-empty, not one flat colour); the tree layout is tidy."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from seafloorhmc import Taxonomy, max_constraint
from seafloorhmc.metrics import evaluate
from seafloorhmc.plots import (
    layout_parents,
    log_panels,
    plot_by_depth,
    plot_pr_curve,
    plot_reliability,
    plot_sweep,
    plot_taxonomy_tree,
    plot_training_curves,
    summarise_sweep,
    top_levels,
    tree_layout,
)
from seafloorhmc.testing.reference import random_taxonomy


def assert_png(path, tmp_dir=None) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 100 and image.height > 100
        pixels = np.asarray(image.convert("RGB"))
    packed = pixels[::3, ::3].astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    assert len(np.unique(packed)) > 10, "image is (nearly) one flat colour"
    if tmp_dir is not None:
        assert not [p for p in tmp_dir.iterdir() if p.suffix == ".tmp"], "temp file left behind"
    return pixels


@pytest.fixture(scope="module")
def run(request):
    """A small echinoderm run: taxonomy, probabilities, targets and evaluate()'s dict."""
    paths = ["Biota/Echinoderms/Feather stars", "Biota/Echinoderms/Ophiuroids/Brittle stars",
             "Biota/Echinoderms/Sea urchins/Regular urchins", "Biota/Echinoderms/Sea urchins/Irregular urchins",
             "Biota/Echinoderms/Sea stars", "Biota/Sponges/Glass sponges", "Biota/Sponges/Demosponges"]
    tax = Taxonomy.from_paths(paths)
    rng = np.random.default_rng(0)
    leaves = rng.choice(tax.leaves, size=120)
    raw = np.zeros((120, len(tax)))
    raw[np.arange(120), leaves] = 1
    targets = max_constraint(torch.tensor(raw), tax).numpy()
    logits = 3 * (2 * targets - 1) - 1 + rng.normal(0, 1.5, targets.shape)
    probs = max_constraint(torch.sigmoid(torch.tensor(logits)), tax).numpy()
    return tax, probs, targets, evaluate(probs, targets, tax, train_targets=targets)


# ------------------------------------------------------------------------------------ training curves
def write_log(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_training_curves_full_and_partial_logs(tmp_path):
    rows = [[e, 1 / e, 1.2 / e, 0.5 + e / 100, "" if e % 2 else 0.4 + e / 200, 1e-3 / e] for e in range(1, 21)]
    log = write_log(tmp_path / "log.csv", ["epoch", "train_loss", "val_loss", "val_au_prc", "val_f1", "lr"], rows)
    out = plot_training_curves(log, tmp_path / "curves.png")
    assert out == tmp_path / "curves.png"
    full = assert_png(out, tmp_path)
    only_loss = write_log(tmp_path / "loss.csv", ["train_loss"], [[1 / e] for e in range(1, 6)])
    small = assert_png(plot_training_curves(only_loss, tmp_path / "loss.png"), tmp_path)
    assert small.shape[0] < full.shape[0]  # one panel instead of three


def test_log_panels_leave_out_bookkeeping_columns():
    columns = ["epoch", "train_loss", "val_loss", "val_au_prc", "val_f1", "lr", "seconds", "skipped"]
    assert log_panels(columns) == [("loss", ["train_loss", "val_loss"]), ("metric", ["val_au_prc", "val_f1"]),
                                   ("lr", ["lr"])]
    assert log_panels(["epoch", "train_loss", "lr", "seconds", "skipped"]) == [("loss", ["train_loss"]), ("lr", ["lr"])]
    assert log_panels(["epoch", "seconds"]) == []


def test_training_curves_mark_the_selected_epoch(tmp_path):
    rows = [[e, 1 / e, 0.5 + e / 100, 1e-3] for e in range(1, 6)]
    log = write_log(tmp_path / "log.csv", ["epoch", "train_loss", "val_f1", "lr"], rows)
    plain = assert_png(plot_training_curves(log, tmp_path / "a.png"), tmp_path)
    marked = assert_png(plot_training_curves(log, tmp_path / "b.png", selected_epoch=3), tmp_path)
    assert plain.shape == marked.shape and not np.array_equal(plain, marked)


def test_training_curves_rejects_empty_logs(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        plot_training_curves(write_log(tmp_path / "empty.csv", ["epoch", "train_loss"], []), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no column to plot"):
        plot_training_curves(write_log(tmp_path / "epochs.csv", ["epoch"], [[1], [2]]), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no column to plot"):
        plot_training_curves(write_log(tmp_path / "t.csv", ["epoch", "seconds"], [[1, 2.0]]), tmp_path / "x.png")
    with pytest.raises(ValueError, match="cannot read"):
        plot_training_curves(tmp_path / "missing.csv", tmp_path / "x.png")


# ------------------------------------------------------------------------------------ by depth
def test_by_depth_single_and_compared(run, tmp_path):
    _, _, _, metrics = run
    assert_png(plot_by_depth(metrics, tmp_path / "one.png"), tmp_path)
    other = dict(metrics, recall_by_depth={k: v / 2 for k, v in metrics["recall_by_depth"].items()})
    assert_png(plot_by_depth(metrics, tmp_path / "two.png", compare=other, labels=("baseline", "rare-node")), tmp_path)
    with pytest.raises(ValueError, match="recall_by_depth"):
        plot_by_depth({"f1": 0.3}, tmp_path / "bad.png")


# ------------------------------------------------------------------------------------ tree layout
@pytest.mark.parametrize("dag", [False, True])
def test_tree_layout_is_tidy(dag):
    tax = random_taxonomy(60, seed=4, dag=dag)
    xy = tree_layout(tax)
    assert set(xy) == set(range(len(tax)))
    parent = layout_parents(tax)
    for child in range(len(tax)):
        for p in tax.parents[child]:
            assert xy[p][1] > xy[child][1], "parent must be drawn above every child"
    kids = {i: [c for c in range(len(tax)) if parent[c] == i] for i in range(len(tax))}
    for node, children in kids.items():
        if children:
            xs = [xy[c][0] for c in children]
            assert xy[node][0] == pytest.approx((min(xs) + max(xs)) / 2), "parent centred over its children"
    leaves = sorted(xy[i][0] for i in range(len(tax)) if not kids[i])
    assert leaves == list(range(len(leaves))), "leaves one unit apart, no overlap"
    for depth in set(tax.depth):
        row = sorted(xy[i][0] for i in range(len(tax)) if tax.depth[i] == depth)
        assert all(b - a >= 1 for a, b in zip(row, row[1:])), f"nodes overlap at depth {depth}"


def test_tree_layout_hand_case():
    tax = Taxonomy.from_edges([("R", "a"), ("R", "b"), ("a", "a1"), ("a", "a2"), ("a", "a3")])
    xy = {tax.nodes[i]: pos for i, pos in tree_layout(tax).items()}
    assert xy == {"a1": (0, -2), "a2": (1, -2), "a3": (2, -2), "a": (1, -1), "b": (3, -1), "R": (2, 0)}


def test_tree_layout_needs_parents_of_selected_nodes():
    tax = Taxonomy.from_edges([("R", "a"), ("a", "a1")])
    with pytest.raises(ValueError, match="without its parent"):
        tree_layout(tax, [tax.index["a1"]])


def test_top_levels_of_a_big_taxonomy():
    tax = random_taxonomy(600, seed=1)
    chosen, note = top_levels(tax, 150)
    assert 1 < len(chosen) <= 150 and "of 600 nodes" in note
    parent = layout_parents(tax)
    assert all(parent[i] in chosen for i in chosen if parent[i] >= 0)
    assert top_levels(random_taxonomy(30, seed=1), 150) == (list(range(30)), "")
    wide = Taxonomy.from_edges([("R", f"c{i:03d}") for i in range(200)])  # depth 1 alone is too many
    chosen, _ = top_levels(wide, 150, support={i: i for i in range(201)})
    assert len(chosen) == 150 and wide.index["c199"] in chosen and wide.index["c000"] not in chosen


def test_taxonomy_tree_pngs(run, tmp_path):
    tax, _, _, metrics = run
    assert_png(plot_taxonomy_tree(tax, metrics["per_node"], tmp_path / "tree.png"), tmp_path)
    big = random_taxonomy(400, seed=2)
    rows = [{"node": big.nodes[i], "f1": (i % 10) / 10, "support_test": i % 7} for i in range(1, 400)]
    assert_png(plot_taxonomy_tree(big, rows, tmp_path / "big.png"), tmp_path)
    dag = random_taxonomy(25, seed=3, dag=True)
    assert_png(plot_taxonomy_tree(dag, None, tmp_path / "dag.png"), tmp_path)
    with pytest.raises(ValueError, match="unknown node"):
        plot_taxonomy_tree(tax, [{"node": "nope", "f1": 0.1}], tmp_path / "bad.png")


def test_taxonomy_tree_orientation(tmp_path):
    """Few leaves: drawn top-down (wider than tall); many: left to right, one row per leaf (taller than wide)."""
    small = Taxonomy.from_edges([("R", f"c{i}") for i in range(5)])
    many = Taxonomy.from_edges([("R", f"c{i}") for i in range(60)])
    shapes = {}
    for name, tax, orientation in (("small", small, "auto"), ("many", many, "auto"), ("forced", many, "top-down")):
        shapes[name] = assert_png(plot_taxonomy_tree(tax, None, tmp_path / f"{name}.png", orientation=orientation),
                                  tmp_path).shape
    assert shapes["small"][1] > shapes["small"][0]
    assert shapes["many"][0] > 2 * shapes["many"][1]
    assert shapes["forced"][1] > 2 * shapes["forced"][0]
    with pytest.raises(ValueError, match="orientation"):
        plot_taxonomy_tree(small, None, tmp_path / "bad.png", orientation="sideways")


# ------------------------------------------------------------------------------------ PR and reliability
def test_pr_curve(run, tmp_path):
    tax, probs, targets, _ = run
    assert_png(plot_pr_curve(probs, targets, tax.eval_mask, tmp_path / "pr.png"), tmp_path)
    known = np.random.default_rng(1).random(probs.shape) > 0.3
    assert_png(plot_pr_curve(torch.tensor(probs), torch.tensor(targets), tax.eval_mask, tmp_path / "pr2.png",
                             known=known | (targets > 0)), tmp_path)
    with pytest.raises(ValueError, match="no positive"):
        plot_pr_curve(probs, np.zeros_like(targets), tax.eval_mask, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="eval_mask"):
        plot_pr_curve(probs, targets, tax.eval_mask[:3], tmp_path / "bad.png")


def test_reliability_from_metrics_or_table(run, tmp_path):
    _, _, _, metrics = run
    a = assert_png(plot_reliability(metrics, tmp_path / "a.png"), tmp_path)
    b = assert_png(plot_reliability(metrics["reliability"], tmp_path / "b.png"), tmp_path)
    assert np.array_equal(a, b)  # the title's ECE is recomputed from the table: same figure
    with pytest.raises(ValueError, match="reliability"):
        plot_reliability({"ece": 0.1}, tmp_path / "bad.png")


# ------------------------------------------------------------------------------------ sweeps
def sweep_rows():
    rng = np.random.default_rng(3)
    return [{"method": m, "fraction": f, "seed": s,
             "f1": 0.2 + 0.1 * (m == "rare") + 0.05 * math.log10(f * 100) + rng.normal(0, 0.02)}
            for m in ("baseline", "rare") for f in (0.01, 0.1, 0.5, 1.0) for s in range(4)]


def test_summarise_sweep_matches_numpy_and_t_interval():
    rows = sweep_rows()
    std = summarise_sweep(rows, "f1")
    ci = summarise_sweep(rows, "f1", band="ci95")
    values = np.array([r["f1"] for r in rows if r["method"] == "rare" and r["fraction"] == 0.1])
    j = list(std["rare"]["x"]).index(0.1)
    assert std["rare"]["mean"][j] == pytest.approx(values.mean())
    assert std["rare"]["high"][j] - std["rare"]["mean"][j] == pytest.approx(values.std(ddof=1))
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert (ci["rare"]["low"][j], ci["rare"]["high"][j]) == pytest.approx((low, high))
    assert list(std) == ["baseline", "rare"] and std["rare"]["n"].tolist() == [4, 4, 4, 4]


def test_plot_sweep(tmp_path):
    rows = sweep_rows() + [{"method": "rare", "fraction": 0.2, "seed": 0, "f1": None}]
    assert_png(plot_sweep(rows, "f1", tmp_path / "sweep.png"), tmp_path)
    assert_png(plot_sweep(rows, "f1", tmp_path / "sweep_ci.png", band="ci95", logx=False), tmp_path)
    with pytest.raises(ValueError, match="recall"):
        plot_sweep(rows, "recall", tmp_path / "bad.png")
    with pytest.raises(ValueError, match="band"):
        plot_sweep(rows, "f1", tmp_path / "bad.png", band="iqr")


def test_overwrites_existing_png_atomically(run, tmp_path):
    _, _, _, metrics = run
    target = tmp_path / "same.png"
    target.write_bytes(b"old")
    plot_reliability(metrics, target)
    assert_png(target, tmp_path)
