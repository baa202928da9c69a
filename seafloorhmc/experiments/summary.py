"""A sweep's ``summary.md``: mean ± std tables with 95 % intervals, paired tests, Friedman–Nemenyi, figures.

Also ``aggregate.csv`` and ``comparisons.csv`` next to it, the metric-vs-x figures under ``plots/``
and, for a single method axis along one x axis, the sweep's ``report.html``. The numbers come
from :mod:`seafloorhmc.stats`; this module only lays them out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import cast

from ..plots import plot_sweep
from ..report import write_sweep_report
from ..stats import (
    ALPHA,
    DEFAULT_METRICS,
    aggregate,
    better_sign,
    friedman_nemenyi,
    group_rows,
    number,
    paired_comparisons,
)
from ..utils.atomic import write_text
from ..utils.tables import write_table

__all__ = ["summary_axes", "write_summary", "write_sweep_summary"]

log = logging.getLogger(__name__)


def _distinct(rows: Sequence[Mapping], column: str) -> list:
    return list(dict.fromkeys(r.get(column) for r in rows if column in r))


def summary_axes(rows: Sequence[Mapping], columns: Sequence[str], x: str | None = None) -> dict:
    """Which axis columns play which part: method, seed, x (tables and plots run along it) and panels.

    ``x`` defaults to the first numeric axis with several values other than seed and dataset;
    panels are the other axes with several values (each gets its own table and figure).

    Args:
        rows: The results table.
        columns: Its grid-axis columns.
        x: The x axis column (None: chosen as above).

    Returns:
        ``{"method", "seed", "x", "panels", "columns"}`` (None where a part is absent).

    Raises:
        ValueError: ``x`` is not one of ``columns``.
    """
    columns = list(columns)
    method = "method" if "method" in columns else None
    seed = "seed" if "seed" in columns else None
    if x is not None and x not in columns:
        raise ValueError(f"summary x axis {x!r} is not a grid axis ({', '.join(columns)})")
    if x is None:
        x = next((c for c in columns if c not in (method, seed, "dataset") and len(_distinct(rows, c)) > 1
                  and all(number(v) is not None for v in _distinct(rows, c))), None)
    panels = [c for c in columns if c not in (method, seed, x) and len(_distinct(rows, c)) > 1]
    return {"method": method, "seed": seed, "x": x, "panels": panels, "columns": columns}


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def _md_table(headers: Sequence[str], body: Iterable[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return lines + [""]


def _panel_title(panel: tuple, names: Sequence[str]) -> str:
    return ", ".join(f"{n} = {v}" for n, v in zip(names, panel))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def write_sweep_summary(rows: Sequence[Mapping], out: str | Path, spec, command: str | None = None) -> Path:
    """:func:`write_summary` with the axes, baseline, metrics and x axis a sweep spec names.

    Args:
        rows: The results table.
        out: The sweep's output folder.
        spec: The :class:`~seafloorhmc.experiments.grid.SweepSpec`.
        command: The command line that regenerates the summary (quoted under every figure).

    Returns:
        The path of ``summary.md``.
    """
    columns = spec.columns()
    x = spec.summary.get("x")
    return write_summary(rows, out, list(columns.values()), baseline=spec.baseline,
                         x=columns.get(x, x) if x is not None else None, metrics=spec.summary.get("metrics"),
                         name=spec.name, command=command, unpaired=spec.summary.get("unpaired") or ())


def write_summary(rows: Sequence[Mapping], out: str | Path, columns: Sequence[str], baseline: str | None = None,
                  x: str | None = None, metrics: Sequence[str] | None = None, name: str = "sweep",
                  command: str | None = None, unpaired: Sequence[str] = ()) -> Path:
    """``summary.md`` (+ ``aggregate.csv``, ``comparisons.csv``, ``plots/*.png``) for a results table.

    ``columns`` are the grid-axis columns of ``rows``; ``baseline`` defaults to the first method;
    ``command`` (the command line that regenerates everything) is quoted under every figure.
    ``unpaired`` methods ran on other rows than the baseline (e.g. a filtered training or test
    set): they appear in the tables and figures but in no paired test.

    Args:
        rows: The results table.
        out: The output folder.
        columns: The grid-axis columns of ``rows``.
        baseline: The method every other is tested against (default: the first).
        x: The axis tables and plots run along (default: see :func:`summary_axes`).
        metrics: The metrics to summarise (default ``DEFAULT_METRICS``; absent ones are dropped).
        name: The title.
        command: The command line that regenerates everything.
        unpaired: Methods left out of the paired tests.

    Returns:
        The path of ``summary.md``.

    Raises:
        ValueError: ``baseline`` is not in the table or is listed in ``unpaired``; ``x`` is not an axis.
    """
    out = Path(out)
    axes = summary_axes(rows, columns, x)
    method, x, panels = axes["method"], axes["x"], axes["panels"]
    methods = _distinct(rows, method) if method else [None]
    if method:
        if baseline is not None and baseline not in methods:
            raise ValueError(f"baseline method {baseline!r} is not in the table "
                             f"(methods: {', '.join(map(str, methods))})")
        baseline = baseline or methods[0]
        if baseline in unpaired:
            raise ValueError(f"summary.unpaired names the baseline {baseline!r}: every test pairs with it")
        unpaired = [m for m in unpaired if m in methods]  # methods without finished cells need no note
    reference = cast(str, baseline)  # the paired tests run only with a method column, which sets it
    tested = [r for r in rows if not method or r.get(method) not in set(unpaired)]  # rows of the paired tests
    metrics = [m for m in (metrics or DEFAULT_METRICS) if any(number(r.get(m)) is not None for r in rows)]
    regenerate = f"`{command}`" if command else f"`seafloorhmc sweep SWEEP.yaml --out {out} --stats-only`"
    levels = _distinct(rows, x) if x else [None]
    group_cols = [c for c in (*panels, x) if c]
    unit_cols = [c for c in axes["columns"] if c not in (method, *group_cols)]
    pooled_units = [c for c in axes["columns"] if c != method]
    seeds = len(_distinct(rows, axes["seed"])) if axes["seed"] else 1

    lines = [f"# Sweep summary: {name}", "",
             f"{len(rows)} finished cells. Axes: {', '.join(axes['columns']) or 'none'}."
             + (f" Baseline: **{baseline}**." if baseline is not None else ""),
             f"Tables and figures regenerate with {regenerate}.", "",
             "Cells: mean ± sample std over the runs of each cell group, [Student-t 95 % interval of the mean]."]
    if method:
        lines += [f"▲ / ▼: better / worse than {baseline} by a two-sided Wilcoxon signed-rank test paired by "
                  f"{', '.join(unit_cols) or 'run'} within the column, Holm-corrected over all columns and methods of "
                  f"the metric, α = {ALPHA}."]
        first = paired_comparisons(tested, metrics[0], reference, method, unit_cols, group_cols) if metrics else []
        n_pairs = max([c["n"] for c in first] or [0])
        if n_pairs and 2.0 / 2 ** n_pairs > ALPHA:
            lines += [f"With {n_pairs} pairs per column the smallest two-sided p a signed-rank test can reach is "
                      f"{2.0 / 2 ** n_pairs:.3f} > {ALPHA}, so no column can be marked; the pooled tests below pair "
                      f"over {', '.join(pooled_units)} instead."]
        if unpaired:
            lines += [f"Not in any paired test (they ran on other rows than {baseline}; `summary.unpaired`): "
                      f"{', '.join(unpaired)}."]
    lines.append("")

    all_aggregates, all_comparisons = [], []
    plots_dir = out / "plots"
    for metric in metrics:
        lines += [f"## {metric}" + (" (lower is better)" if better_sign(metric) < 0 else ""), ""]
        aggregates = aggregate(rows, metric, [c for c in (*panels, method, x) if c])
        all_aggregates += aggregates
        per_level = paired_comparisons(tested, metric, reference, method, unit_cols, group_cols) if method else []
        pooled = paired_comparisons(tested, metric, reference, method, pooled_units) if method else []
        all_comparisons += [{**c, "scope": "per level"} for c in per_level] + [{**c, "scope": "pooled"} for c in pooled]
        marks = {(tuple(c.get(p) for p in panels), c["method"], c.get(x) if x else None):
                 ("▲" if c["better"] else "▼") for c in per_level if c["better"] is not None}
        for panel in group_rows(rows, panels):
            if panels:
                lines += [f"### {_panel_title(panel, panels)}", ""]
            body = []
            for m in methods:
                cells = []
                for level in levels:
                    match = next((a for a in aggregates if all(a.get(p) == v for p, v in zip(panels, panel))
                                  and (not method or a.get(method) == m) and (not x or a.get(x) == level)), None)
                    if match is None or match["n"] == 0:
                        cells.append("–")
                        continue
                    text = (f"{_fmt(match['mean'])} ± {_fmt(match['std'])} "
                            f"[{_fmt(match['ci_low'])}, {_fmt(match['ci_high'])}]")
                    mark = marks.get((panel, m, level if x else None))
                    cells.append(text + (f" {mark}" if mark else ""))
                body.append([m if m is not None else "all", *cells])
            headers = [method or "", *([f"{x} = {lv}" for lv in levels] if x else ["all runs"])]
            lines += _md_table(headers, body)
            if x:
                panel_rows = [r for r in rows if all(r.get(p) == v for p, v in zip(panels, panel))]
                suffix = ("__" + _slug(_panel_title(panel, panels))) if panels else ""
                png = plot_sweep(panel_rows, metric, plots_dir / f"{_slug(metric)}{suffix}.png", x=x,
                                 hue=method or "cell", band="std",
                                 title=f"{metric} vs {x}" + (f" ({_panel_title(panel, panels)})" if panels else "")
                                 + f", mean ± std over {seeds} seed(s)")
                lines += [f"![{metric} vs {x}](plots/{png.name})", "",
                          f"*Figure: {metric} against {x}; regenerate with {regenerate}.*", ""]
        if pooled:
            lines += [f"**Paired tests vs {baseline}, pooled over {', '.join(pooled_units)}** "
                      "(Δ = method − baseline; r = matched-pairs rank-biserial correlation):", ""]
            lines += _md_table(["method", "pairs", "mean Δ", "median Δ", "W", "p", "p (Holm)", "r", ""],
                               [[c["method"], c["n"], _fmt(c["mean_diff"]), _fmt(c["median_diff"]),
                                 _fmt(c["statistic"], 1),
                                 _fmt(c["p"]), _fmt(c["p_holm"]), _fmt(c["effect_r"], 2),
                                 {True: "▲ better", False: "▼ worse", None: ""}[c["better"]]] for c in pooled])
        if method and "dataset" in panels:
            for level in levels:
                level_rows = [r for r in tested if not x or r.get(x) == level]
                result = friedman_nemenyi(level_rows, metric, "dataset", method)
                where = f" at {x} = {level}" if x else ""
                if result is None:
                    lines += [f"Friedman test{where}: needs ≥ 3 methods on ≥ 2 datasets where all methods ran.", ""]
                    continue
                lines += [f"**Friedman test over {len(result['blocks'])} datasets{where}**: "
                          f"χ² = {result['chi2']:.3f}, "
                          f"p = {_fmt(result['p'])}, Kendall's W = {result['kendall_w']:.3f}; Nemenyi critical "
                          f"difference CD = {result['cd']:.3f} (α = {ALPHA}).", ""]
                ranked = sorted(result["average_ranks"].items(), key=lambda kv: kv[1])
                lines += _md_table(["method", "average rank (1 = best)"], [[m, f"{r:.2f}"] for m, r in ranked])
                significant = [p for p in result["pairs"] if p["significant"]]
                lines += ["Pairs further apart than CD: " + (", ".join(
                    f"{p['a']} vs {p['b']} (Δrank {p['rank_diff']:+.2f})" for p in significant) or "none") + ".", ""]
    write_table(all_aggregates, out / "aggregate.csv")
    if all_comparisons:
        write_table(all_comparisons, out / "comparisons.csv")
    html = _html_report(out, metrics, x, method, panels)
    if html is not None:
        lines += [f"HTML report (pictures with ± std bands and the mean ± std table): [{html.name}]({html.name}); "
                  f"regenerate with {regenerate}.", ""]
    return write_text(out / "summary.md", "\n".join(lines).rstrip() + "\n")


def _html_report(out: Path, metrics: Sequence[str], x: str | None, method: str | None,
                 panels: Sequence[str]) -> Path | None:
    """``report.html`` of the sweep (:func:`seafloorhmc.report.write_sweep_report`) from ``out/results.csv``.

    Only for one method axis along one x axis with no other varying axis: that report pools every
    row of a (method, x) pair, which would mix datasets or noise levels. A failure is logged, not
    raised: the Markdown summary and its figures are the primary output.
    """
    table = out / "results.csv"
    if not (x and method and not panels and metrics and table.is_file()):
        return None
    try:
        return write_sweep_report(table, out, metrics=metrics, x=x, hue=method, band="std")
    except Exception as err:  # noqa: BLE001 - never lose the summary over the HTML page
        log.warning("sweep %s: report.html could not be written: %s", out, err)
        return None
