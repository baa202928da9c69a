"""Figures of a hyper-parameter search: optimisation history, parameter importances, validation curves.

Drawn with matplotlib from the trial table (Optuna's own figures need plotly, which this project
does not install). Rows are ``seafloorhmc tune``'s ``trials.csv`` rows: ``trial``, ``state``,
``value`` and ``curve`` (JSON: epoch → validation value).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._figure import new_figure, save_png, style_axes

__all__ = ["plot_optimisation_history", "plot_param_importances", "plot_validation_curves"]


def plot_optimisation_history(rows: Sequence[Mapping], out_png: str | Path, metric: str = "validation macro F1",
                              reference: float | None = None) -> Path:
    """Each finished trial's value in trial order, the best so far as a step line.

    Args:
        rows: Trial rows (``trial``, ``state``, ``value``; infeasible ones have ``feasible`` false).
        out_png: The PNG to write.
        metric: The y-axis label.
        reference: A horizontal reference line (the default configuration's value at its own threshold).

    Returns:
        ``out_png``.
    """
    done = sorted((r for r in rows if r.get("state") == "complete" and r.get("value") is not None),
                  key=lambda r: r["trial"])
    fig, ax = new_figure(6.4, 3.6)
    x = [r["trial"] for r in done]
    y = [float(r["value"]) for r in done]
    feasible = [r.get("feasible") is not False for r in done]
    ax.scatter([a for a, f in zip(x, feasible) if f], [b for b, f in zip(y, feasible) if f], s=18,
               color="#1f77b4", label="trial", zorder=3)
    if not all(feasible):
        ax.scatter([a for a, f in zip(x, feasible) if not f], [b for b, f in zip(y, feasible) if not f], s=18,
                   color="#bbbbbb", label="trial (AU(PRC) below tolerance)", zorder=3)
    best, best_y = -np.inf, []
    for value, ok in zip(y, feasible):
        best = max(best, value) if ok else best
        best_y.append(best if np.isfinite(best) else np.nan)
    last = max([r["trial"] for r in rows] or [0])
    if x:  # the best so far runs on to the last trial (pruned ones included)
        ax.step([*x, last], [*best_y, best_y[-1]], where="post", color="#d62728", label="best so far")
    if reference is not None:
        ax.axhline(reference, color="#2ca02c", linestyle="--", linewidth=1, label="default at its own threshold")
    pruned = [r["trial"] for r in rows if r.get("state") == "pruned"]
    if pruned:
        ax.scatter(pruned, [ax.get_ylim()[0]] * len(pruned), marker="x", color="#7f7f7f", s=16,
                   label=f"pruned ({len(pruned)})", clip_on=False, zorder=3)
    style_axes(ax, "Optimisation history", "trial", metric)
    ax.legend(fontsize=8, loc="lower right")
    return save_png(fig, out_png)


def plot_param_importances(importances: Mapping[str, float], out_png: str | Path,
                           title: str = "Parameter importances") -> Path:
    """Horizontal bars, most important on top.

    Args:
        importances: Parameter → importance (Optuna's, summing to 1).
        out_png: The PNG to write.
        title: The figure title.

    Returns:
        ``out_png``.
    """
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = new_figure(6.4, 0.5 + 0.35 * max(1, len(items)))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#1f77b4")
    for i, (_, value) in enumerate(items):
        ax.text(value, i, f" {value:.2f}", va="center", fontsize=8)
    style_axes(ax, title, "importance (fANOVA)", None)
    ax.set_xlim(0, max([v for _, v in items] + [0.01]) * 1.15)
    return save_png(fig, out_png)


def plot_validation_curves(rows: Sequence[Mapping], out_png: str | Path,
                           metric: str = "validation macro F1") -> Path:
    """Every trial's per-epoch validation value (what the pruner sees); pruned trials dashed.

    Args:
        rows: Trial rows with ``curve`` (JSON text or a mapping epoch → value) and ``state``.
        out_png: The PNG to write.
        metric: The y-axis label.

    Returns:
        ``out_png``.
    """
    fig, ax = new_figure(6.4, 3.6)
    for row in rows:
        curve = row.get("curve")
        curve = json.loads(curve) if isinstance(curve, str) and curve else (curve or {})
        if not curve:
            continue
        epochs = sorted(int(k) for k in curve)
        pruned = row.get("state") == "pruned"
        ax.plot([e + 1 for e in epochs], [curve[str(e)] if str(e) in curve else curve[e] for e in epochs],
                linestyle="--" if pruned else "-", linewidth=0.9, alpha=0.5 if pruned else 0.8,
                color="#7f7f7f" if pruned else None)
    style_axes(ax, "Validation curves (dashed: pruned)", "epoch", metric)
    return save_png(fig, out_png)
