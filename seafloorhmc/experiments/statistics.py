"""Statistics of a sweep table: mean ± std with 95 % intervals, paired tests, effect sizes, a Markdown summary.

* :func:`mean_ci` / :func:`aggregate` — mean, sample std and the Student-t 95 % interval of the mean.
* :func:`wilcoxon_test` — Wilcoxon signed-rank test of paired runs (scipy), with the matched-pairs
  rank-biserial correlation ``r = (R⁺ − R⁻) / (R⁺ + R⁻)`` as effect size (zero differences
  dropped, as the test drops them). :func:`paired_comparisons` pairs every method with the
  baseline run of the same unit (same seed, fraction, dataset, ...).
* :func:`holm` — Holm's step-down adjustment over a family of comparisons.
* :func:`friedman_nemenyi` — Friedman test over datasets (blocks) with Kendall's ``W = χ²_F / (N(k−1))``
  and Nemenyi's critical difference ``CD = q_α √(k(k+1)/(6N))``, ``q_α`` the studentized range
  quantile / √2 (Demšar 2006; what C-HMCNN reports via Orange).
* :func:`write_summary` — ``summary.md``, ``aggregate.csv``, ``comparisons.csv`` and the sweep plots.

Metrics where lower is better (``hvr``, ``ece``, ``loss``, ...) are ranked and marked accordingly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from ..utils.atomic import write_text
from .results import write_table

__all__ = ["LOWER_IS_BETTER", "DEFAULT_METRICS", "mean_ci", "aggregate", "holm", "rank_biserial", "wilcoxon_test",
           "paired_comparisons", "nemenyi_critical_difference", "friedman_nemenyi", "summary_axes", "write_summary",
           "write_sweep_summary"]

LOWER_IS_BETTER = frozenset({"hvr", "hvr_edges", "ece", "loss", "brier"})
DEFAULT_METRICS = ("au_prc", "bin_ap", "f1", "precision", "recall", "rare_recall")
ALPHA = 0.05


def _better_sign(metric: str) -> int:
    return -1 if metric in LOWER_IS_BETTER or metric.endswith("_loss") else 1


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------------------- aggregation
def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """n, mean, sample std (ddof 1) and the Student-t interval of the mean (collapsed for n = 1)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci_low": None, "ci_high": None}
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def _groups(rows: Iterable[Mapping], by: Sequence[str]) -> dict[tuple, list[Mapping]]:
    groups: dict[tuple, list[Mapping]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(c) for c in by), []).append(row)
    return groups


def aggregate(rows: Sequence[Mapping], metric: str, by: Sequence[str]) -> list[dict]:
    """One row per combination of ``by`` (first-appearance order) with :func:`mean_ci` of ``metric``."""
    out = []
    for key, members in _groups(rows, by).items():
        out.append({**dict(zip(by, key)), "metric": metric, **mean_ci([_number(r.get(metric)) for r in members])})
    return out


# ------------------------------------------------------------------------------- paired tests
def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (monotone, capped at 1); None stays None."""
    indexed = [(p, i) for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    indexed.sort()
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def rank_biserial(differences: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation of paired differences, zeros dropped (0 when all are zero)."""
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(d))
    positive, negative = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((positive - negative) / (positive + negative))


def wilcoxon_test(treatment: Sequence[float], control: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired values (scipy; exact for small n without ties)."""
    a, b = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    d = a - b
    out = {"n": int(len(d)), "n_nonzero": int((d != 0).sum()),
           "mean_diff": float(d.mean()) if len(d) else None, "median_diff": float(np.median(d)) if len(d) else None,
           "statistic": None, "p": None, "effect_r": rank_biserial(d) if len(d) else None}
    if out["n_nonzero"] == 0:
        if len(d):
            out.update(statistic=0.0, p=1.0)
        return out
    result = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    out.update(statistic=float(result.statistic), p=float(result.pvalue))
    return out


def paired_comparisons(rows: Sequence[Mapping], metric: str, baseline: str, method_col: str,
                       unit_cols: Sequence[str], group_cols: Sequence[str] = ()) -> list[dict]:
    """Every method against ``baseline`` within each group, paired by the unit columns; Holm over the list.

    A pair needs both runs of the same group and unit with a finite metric. ``better`` is True /
    False when the Holm-adjusted p is below 0.05 and the method is better / worse (by the metric's
    direction), None otherwise.
    """
    methods = list(dict.fromkeys(r.get(method_col) for r in rows))
    if baseline not in methods:
        raise ValueError(f"baseline method {baseline!r} is not in the table (methods: {', '.join(map(str, methods))})")
    out = []
    for key, members in _groups(rows, group_cols).items():
        values: dict = {}
        for row in members:
            value = _number(row.get(metric))
            if value is not None:
                values[(row.get(method_col), tuple(row.get(c) for c in unit_cols))] = value
        base_units = {unit: v for (m, unit), v in values.items() if m == baseline}
        for method in methods:
            if method == baseline:
                continue
            units = [u for (m, u) in values if m == method and u in base_units]
            if not units:
                continue
            test = wilcoxon_test([values[(method, u)] for u in units], [base_units[u] for u in units])
            out.append({**dict(zip(group_cols, key)), "metric": metric, "method": method, "baseline": baseline, **test})
    for row, adjusted in zip(out, holm([r["p"] for r in out])):
        row["p_holm"] = adjusted
        significant = adjusted is not None and adjusted < ALPHA and row["effect_r"]
        row["better"] = bool(_better_sign(metric) * row["effect_r"] > 0) if significant else None
    return out


# ------------------------------------------------------------------------------- over datasets
def nemenyi_critical_difference(k: int, n_blocks: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks for k methods on n blocks (datasets)."""
    if k < 2 or n_blocks < 1:
        raise ValueError(f"Nemenyi needs at least 2 methods and 1 block, got k={k}, N={n_blocks}")
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n_blocks)))


