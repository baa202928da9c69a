"""Micro precision–recall curve and reliability diagram of cell probabilities."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from ..metrics.calibration import ece_from_table
from ..metrics.inputs import as_numpy, check_binary, check_probs
from ._figure import FONT, new_figure, save_png, style_axes

__all__ = ["plot_pr_curve", "plot_reliability"]

MAX_CURVE_POINTS = 4000


def plot_pr_curve(probs, targets, eval_mask, out_png: str | Path, known=None, threshold: float = 0.5,
                  title: str | None = None) -> Path:
    """Pooled (micro) PR curve over evaluated known cells; AU(PRC) in the legend.

    The operating point ŷ = p > threshold and the no-skill level π are drawn for reference.

    Args:
        probs: Probabilities [n, N].
        targets: {0, 1} targets [n, N].
        eval_mask: Bool [N], the evaluated nodes.
        out_png: Where to write the figure.
        known: Optional bool [n, N] of known cells.
        threshold: The operating point drawn.
        title: Figure title; a default names the number of cells.

    Returns:
        ``out_png`` as a path.

    Raises:
        ValueError: On inputs of the wrong shape or values, or no positive evaluated cell.
    """
    p = check_probs(probs)
    y = check_binary(targets, "targets", p.shape)
    mask = as_numpy(eval_mask, "eval_mask").astype(bool)
    if mask.shape != (p.shape[1],):
        raise ValueError(f"eval_mask has shape {mask.shape}, expected ({p.shape[1]},)")
    cells = np.broadcast_to(mask, p.shape)
    if known is not None:
        cells = cells & check_binary(known, "known", p.shape)
    y_flat, p_flat = y[cells], p[cells]
    if not y_flat.any():
        raise ValueError("plot_pr_curve: no positive evaluated cell, the PR curve is undefined")
    precision, recall, _ = precision_recall_curve(y_flat, p_flat)
    ap = average_precision_score(y_flat, p_flat)
    if len(recall) > MAX_CURVE_POINTS:  # keep the file small; the step shape survives
        keep = np.unique(np.linspace(0, len(recall) - 1, MAX_CURVE_POINTS).astype(int))
        precision, recall = precision[keep], recall[keep]
    pi = y_flat.mean()
    pred = p_flat > threshold
    tp = np.count_nonzero(pred & y_flat)
    fig, ax = new_figure(5.0, 4.2)
    ax.step(recall, precision, where="post", linewidth=1.6, label=f"AU(PRC) = {ap:.3f}")
    ax.axhline(pi, color="grey", linestyle="--", linewidth=1, label=f"no skill (π = {pi:.3f})")
    if pred.any():
        ax.plot(tp / y_flat.sum(), tp / pred.sum(), "o", color="crimson", markersize=6,
                label=f"p > {threshold:g}: P={tp / pred.sum():.2f}, R={tp / y_flat.sum():.2f}")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    style_axes(ax, title=title or f"Micro precision–recall ({cells.sum():,} cells)", xlabel="recall",
               ylabel="precision")
    ax.legend(fontsize=FONT["legend"], loc="lower left", frameon=True)
    return save_png(fig, out_png)


def plot_reliability(metrics_or_reliability: Mapping, out_png: str | Path, title: str | None = None) -> Path:
    """Reliability diagram (fraction positive vs mean p per bin, with the diagonal) over a count histogram.

    Args:
        metrics_or_reliability: :func:`seafloorhmc.metrics.evaluate`'s dict or its
            ``reliability`` table; ECE in the title is recomputed from the table, so both inputs
            give the same figure.
        out_png: Where to write the figure.
        title: Figure title; a default gives the ECE.

    Returns:
        ``out_png`` as a path.

    Raises:
        ValueError: If the input holds no reliability table.
    """
    table = metrics_or_reliability.get("reliability", metrics_or_reliability)
    if not all(k in table for k in ("bin_edges", "confidence", "accuracy", "count")):
        raise ValueError("plot_reliability: expected evaluate()'s dict or its 'reliability' table")
    edges = np.asarray(table["bin_edges"], dtype=float)
    count = np.asarray(table["count"], dtype=float)
    filled = count > 0
    conf = np.array([c if c is not None else np.nan for c in table["confidence"]], dtype=float)
    acc = np.array([a if a is not None else np.nan for a in table["accuracy"]], dtype=float)
    ece = ece_from_table(table)
    lefts, widths = edges[:-1], np.diff(edges)
    fig, (top, bottom) = new_figure(5.0, 5.6, 2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    top.bar(lefts[filled], acc[filled], widths[filled], align="edge", color="#4C72B0", alpha=0.45,
            edgecolor="white", label="fraction positive per bin")
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1.2, zorder=3, label="perfect calibration")
    top.plot(conf[filled], acc[filled], "o-", color="black", markersize=4, linewidth=1.2, zorder=4,
             label="(mean p, fraction positive)")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    style_axes(top, title=title or f"Reliability — ECE = {ece:.4f} ({len(count)} bins)", ylabel="fraction positive")
    top.legend(fontsize=FONT["legend"] - 1, loc="upper left", frameon=False)
    bottom.bar(lefts, np.where(filled, count, np.nan), widths, align="edge", color="#55A868", edgecolor="white")
    if filled.any() and count[filled].max() / max(count[filled].min(), 1) > 50:
        bottom.set_yscale("log")
    style_axes(bottom, xlabel="predicted probability p", ylabel="cells")
    return save_png(fig, out_png)
