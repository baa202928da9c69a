"""Figures without pyplot: an object-oriented ``Figure`` saved through Agg, written atomically.

Not touching pyplot keeps the library free of global backend state (safe in servers, threads and
headless training jobs); the temp file + ``os.replace`` means a reader never sees half a PNG.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..utils.atomic import atomic_path

__all__ = ["DPI", "FONT", "new_figure", "style_axes", "save_png"]

DPI = 120
FONT = {"title": 11, "label": 9, "tick": 8, "legend": 8}


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **subplots_kw):
    """A pyplot-free figure with constrained layout, the starting point of every plot.

    Args:
        width: Width in inches.
        height: Height in inches.
        nrows: Rows of axes.
        ncols: Columns of axes.
        **subplots_kw: Passed to ``Figure.subplots`` (``sharex``, ``gridspec_kw``, ...).

    Returns:
        (figure, axes), the axes as ``Figure.subplots`` returns them.
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, **subplots_kw)
    return fig, axes


def style_axes(ax, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None) -> None:
    """Title, labels, light grid, small ticks: the same look on every plot.

    Args:
        ax: The axes to style.
        title: Axes title, if any.
        xlabel: x-axis label, if any.
        ylabel: y-axis label, if any.
    """
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
    """Write ``fig`` as PNG via a temp file and ``os.replace``, so no reader sees half a file.

    Args:
        fig: The figure.
        out_png: Where to write it.
        dpi: Resolution.

    Returns:
        The final path.
    """
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out_png
