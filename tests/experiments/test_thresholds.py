import numpy as np
import pytest

from seafloorhmc.experiments.thresholds import (
    Thresholds,
    apply_thresholds,
    choose_thresholds,
    f1_curves,
    tuned_macro_f1,
)
from seafloorhmc.metrics import evaluate
from seafloorhmc.taxonomy import Taxonomy


def _data(seed=0, n=60):
    taxonomy = Taxonomy.from_paths(["a/b/c", "a/b/d", "a/e", "f/g", "f/h/i"])
    rng = np.random.default_rng(seed)
    n_nodes = len(taxonomy)
    targets = np.zeros((n, n_nodes), dtype=np.float32)
    for row in range(n):  # one or two random nodes per row, closed under ancestors
        for node in rng.choice(n_nodes, size=rng.integers(1, 3), replace=False):
            targets[row, taxonomy.ancestors(int(node))] = 1
    probs = np.clip(0.6 * targets + rng.uniform(0, 0.5, targets.shape) ** 2, 0, 1).astype(np.float32)
    known = rng.uniform(size=targets.shape) > 0.1
    return taxonomy, probs, targets, known


def test_f1_curves_match_the_metrics_at_every_candidate():
    taxonomy, probs, targets, known = _data()
    candidates = np.array([0.01, 0.05, 0.2, 0.35, 0.5, 0.8])
    f1, nodes = f1_curves(probs, targets, taxonomy.eval_mask.numpy(), known, candidates)
    assert list(nodes) == list(np.flatnonzero(taxonomy.eval_mask.numpy()))
    for j, t in enumerate(candidates):  # the dense reference: the package's metrics at threshold t
        reference = evaluate(probs, targets, taxonomy, known=known, threshold=float(t))
        assert f1[:, j].mean() == pytest.approx(reference["f1"], abs=1e-12)
        assert f1[:, j] == pytest.approx([row["f1"] for row in reference["per_node"]], abs=1e-12)


def test_chosen_thresholds_are_the_best_candidates():
    taxonomy, probs, targets, known = _data(1)
    mask, depths = taxonomy.eval_mask.numpy(), np.asarray(taxonomy.depth)
    candidates = np.round(np.arange(0.02, 0.99, 0.02), 4)
    scores = [evaluate(probs, targets, taxonomy, known=known, threshold=float(t))["f1"] for t in candidates]
    chosen = choose_thresholds(probs, targets, mask, depths, "global", known, candidates=candidates)
    assert chosen.value == candidates[int(np.argmax(scores))]
    by_depth = choose_thresholds(probs, targets, mask, depths, "depth", known, candidates=candidates)
    predicted = apply_thresholds(probs, by_depth, depths)
    best_depth = evaluate(probs, targets, taxonomy, known=known, predicted=predicted)["f1"]
    assert best_depth >= max(scores) - 1e-12  # per depth is never worse on the data it was chosen on
    for depth, value in by_depth.by_depth.items():  # and each depth's cut-off is that depth's best
        per_depth = [evaluate(probs, targets, taxonomy, known=known, threshold=float(t))["f1_by_depth"][str(depth)]
                     for t in candidates]
        assert value == candidates[int(np.argmax(per_depth))]
    assert choose_thresholds(probs, targets, mask, depths, "fixed", fixed=0.3) == Thresholds("fixed", 0.3)
    assert Thresholds.from_dict(by_depth.to_dict()) == by_depth
    with pytest.raises(ValueError, match="not one of"):
        choose_thresholds(probs, targets, mask, depths, "per-node")


def test_the_tuned_score_is_the_macro_f1_at_the_chosen_thresholds():
    taxonomy, probs, targets, known = _data(2)
    mask, depths = taxonomy.eval_mask.numpy(), np.asarray(taxonomy.depth)
    for mode in ("fixed", "global", "depth"):
        thresholds, score = tuned_macro_f1(probs, targets, mask, depths, mode, known, fixed=0.4)
        predicted = apply_thresholds(probs, thresholds, depths)
        assert score == pytest.approx(evaluate(probs, targets, taxonomy, known=known, predicted=predicted)["f1"])
