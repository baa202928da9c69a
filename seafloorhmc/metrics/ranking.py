"""Average precision: C-HMCNN's micro AU(PRC), its binarised variant, and per-node AP.

Micro AP treats every evaluated (example, node) cell as one binary decision ranked by a single
global threshold; scikit-learn's step-wise ``average_precision_score`` is what C-HMCNN and the
rare-node paper report, so it is used as is. Per-node AP is vectorised over nodes (one sort of the
whole matrix instead of thousands of scikit-learn calls) and checked against scikit-learn in tests.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

__all__ = ["micro_average_precision", "binary_average_precision", "per_node_average_precision"]


def micro_average_precision(y: np.ndarray, scores: np.ndarray, cells: np.ndarray) -> float | None:
    """``average_precision_score(y, scores, average="micro")`` over the cells where ``cells`` is true.

    Flattening the selected cells and scoring them as one binary problem is exactly sklearn's
    micro average.

    Args:
        y: Boolean labels [n, K].
        scores: Probabilities [n, K].
        cells: Bool [n, K], the cells scored.

    Returns:
        The AP, or None when no selected cell is positive (AP is undefined there).
    """
    y_flat = np.asarray(y)[cells]
    if not y_flat.any():
        return None
    return float(average_precision_score(y_flat, np.asarray(scores, dtype=np.float64)[cells]))


def binary_average_precision(y: np.ndarray, pred: np.ndarray, cells: np.ndarray) -> float | None:
    """Micro AP of binary predictions ("Bin. AP") over the selected cells.

    Only four (score, label) pairs exist, so sklearn is called on those four cells weighted by
    their counts: the same curve as scoring every cell (weights act as multiplicities), without
    sorting millions of cells. Equals R·P + (1−R)·π (micro recall R, precision P, positive rate π).

    Args:
        y: Boolean labels [n, K].
        pred: Boolean predictions [n, K].
        cells: Bool [n, K], the cells scored.

    Returns:
        The AP, or None without positives.
    """
    pos, pred = np.asarray(y, dtype=bool)[cells], np.asarray(pred, dtype=bool)[cells]
    if not pos.any():
        return None
    tp = np.count_nonzero(pos & pred)
    fp = np.count_nonzero(pred) - tp
    fn = np.count_nonzero(pos) - tp
    tn = pos.size - tp - fp - fn
    return float(average_precision_score([1, 0, 1, 0], [1.0, 1.0, 0.0, 0.0], sample_weight=[tp, fp, fn, tn]))


def per_node_average_precision(y: np.ndarray, scores: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """AP of each column over its selected cells: float [K], NaN where a column has no positive.

    AP = mean over positives of the precision at the *end of the tie group* holding that positive,
    which is scikit-learn's step-wise AP (tied scores form one threshold). Unselected cells get
    score -1, below every probability, so they sort last and never share a group with a positive.

    Args:
        y: Boolean labels [n, K].
        scores: Probabilities [n, K].
        cells: Bool [n, K], the cells scored.

    Returns:
        Float [K], NaN where a column has no positive.
    """
    scores = np.where(cells, scores, -1.0)
    pos = np.asarray(y, dtype=bool) & cells
    n = scores.shape[0]
    order = np.argsort(-scores, axis=0)  # tie order is irrelevant: ties form one group
    sorted_scores = np.take_along_axis(scores, order, axis=0)
    sorted_pos = np.take_along_axis(pos, order, axis=0)
    tp = np.cumsum(sorted_pos, axis=0, dtype=np.float64)
    precision = tp / np.arange(1, n + 1, dtype=np.float64)[:, None]
    rows = np.arange(n)[:, None]
    group_end = np.ones_like(sorted_scores, dtype=bool)
    group_end[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    # For each row, the first group end at or after it: a running minimum from the bottom up.
    end_row = np.minimum.accumulate(np.where(group_end, rows, n)[::-1], axis=0)[::-1]
    end_precision = np.take_along_axis(precision, end_row, axis=0)
    num_pos = tp[-1] if n else np.zeros(scores.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(num_pos > 0, (end_precision * sorted_pos).sum(0) / num_pos, np.nan)
