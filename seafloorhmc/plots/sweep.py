"""A metric against the training fraction, one line per method, mean over seeds with a band."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..stats import mean_ci
from ._figure import FONT, new_figure, save_png, style_axes

__all__ = ["summarise_sweep", "plot_sweep"]


def summarise_sweep(rows: Iterable[Mapping], metric: str, x: str = "fraction", hue: str = "method",
                    band: str = "std") -> dict[str, dict[str, np.ndarray]]:
    """The numbers :func:`plot_sweep` draws, so they can be tested and tabulated.

    Args:
        rows: Result rows; those without ``x`` or a finite ``metric`` are skipped.
        metric: The column on the y axis.
        x: The column on the x axis.
        hue: The column naming a line.
        band: ``"std"`` (mean ± sample standard deviation) or ``"ci95"`` (Student-t 95 % interval
            of the mean); with one run the band collapses onto the mean.

    Returns:
        Per hue value (sorted): arrays ``x`` (sorted), ``mean``, ``low``, ``high`` and ``n`` (runs).

    Raises:
        ValueError: On an unknown band, or no usable row.
    """
    if band not in ("std", "ci95"):
        raise ValueError(f"band must be 'std' or 'ci95', got {band!r}")
    groups: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        value = row.get(metric)
        if value is None or row.get(x) is None:
            continue
        value = float(value)
        if math.isfinite(value):
            groups[str(row.get(hue, ""))][float(row[x])].append(value)
    if not groups:
        raise ValueError(f"plot_sweep: no row has both {x!r} and a finite {metric!r}")
    out = {}
    for name in sorted(groups):
        xs = np.array(sorted(groups[name]))
        summaries = [mean_ci(groups[name][v]) for v in xs]
        mean = np.array([c["mean"] for c in summaries])
        count = np.array([c["n"] for c in summaries])
        if band == "std":
            sd = np.array([c["std"] for c in summaries])
            low, high = mean - sd, mean + sd
        else:
            low, high = np.array([c["ci_low"] for c in summaries]), np.array([c["ci_high"] for c in summaries])
        out[name] = {"x": xs, "mean": mean, "low": low, "high": high, "n": count}
    return out


def plot_sweep(results_rows: Iterable[Mapping], metric: str, out_png: str | Path, x: str = "fraction",
               hue: str = "method", band: str = "std", logx: bool | None = None, title: str | None = None) -> Path:
    """A metric against the training fraction: mean line with a shaded band per method.

    Args:
        results_rows: Result rows (see :func:`summarise_sweep`).
        metric: The column on the y axis.
        out_png: Where to write the figure.
        x: The column on the x axis.
        hue: The column naming a line.
        band: ``"std"`` or ``"ci95"``.
        logx: Log x axis; None picks one when x spans ≥ 20×.
        title: Figure title; a default names the metric and runs per point.

    Returns:
        ``out_png`` as a path.
    """
    summary = summarise_sweep(results_rows, metric, x, hue, band)
    all_x = np.concatenate([s["x"] for s in summary.values()])
    if logx is None:
        logx = bool(np.all(all_x > 0) and all_x.max() / all_x.min() >= 20)
    fig, ax = new_figure(6.0, 4.0)
    for name, s in summary.items():
        line = ax.plot(s["x"], s["mean"], marker="o", markersize=4, linewidth=1.6, label=name)[0]
        ax.fill_between(s["x"], s["low"], s["high"], color=line.get_color(), alpha=0.2, linewidth=0)
    if logx:
        ax.set_xscale("log")
    ticks = np.unique(all_x)
    if len(ticks) <= 10:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    seeds = sorted({int(c) for s in summary.values() for c in s["n"]})
    runs = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
    band_text = "± std" if band == "std" else "with 95 % CI"
    style_axes(ax, title=title or f"{metric} vs {x} (mean {band_text}, {runs} runs per point)",
               xlabel=x.replace("_", " "), ylabel=metric.replace("_", " "))
    ax.legend(title=hue, fontsize=FONT["legend"], title_fontsize=FONT["legend"], frameon=False)
    return save_png(fig, out_png)
