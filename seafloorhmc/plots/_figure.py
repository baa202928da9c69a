"""Figures without pyplot: an object-oriented ``Figure`` saved through Agg, written atomically.

Not touching pyplot keeps the library free of global backend state (safe in servers, threads and
headless training jobs); the temp file + ``os.replace`` means a reader never sees half a PNG.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..utils.atomic import atomic_path

DPI = 120
FONT = {"title": 11, "label": 9, "tick": 8, "legend": 8}


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **subplots_kw):
    """(figure, axes) with constrained layout; extra keywords go to ``Figure.subplots``."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, **subplots_kw)
    return fig, axes


def style_axes(ax, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None) -> None:
    """Title, labels, light grid, small ticks: the same look on every plot."""
    if title:
        ax.set_title(title, fontsize=FONT["title"])
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=FONT["label"])
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)


def save_png(fig: Figure, out_png: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG via a temp file and ``os.replace``; returns the final path."""
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out_png
