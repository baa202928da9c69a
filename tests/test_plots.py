"""Plots: each writes the PNG of the figure it drew, and the figure shows the data it was given.

The ``drawn`` fixture records every figure a plot function saves, so a test reads back what was
plotted (bar heights, line points, box labels) and compares it with the input or an independent
computation; ``assert_png`` checks the file on disk is that figure, rendered.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image
from scipy import stats
from sklearn.metrics import precision_recall_curve

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

DPI = 120  # seafloorhmc.plots' resolution


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved while the test runs, in order (``Figure.savefig`` still writes the file)."""
    figures: list[Figure] = []
    save = Figure.savefig

    def spy(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def assert_png(path, figure: Figure, tmp_dir=None) -> np.ndarray:
    """``path`` is ``figure`` rendered as PNG: its size in pixels, not one flat colour, no temp file left."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = np.round(figure.get_size_inches() * DPI).astype(int)
        assert abs(image.width - width) <= 1 and abs(image.height - height) <= 1, "the PNG is not this figure"
        pixels = np.asarray(image.convert("RGB"))
    packed = pixels[::3, ::3].astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    assert len(np.unique(packed)) > 10, "image is (nearly) one flat colour"
    if tmp_dir is not None:
        assert not [p for p in tmp_dir.iterdir() if p.suffix == ".tmp"], "temp file left behind"
    return pixels


def data_axes(figure: Figure) -> list:
    """The figure's plotting axes (colour bars and other axes without data left out)."""
    return [ax for ax in figure.axes if ax.lines or ax.containers or ax.texts]


def bar_heights(ax) -> list[np.ndarray]:
    """Heights of each ``ax.bar`` call's bars, one array per call."""
    return [np.array([bar.get_height() for bar in container]) for container in ax.containers]


def line_named(ax, label: str) -> np.ndarray:
    """The (x, y) points of the line with this legend label."""
    lines = [line for line in ax.lines if line.get_label() == label]
    assert len(lines) == 1, f"expected one line labelled {label!r}, got {[line.get_label() for line in ax.lines]}"
    return np.asarray(lines[0].get_xydata(), dtype=float)


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


def test_training_curves_full_and_partial_logs(tmp_path, drawn):
    rows = [[e, 1 / e, 1.2 / e, 0.5 + e / 100, "" if e % 2 else 0.4 + e / 200, 1e-3 / e] for e in range(1, 21)]
    log = write_log(tmp_path / "log.csv", ["epoch", "train_loss", "val_loss", "val_au_prc", "val_f1", "lr"], rows)
    out = plot_training_curves(log, tmp_path / "curves.png")
    assert out == tmp_path / "curves.png"
    full = assert_png(out, drawn[-1], tmp_path)
    loss, metric, lr = data_axes(drawn[-1])
    epochs = np.arange(1, 21)
    np.testing.assert_allclose(line_named(loss, "train loss"), np.c_[epochs, 1 / epochs])
    np.testing.assert_allclose(line_named(loss, "val loss"), np.c_[epochs, 1.2 / epochs])
    np.testing.assert_allclose(line_named(metric, "val AU(PRC)")[:, 1], 0.5 + epochs / 100)
    even = epochs[epochs % 2 == 0]  # the odd epochs have no val_f1: left out, not drawn as zeros
    np.testing.assert_allclose(line_named(metric, "val F1"), np.c_[even, 0.4 + even / 200])
    np.testing.assert_allclose(lr.lines[0].get_ydata(), 1e-3 / epochs)
    assert lr.get_yscale() == "log"
    only_loss = write_log(tmp_path / "loss.csv", ["train_loss"], [[1 / e] for e in range(1, 6)])
    small = assert_png(plot_training_curves(only_loss, tmp_path / "loss.png"), drawn[-1], tmp_path)
    assert small.shape[0] < full.shape[0]  # one panel instead of three
    (panel,) = data_axes(drawn[-1])
    np.testing.assert_allclose(line_named(panel, "train loss"), np.c_[np.arange(1, 6), 1 / np.arange(1, 6)])


def test_log_panels_leave_out_bookkeeping_columns():
    columns = ["epoch", "train_loss", "val_loss", "val_au_prc", "val_f1", "lr", "seconds", "skipped"]
    assert log_panels(columns) == [("loss", ["train_loss", "val_loss"]), ("metric", ["val_au_prc", "val_f1"]),
                                   ("lr", ["lr"])]
    assert log_panels(["epoch", "train_loss", "lr", "seconds", "skipped"]) == [("loss", ["train_loss"]), ("lr", ["lr"])]
    assert log_panels(["epoch", "seconds"]) == []


def test_training_curves_mark_the_selected_epoch(tmp_path, drawn):
    rows = [[e, 1 / e, 0.5 + e / 100 - (e == 4) * 0.2, 1e-3] for e in range(1, 6)]
    log = write_log(tmp_path / "log.csv", ["epoch", "train_loss", "val_f1", "lr"], rows)
    plain = assert_png(plot_training_curves(log, tmp_path / "a.png"), drawn[-1], tmp_path)
    marked = assert_png(plot_training_curves(log, tmp_path / "b.png", selected_epoch=3), drawn[-1], tmp_path)
    assert plain.shape == marked.shape and not np.array_equal(plain, marked)
    metric = data_axes(drawn[-1])[1]
    star = [line for line in metric.lines if line.get_marker() == "*"]
    assert [tuple(line.get_xydata()[0]) for line in star] == [(5.0, 0.55)], "the best epoch of val_f1 is starred"
    selected = [line for line in metric.lines if line.get_linestyle() == "--"]
    assert [tuple(line.get_xdata()) for line in selected] == [(3, 3)]


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
def test_by_depth_single_and_compared(run, tmp_path, drawn):
    _, _, _, metrics = run
    assert_png(plot_by_depth(metrics, tmp_path / "one.png"), drawn[-1], tmp_path)
    depths = sorted(metrics["recall_by_depth"], key=int)
    recall, f1 = data_axes(drawn[-1])
    expected_recall = [metrics["recall_by_depth"][d] for d in depths]
    np.testing.assert_allclose(bar_heights(recall), [expected_recall])
    np.testing.assert_allclose(bar_heights(f1), [[metrics["f1_by_depth"][d] for d in depths]])
    assert [t.get_text() for t in recall.texts] == [f"{v:.2f}" for v in expected_recall]
    other = dict(metrics, recall_by_depth={k: v / 2 for k, v in metrics["recall_by_depth"].items()})
    assert_png(plot_by_depth(metrics, tmp_path / "two.png", compare=other, labels=("baseline", "rare-node")),
               drawn[-1], tmp_path)
    recall, _ = data_axes(drawn[-1])
    np.testing.assert_allclose(bar_heights(recall), [expected_recall, np.array(expected_recall) / 2])
    assert [c.get_label() for c in recall.containers] == ["baseline", "rare-node"]
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


def tree_boxes(figure: Figure) -> dict[str, tuple]:
    """Node name → (face colour, test count shown or None), read from the tree plot's boxes."""
    (ax,) = [ax for ax in figure.axes if ax.texts]
    boxes = {}
    for text in ax.texts:
        lines = text.get_text().split("\n")
        count = int(lines.pop()[2:]) if lines[-1].startswith("n=") else None
        boxes[" ".join(lines)] = (text.get_bbox_patch().get_facecolor(), count)
    return boxes


def test_taxonomy_tree_pngs(run, tmp_path, drawn):
    tax, _, _, metrics = run
    assert_png(plot_taxonomy_tree(tax, metrics["per_node"], tmp_path / "tree.png"), drawn[-1], tmp_path)
    boxes = tree_boxes(drawn[-1])
    assert sorted(boxes) == sorted(tax.names), "one box per node, named"
    for row in metrics["per_node"]:  # each evaluated node coloured by its F1 and showing its test count
        colour, count = boxes[tax.names[tax.index[row["node"]]]]
        assert colour == pytest.approx(colormaps["viridis"](row["f1"])) and count == row["support_test"]
    unevaluated = set(tax.names) - {tax.names[tax.index[r["node"]]] for r in metrics["per_node"]}
    assert unevaluated and all(boxes[n][0] == pytest.approx(to_rgba((0.85, 0.85, 0.85))) for n in unevaluated)
    big = random_taxonomy(400, seed=2)
    rows = [{"node": big.nodes[i], "f1": (i % 10) / 10, "support_test": i % 7} for i in range(1, 400)]
    assert_png(plot_taxonomy_tree(big, rows, tmp_path / "big.png"), drawn[-1], tmp_path)
    chosen, _ = top_levels(big, 150, {i: i % 7 for i in range(1, 400)})
    assert len(tree_boxes(drawn[-1])) == len(chosen) < len(big), "a big taxonomy shows its top levels only"
    dag = random_taxonomy(25, seed=3, dag=True)
    assert_png(plot_taxonomy_tree(dag, None, tmp_path / "dag.png"), drawn[-1], tmp_path)
    (ax,) = [ax for ax in drawn[-1].axes if ax.texts]
    extra_edges = sum(len(p) - 1 for p in dag.parents if p)
    assert extra_edges > 0 and sum(line.get_label() == "other parent (DAG)" for line in ax.lines) == extra_edges
    with pytest.raises(ValueError, match="unknown node"):
        plot_taxonomy_tree(tax, [{"node": "nope", "f1": 0.1}], tmp_path / "bad.png")


def test_taxonomy_tree_orientation(tmp_path, drawn):
    """Few leaves: drawn top-down (wider than tall); many: left to right, one row per leaf (taller than wide)."""
    small = Taxonomy.from_edges([("R", f"c{i}") for i in range(5)])
    many = Taxonomy.from_edges([("R", f"c{i}") for i in range(60)])
    shapes = {}
    for name, tax, orientation in (("small", small, "auto"), ("many", many, "auto"), ("forced", many, "top-down")):
        shapes[name] = assert_png(plot_taxonomy_tree(tax, None, tmp_path / f"{name}.png", orientation=orientation),
                                  drawn[-1], tmp_path).shape
    assert shapes["small"][1] > shapes["small"][0]
    assert shapes["many"][0] > 2 * shapes["many"][1]
    assert shapes["forced"][1] > 2 * shapes["forced"][0]
    with pytest.raises(ValueError, match="orientation"):
        plot_taxonomy_tree(small, None, tmp_path / "bad.png", orientation="sideways")


# ------------------------------------------------------------------------------------ PR and reliability
def test_pr_curve(run, tmp_path, drawn):
    tax, probs, targets, metrics = run
    assert_png(plot_pr_curve(probs, targets, tax.eval_mask, tmp_path / "pr.png"), drawn[-1], tmp_path)
    (ax,) = drawn[-1].axes
    cells = np.broadcast_to(tax.eval_mask.numpy().astype(bool), probs.shape)
    precision, recall, _ = precision_recall_curve(targets[cells], probs[cells])
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_xdata(), recall)
    np.testing.assert_allclose(curve.get_ydata(), precision)
    assert curve.get_label() == f"AU(PRC) = {metrics['au_prc']:.3f}"
    y, pred = targets[cells] > 0, probs[cells] > 0.5
    tp = (y & pred).sum()
    point = line_named(ax, f"p > 0.5: P={tp / pred.sum():.2f}, R={tp / y.sum():.2f}")
    np.testing.assert_allclose(point, [[tp / y.sum(), tp / pred.sum()]])
    assert ax.lines[1].get_ydata()[0] == pytest.approx(y.mean()), "no-skill line at the positive rate"
    known = np.random.default_rng(1).random(probs.shape) > 0.3
    known |= targets > 0
    assert_png(plot_pr_curve(torch.tensor(probs), torch.tensor(targets), tax.eval_mask, tmp_path / "pr2.png",
                             known=known), drawn[-1], tmp_path)
    precision, recall, _ = precision_recall_curve(targets[cells & known], probs[cells & known])
    np.testing.assert_allclose(drawn[-1].axes[0].lines[0].get_xydata(), np.c_[recall, precision])
    with pytest.raises(ValueError, match="no positive"):
        plot_pr_curve(probs, np.zeros_like(targets), tax.eval_mask, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="eval_mask"):
        plot_pr_curve(probs, targets, tax.eval_mask[:3], tmp_path / "bad.png")


