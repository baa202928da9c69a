"""Training curves from the per-epoch CSV log: a loss panel, a metric panel and the learning rate."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ._figure import FONT, new_figure, save_png, style_axes

__all__ = ["read_log", "log_panels", "plot_training_curves"]


def read_log(log_csv: str | Path) -> dict[str, np.ndarray]:
    """The training log's numeric columns, the data of the training curves.

    Args:
        log_csv: The per-epoch CSV log.

    Returns:
        Column → float array (blank or non-numeric cells become NaN); columns without any
        number are left out.

    Raises:
        ValueError: If the file cannot be read or has no rows.
    """
    try:
        with open(log_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise ValueError(f"cannot read training log {log_csv}: {err}") from None
    if not rows:
        raise ValueError(f"training log {log_csv} has no rows")

    def number(text) -> float:
        try:
            return float(text)
        except (TypeError, ValueError):
            return math.nan

    columns = {name: np.array([number(r.get(name)) for r in rows]) for name in rows[0] if name}
    return {name: values for name, values in columns.items() if np.isfinite(values).any()}


def _pretty(name: str) -> str:
    for old, new in (("au_prc", "AU(PRC)"), ("f1", "F1"), ("_", " ")):
        name = name.replace(old, new)
    return name


BOOKKEEPING_COLUMNS = frozenset({"epoch", "seconds", "skipped", "step", "global_step", "time"})


def log_panels(columns) -> list[tuple[str, list[str]]]:
    """Which log columns go to which panel.

    Columns containing "loss" → loss panel; ``lr`` → its own panel; bookkeeping columns (epoch,
    seconds, skipped images, …) are not curves and are left out; everything else is a metric.

    Args:
        columns: The log's column names.

    Returns:
        ``[("loss", [...]), ("metric", [...]), ("lr", ["lr"])]`` without the empty panels.
    """
    names = [c for c in columns if c not in BOOKKEEPING_COLUMNS]
    losses = [c for c in names if "loss" in c]
    metrics = [c for c in names if c not in losses and c != "lr"]
    return [p for p in (("loss", losses), ("metric", metrics), ("lr", ["lr"] if "lr" in names else [])) if p[1]]


def plot_training_curves(log_csv: str | Path, out_png: str | Path, title: str | None = None,
                         selected_epoch: float | None = None) -> Path:
    """Plot whichever of ``train_loss, val_loss, val_au_prc, val_f1, lr`` (and other metrics) the log has.

    Panels as :func:`log_panels` assigns them (loss, metrics, log-scale learning rate); the best
    epoch of each metric is starred.

    Args:
        log_csv: The per-epoch CSV log.
        out_png: Where to write the figure.
        title: Figure title; a default names the log.
        selected_epoch: The epoch whose weights were tested, drawn as a dashed vertical line.

    Returns:
        ``out_png`` as a path.

    Raises:
        ValueError: If the log cannot be read or has no column to plot.
    """
    columns = read_log(log_csv)
    x = columns.pop("epoch", None)
    length = len(next(iter(columns.values()))) if columns else 0
    x = np.arange(1, length + 1) if x is None else x
    panels = log_panels(columns)
    if not panels:
        raise ValueError(f"training log {log_csv} has no column to plot (expected e.g. train_loss, val_au_prc)")
    heights = [3 if kind != "lr" else 1.6 for kind, _ in panels]
    fig, axes = new_figure(6.5, sum(heights) + 0.5, len(panels), 1, sharex=True, squeeze=False,
                           gridspec_kw={"height_ratios": heights})
    axes = axes[:, 0]
    for ax, (kind, names) in zip(axes, panels):
        for name in names:
            values = columns[name]  # the lr panel holds the column "lr" only
            ok = np.isfinite(values)
            ax.plot(x[ok], values[ok], marker="o" if ok.sum() <= 30 else None, markersize=3,
                    linewidth=1.5, label=_pretty(name))
            if kind == "metric":
                best = np.flatnonzero(ok)[np.argmax(values[ok])]
                ax.annotate(f"{values[best]:.3f}", (x[best], values[best]), textcoords="offset points",
                            xytext=(0, 6), ha="center", fontsize=FONT["tick"])
                ax.plot(x[best], values[best], marker="*", markersize=10, color=ax.lines[-1].get_color())
        ax.margins(y=0.15)
        if selected_epoch is not None:
            ax.axvline(selected_epoch, color="grey", linestyle="--", linewidth=1, zorder=0,
                       label=f"selected epoch {selected_epoch:g}" if kind == "loss" or len(panels) == 1 else None)
        ylabel = {"loss": "loss", "metric": "validation metric", "lr": "learning rate"}[kind]
        style_axes(ax, ylabel=ylabel)
        if kind == "lr":
            lr = columns["lr"]
            if np.all(lr[np.isfinite(lr)] > 0):
                ax.set_yscale("log")
        else:
            ax.legend(fontsize=FONT["legend"], frameon=False)
    axes[0].set_title(title or f"Training curves — {Path(log_csv).name}", fontsize=FONT["title"])
    style_axes(axes[-1], xlabel="epoch")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
    if np.ptp(x) < 1:  # one epoch: autoscaling would zoom to ±5 % and tick 0.95, 0.96, …
        axes[-1].set_xlim(float(np.min(x)) - 0.5, float(np.max(x)) + 0.5)
        axes[-1].set_xticks(np.unique(x))  # the integer locator falls back to fractions on so short a range
    return save_png(fig, out_png)
