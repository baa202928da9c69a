"""Recall and F1 by taxonomy depth, for one run or several side by side (baseline vs rare-node loss)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._figure import FONT, new_figure, save_png, style_axes

__all__ = ["plot_by_depth", "STACK_ABOVE"]

STACK_ABOVE = 8  # more bars per panel than this: recall above F1 instead of side by side


def plot_by_depth(
    metrics: Mapping,
    out_png: str | Path,
    compare: Mapping | None = None,
    labels: Sequence[str] = ("run", "comparison"),
    title: str | None = None,
) -> Path:
    """Two panels (recall, F1) with one bar per run at every depth, values printed on the bars.

    Args:
        metrics: A :func:`seafloorhmc.metrics.evaluate` dict; tick labels give the number of
            evaluated nodes at each depth when it has ``n_nodes_by_depth``.
        out_png: Where to write the figure.
        compare: Optional second run's dict, drawn beside the first.
        labels: Legend labels of the runs.
        title: Figure title, if any.

    Returns:
        ``out_png`` as a path.

    Raises:
        ValueError: If a dict lacks the by-depth metrics or there are fewer labels than runs.
    """
    runs = [metrics] + ([compare] if compare is not None else [])
    for run in runs:
        for key in ("recall_by_depth", "f1_by_depth"):
            if not isinstance(run.get(key), Mapping) or not run[key]:
                raise ValueError(f"plot_by_depth: metrics dict has no {key!r} (pass evaluate()'s output)")
    if len(labels) < len(runs):
        raise ValueError(f"plot_by_depth: {len(runs)} runs but {len(labels)} labels")
    depths = sorted({int(d) for run in runs for d in run["recall_by_depth"]})
    counts = metrics.get("n_nodes_by_depth", {})
    ticks = [f"depth {d}" + (f"\n{counts[str(d)]} nodes" if str(d) in counts else "") for d in depths]
    width = 0.8 / len(runs)
    bars_per_panel = len(depths) * len(runs)
    if bars_per_panel > STACK_ABOVE:  # deep taxonomies: panels one above the other, or the page must scroll
        fig, axes = new_figure(min(14.5, max(6.0, 0.6 * bars_per_panel + 2)), 6.4, 2, 1, sharex=True)
    else:
        fig, axes = new_figure(max(6.0, 1.2 * bars_per_panel + 2), 3.4, 1, 2, sharey=True)
    colors = ["#4C72B0", "#DD8452"]
    for ax, (key, name) in zip(axes, (("recall_by_depth", "Recall"), ("f1_by_depth", "F1"))):
        for r, (run, label) in enumerate(zip(runs, labels)):
            values = np.array([run[key].get(str(d), np.nan) for d in depths], dtype=float)
            pos = np.arange(len(depths)) + (r - (len(runs) - 1) / 2) * width
            bars = ax.bar(pos, np.nan_to_num(values), width * 0.95, label=label, color=colors[r % 2])
            if len(depths) * len(runs) <= 24:
                ax.bar_label(bars, labels=[f"{v:.2f}" if np.isfinite(v) else "–" for v in values],
                             fontsize=FONT["tick"] - 1, padding=1)
        ax.set_xticks(np.arange(len(depths)), ticks)
        stacked = bars_per_panel > STACK_ABOVE
        style_axes(ax, title=f"{name} by depth (macro over nodes)",
                   ylabel=name if stacked or key.startswith("recall") else None)
        ax.set_ylim(0, 1.08)
    if compare is not None:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(runs),
                   fontsize=FONT["legend"], frameon=False)
    if title:
        fig.suptitle(title, fontsize=FONT["title"] + 1)
    return save_png(fig, out_png)
