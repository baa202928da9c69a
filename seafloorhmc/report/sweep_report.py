"""The report of a sweep: one metric-vs-training-fraction picture per metric and the mean ± std table.

Input is the sweep's tidy results CSV (:mod:`seafloorhmc.utils.tables`): one row per run with
``method``, ``fraction``, ``seed`` and metric columns (empty cells: the run has no such number).
Aggregation is :func:`plots.summarise_sweep`, the same numbers the pictures draw, so the table and
the bands cannot disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from .. import plots
from ..data.tables import normalise_column
from ..utils.tables import read_table
from .html import figure, note, page, section, table, write_html

__all__ = ["write_sweep_report", "read_results", "SweepTableError"]

log = logging.getLogger(__name__)

PLOTS_DIR = "plots"


class SweepTableError(ValueError):
    """A results table that cannot be drawn; the message names the file, row and column."""


def read_results(results_csv: str | Path, metrics: Sequence[str], x: str = "fraction",
                 hue: str = "method") -> tuple[list[str], list[dict]]:
    """(header, rows) of a results table, checked to have ``x`` and ``hue`` and numbers where drawn.

    Args:
        results_csv: The table (:func:`seafloorhmc.utils.tables.read_table`).
        metrics: Metric columns to be drawn (absent ones are simply not in the rows).
        x: The x-axis column (must be numeric in every row).
        hue: The column whose values get one line each.

    Returns:
        The header and the typed rows.

    Raises:
        SweepTableError: Naming the file, row (header = 1) and column of a missing column, an empty
            or non-numeric x, or a non-numeric metric.
    """
    rows = read_table(results_csv)
    if not rows:
        raise SweepTableError(f"{results_csv}: no result rows")
    header = list(rows[0])
    for column in (hue, x):
        if column not in header:
            raise SweepTableError(f"{results_csv}:1: missing column {column!r} (header has "
                                  f"{', '.join(map(repr, header))})")
    for line, row in enumerate(rows, start=2):
        for column in (x, *metrics):
            value = row.get(column)
            if column == x and value is None:
                raise SweepTableError(f"{results_csv}:{line}, column {x!r}: empty x value")
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise SweepTableError(f"{results_csv}:{line}, column {column!r}: {value!r} is not a number")
    return header, rows


def _mean_std(rows: Sequence[dict], metric: str, x: str,
              hue: str) -> dict[tuple[str, float], tuple[float, float, int]]:
    """(hue value, x) → (mean, sample std, runs) of ``metric``: the numbers the pictures draw."""
    summary = plots.summarise_sweep(rows, metric, x=x, hue=hue, band="std")
    return {(name, float(xv)): (float(m), float(hi - m), int(n))
            for name, s in summary.items() for xv, m, hi, n in zip(s["x"], s["mean"], s["high"], s["n"])}


def _cell(stats: tuple[float, float, int] | None, runs: int) -> str:
    if stats is None:
        return "–"
    mean, std, n = stats
    return f"{mean:.4f} ± {std:.4f}" + (f" (n={n})" if n != runs else "")


def write_sweep_report(results_csv: str | Path, out_dir: str | Path,
                       metrics: Sequence[str] = ("f1", "recall", "au_prc"), x: str = "fraction",
                       hue: str = "method", band: str = "std") -> Path:
    """The report of a sweep: a picture per metric and the mean ± std table.

    Writes ``out_dir/plots/sweep_<metric>.png`` (metric vs ``x`` per ``hue``, mean line with a
    band) and ``out_dir/report.html``. A metric the CSV lacks is noted on the page; a picture that
    fails is noted and logged, not raised.

    Args:
        results_csv: The sweep's tidy results CSV.
        out_dir: Folder of the report.
        metrics: Metric columns to draw and tabulate.
        x: The x-axis column.
        hue: The column whose values get one line each.
        band: ``"std"`` (±std) or ``"ci95"`` (95 % CI).

    Returns:
        The path of ``report.html``.

    Raises:
        SweepTableError: If the table is malformed or has none of ``metrics``.
    """
    results_csv, out_dir = Path(results_csv), Path(out_dir)
    x, hue = normalise_column(x), normalise_column(hue)
    metrics = [normalise_column(m) for m in metrics]
    header, rows = read_results(results_csv, metrics, x, hue)
    present = [m for m in metrics if m in header and any(r.get(m) is not None for r in rows)]
    if not present:
        raise SweepTableError(f"{results_csv}: none of the metrics {', '.join(map(repr, metrics))} has a value "
                              f"(header has {', '.join(map(repr, header))})")
    figures = []
    for metric in metrics:
        if metric not in present:
            figures.append(note(f"{metric}: not in {results_csv.name}."))
            continue
        try:
            png = plots.plot_sweep(rows, metric, out_dir / PLOTS_DIR / f"sweep_{metric}.png", x=x, hue=hue, band=band)
            spread = "± one standard deviation" if band == "std" else "95 % confidence interval"
            figures.append(figure(f"{PLOTS_DIR}/{png.name}", f"{metric} against {x} per {hue}: mean over seeds, "
                                  f"band {spread}.", alt=f"{metric} vs {x}"))
        except Exception as err:  # noqa: BLE001 - one bad picture must not cost the report
            log.warning("sweep report %s: the %s picture could not be drawn: %s", out_dir, metric, err)
            figures.append(note(f"{metric}: could not be drawn — {type(err).__name__}: {err}", missing=True))
    stats = {m: _mean_std(rows, m, x, hue) for m in present}
    runs: dict[tuple[str, float], int] = {}
    for row in rows:
        key = (str(row.get(hue, "")), float(row[x]))
        runs[key] = runs.get(key, 0) + 1
    keys = sorted(runs)
    body = [(name, f"{xv:g}", runs[(name, xv)], *(_cell(stats[m].get((name, xv)), runs[(name, xv)]) for m in present))
            for name, xv in keys]
    summary = table((hue, x, "runs", *present), body, table_id="aggregate",
                    caption=f"mean ± sample standard deviation over runs ({len(rows)} runs)")
    subtitle = f"{results_csv.resolve()} · {len(rows)} runs · {len({k[0] for k in keys})} {hue} values"
    text = page(f"Sweep report — {results_csv.parent.name or results_csv.name}", subtitle,
                section("Pictures", '<div class="figures">' + "\n".join(figures) + "</div>", section_id="pictures"),
                section("Mean ± std per method and fraction", summary, section_id="aggregate-section"))
    return write_html(out_dir / "report.html", text)
