"""Metrics against hand-computed cases, naive per-cell loops, scikit-learn and the spec's closed form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from seafloorhmc import Taxonomy, max_constraint
from seafloorhmc.metrics import (
    ancestor_closure,
    evaluate,
    per_node_average_precision,
    rare_nodes,
    reliability_table,
)
from seafloorhmc.testing.reference import random_taxonomy

# ---------------------------------------------------------------------------------------- fixtures
# Tree R -> {a, b, c}, a -> {a1, a2}. Canonical order: R, a, b, c, a1, a2 (depth, id).
NODES = ["R", "a", "b", "c", "a1", "a2"]
#                     R    a    b    c    a1   a2
HAND_PROBS = [[0.9, 0.8, 0.1, 0.05, 0.7, 0.2],
              [0.9, 0.6, 0.3, 0.05, 0.55, 0.4],
              [0.7, 0.2, 0.4, 0.05, 0.1, 0.1],
              [0.8, 0.3, 0.6, 0.05, 0.1, 0.9]]   # a2 predicted without a: one violation
HAND_TARGETS = [[1, 1, 0, 0, 1, 0],
                [1, 1, 0, 0, 0, 1],
                [1, 0, 1, 0, 0, 0],
                [1, 1, 0, 0, 0, 0]]
# Training rows: 3×a1, 5×a2, 2×a, 3×b  => counts a 10, b 3, c 0, a1 3, a2 5.
HAND_TRAIN = [[1, 1, 0, 0, 1, 0]] * 3 + [[1, 1, 0, 0, 0, 1]] * 5 + [[1, 1, 0, 0, 0, 0]] * 2 + [[1, 0, 1, 0, 0, 0]] * 3


@pytest.fixture
def hand_tax() -> Taxonomy:
    tax = Taxonomy.from_edges([("R", "a"), ("R", "b"), ("R", "c"), ("a", "a1"), ("a", "a2")])
    assert tax.nodes == NODES
    return tax


@pytest.fixture
def hand(hand_tax):
    return evaluate(np.array(HAND_PROBS), np.array(HAND_TARGETS), hand_tax, train_targets=np.array(HAND_TRAIN))


def random_case(n: int, num_nodes: int, seed: int, dag: bool = False, consistent: bool = True, partial: bool = False):
    """Random taxonomy, ancestor-closed targets, probabilities (max-constrained or not), known mask."""
    tax = random_taxonomy(num_nodes, seed=seed, dag=dag)
    rng = np.random.default_rng(seed)
    raw = torch.from_numpy(rng.random((n, num_nodes)) < 2.0 / num_nodes).float()
    targets = max_constraint(raw, tax).numpy().astype(np.float64)  # closure under ancestors
    probs = np.clip(0.6 * targets + 0.5 * rng.random((n, num_nodes)) ** 2, 0, 1)
    probs[rng.random(probs.shape) < 0.05] = 0.5  # ties, and cells exactly on the threshold
    if consistent:
        probs = max_constraint(torch.from_numpy(probs), tax).numpy()
    known = None
    if partial:
        known = rng.random((n, num_nodes)) > 0.2
        known |= targets > 0  # positives are always known
    return tax, probs, targets, known


# ---------------------------------------------------------------------------------------- hand case
def test_hand_case_ranking(hand):
    # Sorted eval cells: .9(-) .8(+) .7(+) {.6 + -} .55(-) {.4 + +} {.3 + -} ... with 6 positives:
    # AP = (1/6)(1/2 + 2/3 + 3/5 + 2·5/8 + 6/10) = 217/360.
    assert hand["au_prc"] == pytest.approx(217 / 360)
    # micro P = R = 3/6, π = 6/20 ⇒ Bin.AP = R·P + (1−R)·π = 0.25 + 0.15.
    assert hand["bin_ap"] == pytest.approx(0.4)
    assert hand["positive_rate"] == pytest.approx(0.3)


def test_hand_case_macro_micro_depth(hand):
    # per node (a, b, c, a1, a2): P = 1, 0, 0, .5, 0;  R = 2/3, 0, 0, 1, 0;  F1 = .8, 0, 0, 2/3, 0.
    assert hand["precision"] == pytest.approx(1.5 / 5)
    assert hand["recall"] == pytest.approx((5 / 3) / 5)
    assert hand["f1"] == pytest.approx((0.8 + 2 / 3) / 5)
    # c has no test positive: the *_present averages leave it out.
    assert hand["precision_present"] == pytest.approx(1.5 / 4)
    assert hand["recall_present"] == pytest.approx(5 / 12)
    assert hand["f1_present"] == pytest.approx(11 / 30)
    assert (hand["micro_precision"], hand["micro_recall"], hand["micro_f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert hand["precision_by_depth"] == pytest.approx({"1": 1 / 3, "2": 0.25})
    assert hand["recall_by_depth"] == pytest.approx({"1": 2 / 9, "2": 0.5})
    assert hand["f1_by_depth"] == pytest.approx({"1": 0.8 / 3, "2": 1 / 3})
    assert hand["n_nodes_by_depth"] == {"1": 3, "2": 2}
    assert (hand["n_examples"], hand["n_eval_nodes"], hand["n_eval_cells"], hand["threshold"]) == (4, 5, 20, 0.5)


def test_hand_case_hierarchy(hand):
    # Only example 3 predicts a child (a2) without its parent (a); 6 predicted non-root cells.
    assert hand["hvr"] == pytest.approx(0.25)
    assert hand["hvr_edges"] == pytest.approx(1 / 6)
    # α (closed): {a,a1} {a,a1} {} {a,b,a2}; β: {a,a1} {a,a2} {b} {a}; overlaps 2+1+0+1.
    assert hand["h_precision"] == pytest.approx(4 / 7)
    assert hand["h_recall"] == pytest.approx(4 / 6)
    assert hand["h_f1"] == pytest.approx(8 / 13)


def test_hand_case_per_node_and_rare(hand):
    rows = {r["node"]: r for r in hand["per_node"]}
    assert list(rows) == ["a", "b", "c", "a1", "a2"]
    assert [rows[k]["ap"] for k in rows] == pytest.approx([1.0, 0.5, None, 1.0, 0.5])
    assert [rows[k]["support_test"] for k in rows] == [3, 1, 0, 1, 1]
    assert [rows[k]["support_train"] for k in rows] == [10, 3, 0, 3, 5]
    assert (rows["a"]["tp"], rows["a"]["fp"], rows["a"]["fn"]) == (2, 0, 1)
    assert rows["a1"]["f1"] == pytest.approx(2 / 3) and rows["a1"]["depth"] == 2
    # Candidates (train count > 0): a 10, b 3, a1 3, a2 5 → ⌈4/4⌉ = 1st rarest has count 3; b and a1 tie.
    assert hand["rare_nodes"] == ["b", "a1"] and hand["rare_max_train_count"] == 3
    assert hand["rare_recall"] == pytest.approx(0.5)
    assert hand["rare_f1"] == pytest.approx(1 / 3)


def test_spec_toy_optimistic_vs_binarised_ap():
    """method-rare-nodes.md §9: a perfect ranking scores AP 1.00 but 0.60 once binarised."""
    tax = Taxonomy.from_edges([("R", "a"), ("R", "b")])
    probs = np.full((5, 3), 0.1)
    probs[:, 0] = 1.0
    probs[0, 1], probs[1, 1] = 0.9, 0.45          # the two positives rank first; only one is > 0.5
    targets = np.zeros((5, 3))
    targets[:, 0] = 1
    targets[[0, 1], 1] = 1
    m = evaluate(probs, targets, tax)
    assert m["au_prc"] == pytest.approx(1.0)
    assert m["bin_ap"] == pytest.approx(0.6)     # R·P + (1−R)·π = 0.5·1 + 0.5·0.2


def test_hvr_single_path_equals_hcal_definition():
    """hcal.md §1.7: with one predicted node per level, HVR = share of paths with a broken link."""
    tax = Taxonomy.from_paths(["A/x", "A/y", "B/z"])   # roots A, B at level 1 of the HCAL setting
    tax = Taxonomy(tax.nodes, [(tax.nodes[p], tax.nodes[c]) for c in range(len(tax)) for p in tax.parents[c]],
                   exclude_from_eval=[])
    idx = tax.index
    coarse_fine = [("A", "A/x"), ("A", "B/z"), ("B", "B/z"), ("B", "A/y")]  # 2 of 4 inconsistent
    probs = np.zeros((4, len(tax)))
    for row, (coarse, fine) in enumerate(coarse_fine):
        probs[row, [idx[coarse], idx[fine]]] = 0.9
    m = evaluate(probs, probs > 0.5, tax)
    assert m["hvr"] == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------- naive loops
def naive(tax, probs, targets, known, threshold=0.5):
    """Per-cell Python loops, written from the definitions."""
    n, num_nodes = probs.shape
    known = np.ones_like(probs, dtype=bool) if known is None else known
    ev = [i for i in range(num_nodes) if tax.eval_mask[i]]
    pred = probs > threshold
    P, R, F = [], [], []
    for i in ev:
        tp = sum(1 for e in range(n) if known[e, i] and pred[e, i] and targets[e, i])
        fp = sum(1 for e in range(n) if known[e, i] and pred[e, i] and not targets[e, i])
        fn = sum(1 for e in range(n) if known[e, i] and not pred[e, i] and targets[e, i])
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        P.append(p), R.append(r), F.append(2 * p * r / (p + r) if p + r else 0.0)
    violating, orphan_cells, predicted_cells, overlap, n_alpha, n_beta = 0, 0, 0, 0, 0, 0
    for e in range(n):
        on = {i for i in range(num_nodes) if pred[e, i]}
        bad = [c for c in on if tax.parents[c] and any(q not in on for q in tax.parents[c])]
        violating += bool(bad)
        orphan_cells += len(bad)
        predicted_cells += sum(1 for c in on if tax.parents[c])
        alpha = set().union(*[set(tax.ancestors(c).tolist()) for c in on]) if on else set()
        alpha = {i for i in alpha if i in ev and known[e, i]}
        beta = {i for i in ev if targets[e, i] and known[e, i]}
        overlap, n_alpha, n_beta = overlap + len(alpha & beta), n_alpha + len(alpha), n_beta + len(beta)
    hp, hr = overlap / n_alpha if n_alpha else 0.0, overlap / n_beta if n_beta else 0.0
    cells = [(e, i) for e in range(n) for i in ev if known[e, i]]
    conf = np.array([probs[c] for c in cells])
    pos = np.array([targets[c] for c in cells], dtype=float)
    ece = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        inside = (conf > lo) & (conf <= hi) if b else (conf <= hi)
        if inside.any():
            ece += abs(pos[inside].mean() - conf[inside].mean()) * inside.sum() / len(cells)
    return {"precision": np.mean(P), "recall": np.mean(R), "f1": np.mean(F), "per_node_f1": F,
            "hvr": violating / n, "hvr_edges": orphan_cells / predicted_cells if predicted_cells else 0.0,
            "h_precision": hp, "h_recall": hr, "h_f1": 2 * hp * hr / (hp + hr) if hp + hr else 0.0,
            "ece": ece, "flat": (pos, conf)}


@pytest.mark.parametrize("dag", [False, True])
@pytest.mark.parametrize("consistent", [True, False])
@pytest.mark.parametrize("partial", [False, True])
def test_matches_naive_loops(dag, consistent, partial):
    tax, probs, targets, known = random_case(60, 25, seed=7 + dag, dag=dag, consistent=consistent, partial=partial)
    got = evaluate(probs, targets, tax, known=known)
    want = naive(tax, probs, targets, known)
    for key in ("precision", "recall", "f1", "hvr", "hvr_edges", "h_precision", "h_recall", "h_f1", "ece"):
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    assert [r["f1"] for r in got["per_node"]] == pytest.approx(want["per_node_f1"])
    pos, conf = want["flat"]
    assert got["au_prc"] == pytest.approx(average_precision_score(pos, conf))
    if consistent:
        assert got["hvr"] == 0.0 and got["hvr_edges"] == 0.0
    elif not partial:
        assert got["hvr"] > 0  # the random case really exercises violations


def test_macro_matches_sklearn_without_mask():
    tax, probs, targets, _ = random_case(80, 30, seed=3)
    ev = tax.eval_mask.numpy()
    p, r, f, _ = precision_recall_fscore_support(targets[:, ev], probs[:, ev] > 0.5, average=None, zero_division=0)
    got = evaluate(probs, targets, tax)
    assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p.mean(), r.mean(), f.mean()))
    mp, mr, mf, _ = precision_recall_fscore_support(targets[:, ev], probs[:, ev] > 0.5, average="micro",
                                                    zero_division=0)
    assert (got["micro_precision"], got["micro_recall"], got["micro_f1"]) == pytest.approx((mp, mr, mf))
    depth = np.asarray(tax.depth)[ev]
    for d, value in got["recall_by_depth"].items():
        assert value == pytest.approx(r[depth == int(d)].mean())


def test_au_prc_and_bin_ap_match_sklearn_and_closed_form():
    tax, probs, targets, known = random_case(70, 40, seed=11, partial=True)
    got = evaluate(probs, targets, tax, known=known)
    cells = known & tax.eval_mask.numpy()[None, :]
    y, p = targets[cells], probs[cells]
    assert got["au_prc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert got["bin_ap"] == pytest.approx(average_precision_score(y, (p > 0.5).astype(float)), abs=1e-12)
    pred = p > 0.5
    prec, rec, pi = (y * pred).sum() / pred.sum(), (y * pred).sum() / y.sum(), y.mean()
    assert got["bin_ap"] == pytest.approx(rec * prec + (1 - rec) * pi, abs=1e-12)
    # Without the mask, sklearn's micro average on the 2-D eval matrix.
    full = evaluate(probs, targets, tax)
    ev = tax.eval_mask.numpy()
    assert full["au_prc"] == pytest.approx(average_precision_score(targets[:, ev], probs[:, ev], average="micro"))


def test_per_node_ap_matches_sklearn_with_ties_and_mask():
    rng = np.random.default_rng(5)
    scores = np.round(rng.random((50, 30)), 1)  # many ties
    y = rng.random((50, 30)) < 0.3
    cells = rng.random((50, 30)) < 0.8
    y[:, 0] = False  # a column without positives
    got = per_node_average_precision(y, scores, cells)
    assert np.isnan(got[0])
    for j in range(1, 30):
        want = average_precision_score(y[cells[:, j], j], scores[cells[:, j], j])
        assert got[j] == pytest.approx(want, abs=1e-12)


def test_reliability_matches_calibration_curve():
    rng = np.random.default_rng(2)
    p = np.r_[rng.random(500), np.linspace(0, 1, 16)]  # includes values exactly on bin edges
    y = rng.random(p.size) < p
    table = reliability_table(p, y, 15)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=15, strategy="uniform")
    assert [a for a in table["accuracy"] if a is not None] == pytest.approx(prob_true)
    assert [c for c in table["confidence"] if c is not None] == pytest.approx(prob_pred)
    assert sum(table["count"]) == p.size and len(table["bin_edges"]) == 16


def test_known_mask_equals_dropping_cells(hand_tax):
    """Unknown cells are left out, not counted as negatives: masking a cell = deleting it."""
    probs, targets = np.array(HAND_PROBS), np.array(HAND_TARGETS)
    known = np.ones_like(probs, dtype=bool)
    known[3, [4, 5]] = False  # example 3 was annotated "a" only: a1/a2 unknown (its FP on a2 goes)
    m = evaluate(probs, targets, hand_tax, known=known)
    rows = {r["node"]: r for r in m["per_node"]}
    assert (rows["a2"]["tp"], rows["a2"]["fp"], rows["a2"]["fn"]) == (0, 0, 1)
    assert m["n_eval_cells"] == 18
    assert m["micro_precision"] == pytest.approx(3 / 5)
    assert m["hvr"] == pytest.approx(0.25)  # self-consistency ignores the labels
    # Closure still credits the known ancestor a of the unknown a2 prediction: α3 = {a, b}.
    assert m["h_precision"] == pytest.approx(4 / 6)


def test_torch_and_numpy_agree(hand_tax):
    probs = torch.tensor(HAND_PROBS, dtype=torch.float64, requires_grad=True)
    a = evaluate(probs, torch.tensor(HAND_TARGETS), hand_tax, known=torch.ones(4, 6, dtype=torch.bool))
    b = evaluate(np.array(HAND_PROBS), np.array(HAND_TARGETS, dtype=bool), hand_tax)
    assert json.dumps(a, allow_nan=False) == json.dumps(b, allow_nan=False)
    half = evaluate(probs.to(torch.bfloat16), torch.tensor(HAND_TARGETS, dtype=torch.bfloat16), hand_tax)
    assert half["f1"] == pytest.approx(b["f1"])  # no value crosses the threshold in bfloat16


def test_no_train_targets_omits_rare_keys(hand_tax):
    m = evaluate(np.array(HAND_PROBS), np.array(HAND_TARGETS), hand_tax)
    assert "rare_recall" not in m and "support_train" not in m["per_node"][0]


def test_rare_nodes_ties_and_edge_cases():
    idx, cutoff = rare_nodes(np.array([0, 5, 1, 1, 9, 2, 7, 3]))   # candidates 5 1 1 9 2 7 3 → ⌈7/4⌉=2nd = 1
    assert idx.tolist() == [2, 3] and cutoff == 1
    idx, cutoff = rare_nodes(np.array([4, 4, 4, 4, 4]))           # all tied → all rare
    assert idx.tolist() == [0, 1, 2, 3, 4] and cutoff == 4
    idx, cutoff = rare_nodes(np.zeros(3, dtype=int))
    assert idx.size == 0 and cutoff is None


def test_threshold_is_strict(hand_tax):
    probs = np.full((1, 6), 0.5)
    m = evaluate(probs, np.ones((1, 6)), hand_tax)
    assert m["recall"] == 0.0 and m["micro_recall"] == 0.0
    assert evaluate(probs, np.ones((1, 6)), hand_tax, threshold=0.4)["recall"] == 1.0


def test_no_positive_cells_gives_none_not_nan(hand_tax):
    targets = np.zeros((2, 6))
    targets[:, 0] = 1  # only the (unevaluated) root
    m = evaluate(np.full((2, 6), 0.3), targets, hand_tax)
    assert m["au_prc"] is None and m["bin_ap"] is None and m["recall_present"] is None
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("bad, message", [
    (lambda p, y, k: (p[:, :5], y, k), "columns"),
    (lambda p, y, k: (p, y[:3], k), "targets has shape"),
    (lambda p, y, k: (np.where(p > 0.85, np.nan, p), y, k), "NaN"),
    (lambda p, y, k: (p * 2, y, k), r"\[0, 1\]"),
    (lambda p, y, k: (p, y * 2, k), "only 0 and 1"),
    (lambda p, y, k: (p, y, k[:, :2]), "known has shape"),
    (lambda p, y, k: (p[:0], y[:0], k[:0]), "empty evaluation set"),
    (lambda p, y, k: (p, y, np.zeros_like(k)), "no known label"),
    (lambda p, y, k: (p[0], y[0], k[0]), "dimensions"),
])
def test_bad_input_raises(hand_tax, bad, message):
    p, y, k = bad(np.array(HAND_PROBS), np.array(HAND_TARGETS), np.ones((4, 6), dtype=bool))
    with pytest.raises(ValueError, match=message):
        evaluate(p, y, hand_tax, known=k)


def test_bad_train_targets_and_empty_eval_mask(hand_tax):
    with pytest.raises(ValueError, match="train_targets"):
        evaluate(np.array(HAND_PROBS), np.array(HAND_TARGETS), hand_tax, train_targets=np.ones((3, 4)))
    lonely = Taxonomy(["R"], [])
    with pytest.raises(ValueError, match="eval_mask selects no node"):
        evaluate(np.ones((2, 1)), np.ones((2, 1)), lonely)


def test_large_case_is_serialisable():
    """n = 1300 examples × N = 4130 nodes (GO-sized): every cell counted, JSON without NaN (speed: bench scripts)."""
    tax = random_taxonomy(4130, seed=0)
    rng = np.random.default_rng(0)
    targets = ancestor_closure(rng.random((1300, 4130)) < 5e-4, tax)  # checked in test_matches_naive_loops
    train = ancestor_closure(rng.random((2000, 4130)) < 5e-4, tax)
    probs = rng.random((1300, 4130), dtype=np.float32) ** 8
    m = evaluate(probs, targets, tax, train_targets=train)
    assert m["n_eval_cells"] == 1300 * 4129 and len(m["per_node"]) == 4129
    assert math.isfinite(m["au_prc"]) and 0 < m["hvr"] <= 1
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("dag", [False, True])
def test_ancestor_closure_equals_max_constraint(dag):
    tax = random_taxonomy(80, seed=9, dag=dag)
    pred = np.random.default_rng(9).random((30, 80)) < 0.05
    want = max_constraint(torch.from_numpy(pred).float(), tax).numpy() > 0.5
    assert np.array_equal(ancestor_closure(pred, tax), want)
