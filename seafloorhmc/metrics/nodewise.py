"""Per-node precision / recall / F1 with the rare-node paper's conventions, and their averages.

Conventions of Xu et al. 2026 (released code DalhousieAI/Hierarchical_Multi-Label_Imb_Focal_Weighted_Loss,
``node_f1``): per node, from TP/FP/FN counted on ŷ = [p > threshold];
precision := 0 when TP + FP = 0, recall := 0 when TP + FN = 0, F1 := 0 when P + R = 0. Macro
scores are the unweighted mean over *all* evaluated nodes, so a node without test positives pulls
recall and F1 down (that is how the paper's numbers were produced). The ``*_present`` variants
average only over nodes with at least one positive test example, for a view that is not capped
by the test split's coverage.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["confusion_counts", "prf", "macro", "micro_prf", "by_depth", "rare_nodes"]


def confusion_counts(pred: np.ndarray, y: np.ndarray,
                     cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-node confusion counts over the cells that count.

    Args:
        pred: Boolean predictions [n, K].
        y: Boolean labels [n, K].
        cells: Bool [n, K]; only cells where it is true are counted.

    Returns:
        (TP, FP, FN) per column.
    """
    pred = pred & cells
    pos = y & cells
    tp = (pred & pos).sum(0)
    return tp, pred.sum(0) - tp, pos.sum(0) - tp


def prf(tp, fp, fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 with every 0/0 set to 0.

    Args:
        tp: True positives (array-like).
        fp: False positives.
        fn: False negatives.

    Returns:
        (precision, recall, F1) float arrays.
    """
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def macro(values: np.ndarray, select: np.ndarray | None = None) -> float | None:
    """Unweighted mean over the selected nodes.

    Args:
        values: One value per node.
        select: Optional bool mask or index array of the nodes to average.

    Returns:
        The mean, or None when no node is selected.
    """
    values = np.asarray(values, dtype=np.float64)
    if select is not None:
        values = values[select]
    return float(values.mean()) if values.size else None


def micro_prf(tp, fp, fn) -> tuple[float, float, float]:
    """Precision, recall, F1 from counts pooled over all nodes (same 0/0 conventions).

    Args:
        tp: True positives per node.
        fp: False positives per node.
        fn: False negatives per node.

    Returns:
        (precision, recall, F1).
    """
    p, r, f = prf(np.sum(tp), np.sum(fp), np.sum(fn))
    return float(p), float(r), float(f)


def by_depth(values: np.ndarray, depths: np.ndarray) -> dict[str, float]:
    """Macro value per depth, to see how scores fall with depth.

    Args:
        values: One value per node.
        depths: Each node's depth.

    Returns:
        Keys ``str(depth)`` in increasing depth (JSON-friendly) → mean value.
    """
    values, depths = np.asarray(values, dtype=np.float64), np.asarray(depths)
    return {str(int(d)): float(values[depths == d].mean()) for d in np.unique(depths)}


def rare_nodes(train_counts: np.ndarray, quantile: float = 0.25) -> tuple[np.ndarray, int | None]:
    """Positions of the rarest nodes by training count, and the count cutoff.

    Candidates are the nodes with at least one training positive (a node never seen in training
    is "absent", not rare). Sorted by count, the cutoff is the count of the ⌈quantile·K⌉-th rarest
    of the K candidates, and every candidate with count ≤ cutoff is rare. Ties at the cutoff are
    all included, so the choice never depends on node order and the set can exceed a quarter.

    Args:
        train_counts: Training positives per node.
        quantile: Share of the candidates that is rare.

    Returns:
        (positions of the rare nodes, the count cutoff); (empty array, None) when there is no
        candidate.
    """
    counts = np.asarray(train_counts)
    candidates = np.flatnonzero(counts > 0)
    if candidates.size == 0:
        return candidates, None
    k = max(1, math.ceil(quantile * candidates.size))
    cutoff = int(np.sort(counts[candidates])[k - 1])
    return candidates[counts[candidates] <= cutoff], cutoff