def test_reliability_from_metrics_or_table(run, tmp_path, drawn):
    _, probs, targets, metrics = run
    a = assert_png(plot_reliability(metrics, tmp_path / "a.png"), drawn[-1], tmp_path)
    b = assert_png(plot_reliability(metrics["reliability"], tmp_path / "b.png"), drawn[-1], tmp_path)
    assert np.array_equal(a, b)  # the title's ECE is recomputed from the table: same figure
    top, bottom = drawn[-1].axes
    table = metrics["reliability"]
    filled = np.asarray(table["count"]) > 0
    accuracy = np.array([v for v, f in zip(table["accuracy"], filled) if f], dtype=float)
    confidence = np.array([v for v, f in zip(table["confidence"], filled) if f], dtype=float)
    np.testing.assert_allclose(bar_heights(top), [accuracy])
    np.testing.assert_allclose(line_named(top, "(mean p, fraction positive)"), np.c_[confidence, accuracy])
    counts = bar_heights(bottom)[0]
    np.testing.assert_array_equal(counts[filled], np.asarray(table["count"])[filled])
    assert counts[filled].sum() == metrics["n_examples"] * metrics["n_eval_nodes"], "every evaluated cell in a bin"
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


def test_plot_sweep(tmp_path, drawn):
    rows = sweep_rows() + [{"method": "rare", "fraction": 0.2, "seed": 0, "f1": None}]
    assert_png(plot_sweep(rows, "f1", tmp_path / "sweep.png"), drawn[-1], tmp_path)
    (ax,) = drawn[-1].axes
    for method in ("baseline", "rare"):
        expected = [np.mean([r["f1"] for r in rows if r["method"] == method and r["fraction"] == f and r["f1"]
                             is not None]) for f in (0.01, 0.1, 0.5, 1.0)]
        np.testing.assert_allclose(line_named(ax, method), np.c_[[0.01, 0.1, 0.5, 1.0], expected])
    assert ax.get_xscale() == "log", "fractions spanning 100x get a log axis"
    assert_png(plot_sweep(rows, "f1", tmp_path / "sweep_ci.png", band="ci95", logx=False), drawn[-1], tmp_path)
    assert drawn[-1].axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="recall"):
        plot_sweep(rows, "recall", tmp_path / "bad.png")
    with pytest.raises(ValueError, match="band"):
        plot_sweep(rows, "f1", tmp_path / "bad.png", band="iqr")


def test_overwrites_existing_png_atomically(run, tmp_path, drawn):
    _, _, _, metrics = run
    target = tmp_path / "same.png"
    target.write_bytes(b"old")
    plot_reliability(metrics, target)
    assert_png(target, drawn[-1], tmp_path)