def friedman_nemenyi(rows: Sequence[Mapping], metric: str, block_col: str = "dataset", method_col: str = "method",
                     alpha: float = ALPHA) -> dict | None:
    """Friedman test of the methods over blocks (each block's value: the mean over its runs) + Nemenyi.

    Only blocks where every method has a value count. Ranks: 1 = best (ties share the mean rank).
    None when fewer than 3 methods or 2 complete blocks remain.
    """
    methods = list(dict.fromkeys(r.get(method_col) for r in rows))
    means: dict = {}
    for (block, method), members in _groups(rows, (block_col, method_col)).items():
        values = [v for v in (_number(r.get(metric)) for r in members) if v is not None]
        if values:
            means[(block, method)] = float(np.mean(values))
    blocks = [b for b in dict.fromkeys(r.get(block_col) for r in rows) if all((b, m) in means for m in methods)]
    if len(methods) < 3 or len(blocks) < 2:
        return None
    table = np.array([[means[(b, m)] for m in methods] for b in blocks])  # [N, k]
    ranks = np.vstack([stats.rankdata(-_better_sign(metric) * row) for row in table])
    if all(len(set(row)) == 1 for row in table):  # every block ties all methods: nothing to test
        chi2, p = 0.0, 1.0
    else:
        chi2, p = stats.friedmanchisquare(*table.T)
    n, k = len(blocks), len(methods)
    cd = nemenyi_critical_difference(k, n, alpha)
    average = ranks.mean(0)
    pairs = [{"a": methods[i], "b": methods[j], "rank_diff": float(average[i] - average[j]),
              "significant": bool(abs(average[i] - average[j]) > cd)}
             for i in range(k) for j in range(i + 1, k)]
    return {"metric": metric, "methods": methods, "blocks": blocks,
            "average_ranks": dict(zip(methods, map(float, average))),
            "chi2": float(chi2), "p": float(p), "kendall_w": float(chi2 / (n * (k - 1))), "cd": cd, "alpha": alpha,
            "pairs": pairs}


# ------------------------------------------------------------------------------- summary
def _distinct(rows: Sequence[Mapping], column: str) -> list:
    return list(dict.fromkeys(r.get(column) for r in rows if column in r))


def summary_axes(rows: Sequence[Mapping], columns: Sequence[str], x: str | None = None) -> dict:
    """Which axis columns play which part: method, seed, x (tables and plots run along it) and panels.

    ``x`` defaults to the first numeric axis with several values other than seed and dataset;
    panels are the other axes with several values (each gets its own table and figure).
    """
    columns = list(columns)
    method = "method" if "method" in columns else None
    seed = "seed" if "seed" in columns else None
    if x is not None and x not in columns:
        raise ValueError(f"summary x axis {x!r} is not a grid axis ({', '.join(columns)})")
    if x is None:
        x = next((c for c in columns if c not in (method, seed, "dataset") and len(_distinct(rows, c)) > 1
                  and all(_number(v) is not None for v in _distinct(rows, c))), None)
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
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def write_sweep_summary(rows: Sequence[Mapping], out: str | Path, spec, command: str | None = None) -> Path:
    """:func:`write_summary` with the axes, baseline, metrics and x axis a sweep spec names."""
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
    """
    from ..plots import plot_sweep

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
    tested = [r for r in rows if not method or r.get(method) not in set(unpaired)]  # rows of the paired tests
    metrics = [m for m in (metrics or DEFAULT_METRICS) if any(_number(r.get(m)) is not None for r in rows)]
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
        first = paired_comparisons(tested, metrics[0], baseline, method, unit_cols, group_cols) if metrics else []
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
        lines += [f"## {metric}" + (" (lower is better)" if _better_sign(metric) < 0 else ""), ""]
        aggregates = aggregate(rows, metric, [c for c in (*panels, method, x) if c])
        all_aggregates += aggregates
        per_level = paired_comparisons(tested, metric, baseline, method, unit_cols, group_cols) if method else []
        pooled = paired_comparisons(tested, metric, baseline, method, pooled_units) if method else []
        all_comparisons += [{**c, "scope": "per level"} for c in per_level] + [{**c, "scope": "pooled"} for c in pooled]
        marks = {(tuple(c.get(p) for p in panels), c["method"], c.get(x) if x else None):
                 ("▲" if c["better"] else "▼") for c in per_level if c["better"] is not None}
        for panel in _groups(rows, panels):
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
        from ..report import write_sweep_report
    except ImportError:  # the report package is optional here
        return None
    try:
        return write_sweep_report(table, out, metrics=metrics, x=x, hue=method, band="std")
    except Exception as err:  # noqa: BLE001 - never lose the summary over the HTML page
        import logging

        logging.getLogger(__name__).warning("sweep %s: report.html could not be written: %s", out, err)
        return None
