r"""Expected calibration error of per-cell probabilities, and the reliability table behind it.

Each evaluated (example, node) cell is a binary forecast p of "node present". Cells are put in
equal-width bins exactly as ``sklearn.calibration.calibration_curve(strategy="uniform")`` does
(bin k holds (e_k, e_{k+1}], the first bin also holds 0), so the per-bin confidence (mean p) and
accuracy (fraction positive) equal sklearn's ``prob_pred`` / ``prob_true``; counts are needed for
ECE and the histogram, which sklearn does not return. ECE = Σ_bins \|acc − conf\| · count / total.
"""

from __future__ import annotations

import numpy as np

__all__ = ["reliability_table", "ece_from_table"]


def reliability_table(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> dict:
    """The reliability diagram's data: per-bin confidence, accuracy and count.

    Args:
        p: Probabilities, any shape (flattened).
        y: Outcomes {0, 1}, same size as p.
        n_bins: Number of equal-width bins on [0, 1].

    Returns:
        ``bin_edges``, ``confidence`` and ``accuracy`` (None for empty bins) and ``count`` per bin.

    Raises:
        ValueError: If ``n_bins`` < 1 or there are no cells.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p = np.asarray(p, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError("reliability_table: no cells to bin")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], p)
    count = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=p, minlength=n_bins)
    pos_sum = np.bincount(bins, weights=y, minlength=n_bins)
    conf = [float(s / c) if c else None for s, c in zip(conf_sum, count)]
    acc = [float(s / c) if c else None for s, c in zip(pos_sum, count)]
    return {"bin_edges": edges.tolist(), "confidence": conf, "accuracy": acc, "count": count.tolist()}


def ece_from_table(table: dict) -> float:
    r"""Expected calibration error of a reliability table.

    Args:
        table: The output of :func:`reliability_table`.

    Returns:
        Σ \|acc − conf\| · count / total over the non-empty bins.

    Raises:
        ValueError: If the table counts no cell.
    """
    count = np.asarray(table["count"], dtype=np.float64)
    total = count.sum()
    if total == 0:
        raise ValueError("reliability table has no counts")
    gaps = [abs(a - c) * n for a, c, n in zip(table["accuracy"], table["confidence"], count) if n]
    return float(sum(gaps) / total)
