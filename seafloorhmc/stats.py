"""Statistics over runs: mean ± std with 95 % intervals, paired tests, effect sizes, Friedman–Nemenyi.

* :func:`mean_ci` / :func:`aggregate` — mean, sample std and the Student-t 95 % interval of the mean.
* :func:`wilcoxon_test` — Wilcoxon signed-rank test of paired runs (scipy), with the matched-pairs
  rank-biserial correlation ``r = (R⁺ − R⁻) / (R⁺ + R⁻)`` as effect size (zero differences
  dropped, as the test drops them). :func:`paired_comparisons` pairs every method with the
  baseline run of the same unit (same seed, fraction, dataset, ...).
* :func:`holm` — Holm's step-down adjustment over a family of comparisons.
* :func:`friedman_nemenyi` — Friedman test over datasets (blocks) with Kendall's ``W = χ²_F / (N(k−1))``
  and Nemenyi's critical difference ``CD = q_α √(k(k+1)/(6N))``, ``q_α`` the studentized range
  quantile / √2 (Demšar 2006; what C-HMCNN reports via Orange).

Metrics where lower is better (``hvr``, ``ece``, ``loss``, ...) are ranked and marked accordingly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import stats

from .metrics import LOWER_IS_BETTER

__all__ = ["LOWER_IS_BETTER", "DEFAULT_METRICS", "ALPHA", "better_sign", "number", "mean_ci", "aggregate", "holm",
           "rank_biserial", "wilcoxon_test", "paired_comparisons", "nemenyi_critical_difference", "friedman_nemenyi",
           "group_rows"]

DEFAULT_METRICS = ("au_prc", "bin_ap", "f1", "precision", "recall", "rare_recall")
ALPHA = 0.05


def better_sign(metric: str) -> int:
    """Which direction of a metric is better, so ranks and "better" flags follow it.

    Args:
        metric: A metric name; those in ``LOWER_IS_BETTER`` and names ending in ``_loss`` are
            better when lower.

    Returns:
        1 when higher is better, -1 when lower is.
    """
    return -1 if metric in LOWER_IS_BETTER or metric.endswith("_loss") else 1


def number(value) -> float | None:
    """A table cell as a finite float, or None when it holds none (empty, text, bool, NaN, inf).

    Args:
        value: A cell of a result table.

    Returns:
        The float, or None.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------------------- aggregation
def mean_ci(values: Sequence[float | None], level: float = 0.95) -> dict:
    """n, mean, sample std (ddof 1) and the Student-t interval of the mean (collapsed for n = 1).

    Args:
        values: One value per run; None (a missing value) is left out.
        level: Coverage of the interval.

    Returns:
        ``n``, ``mean``, ``std``, ``ci_low``, ``ci_high`` (None for all but ``n`` without values).
    """
    x = np.asarray([v for v in values if v is not None], dtype=float)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci_low": None, "ci_high": None}
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def group_rows(rows: Iterable[Mapping], by: Sequence[str]) -> dict[tuple, list[Mapping]]:
    """Rows grouped by their values in some columns, so each group can be summarised or tested.

    Args:
        rows: Table rows.
        by: The columns to group by (a missing column reads as None).

    Returns:
        Tuple of the ``by`` values → the rows that have them, in first-appearance order.
    """
    groups: dict[tuple, list[Mapping]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(c) for c in by), []).append(row)
    return groups


def aggregate(rows: Sequence[Mapping], metric: str, by: Sequence[str]) -> list[dict]:
    """Summarise a metric over runs: :func:`mean_ci` per combination of the ``by`` columns.

    Args:
        rows: One row per run.
        metric: The column to summarise.
        by: The columns that identify a configuration.

    Returns:
        One row per combination of ``by`` (first-appearance order): the ``by`` values,
        ``metric`` and the :func:`mean_ci` fields.
    """
    out = []
    for key, members in group_rows(rows, by).items():
        out.append({**dict(zip(by, key)), "metric": metric, **mean_ci([number(r.get(metric)) for r in members])})
    return out


# ------------------------------------------------------------------------------- paired tests
def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment, controlling the family-wise error over a list of comparisons.

    Args:
        pvalues: Raw p-values; None and NaN are not part of the family.

    Returns:
        Adjusted p-values in the same order (monotone, capped at 1); None (and NaN) become None.
    """
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
    """Effect size of a Wilcoxon signed-rank test: ``r = (R⁺ − R⁻) / (R⁺ + R⁻)``.

    Args:
        differences: Paired differences (treatment − control); zeros are dropped, as the test
            drops them.

    Returns:
        r in [-1, 1] (0 when all differences are zero).
    """
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(d))
    positive, negative = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((positive - negative) / (positive + negative))


def wilcoxon_test(treatment: Sequence[float], control: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired values (scipy; exact for small n without ties).

    Args:
        treatment: The method's values.
        control: The baseline's values, paired by position.

    Returns:
        ``n``, ``n_nonzero``, ``mean_diff``, ``median_diff``, ``statistic``, ``p`` and
        ``effect_r`` (:func:`rank_biserial`); with no non-zero difference p is 1 (None without pairs).

    Raises:
        ValueError: If the two samples differ in length.
    """
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

    A pair needs both runs of the same group and unit with a finite metric.

    Args:
        rows: One row per run.
        metric: The column compared.
        baseline: The method every other method is compared with.
        method_col: The column naming the method.
        unit_cols: The columns that pair runs (seed, fraction, ...).
        group_cols: The columns within which methods are compared (dataset, ...).

    Returns:
        One row per (group, method): the group values, ``metric``, ``method``, ``baseline``,
        the :func:`wilcoxon_test` fields, ``p_holm`` and ``better`` (True / False when the
        Holm-adjusted p is below 0.05 and the method is better / worse by the metric's direction,
        None otherwise).

    Raises:
        ValueError: If no row has the baseline method.
    """
    methods = list(dict.fromkeys(r.get(method_col) for r in rows))
    if baseline not in methods:
        raise ValueError(f"baseline method {baseline!r} is not in the table (methods: {', '.join(map(str, methods))})")
    out = []
    for key, members in group_rows(rows, group_cols).items():
        values: dict = {}
        for row in members:
            value = number(row.get(metric))
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
        row["better"] = bool(better_sign(metric) * row["effect_r"] > 0) if significant else None
    return out


# ------------------------------------------------------------------------------- over datasets
def nemenyi_critical_difference(k: int, n_blocks: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks for k methods on n blocks (datasets).

    Demšar 2006: ``CD = q_α √(k(k+1)/(6N))``, ``q_α`` the studentized range quantile / √2.

    Args:
        k: Number of methods.
        n_blocks: Number of blocks N.
        alpha: Significance level.

    Returns:
        The critical difference.

    Raises:
        ValueError: If k < 2 or there is no block.
    """
    if k < 2 or n_blocks < 1:
        raise ValueError(f"Nemenyi needs at least 2 methods and 1 block, got k={k}, N={n_blocks}")
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n_blocks)))


def friedman_nemenyi(rows: Sequence[Mapping], metric: str, block_col: str = "dataset", method_col: str = "method",
                     alpha: float = ALPHA) -> dict | None:
    """Friedman test of the methods over blocks (each block's value: the mean over its runs) + Nemenyi.

    Only blocks where every method has a value count. Ranks: 1 = best (ties share the mean rank).

    Args:
        rows: One row per run.
        metric: The column compared.
        block_col: The column naming the block (dataset).
        method_col: The column naming the method.
        alpha: Significance level of the Nemenyi test.

    Returns:
        ``metric``, ``methods``, ``blocks``, ``average_ranks``, ``chi2``, ``p``, ``kendall_w``,
        ``cd``, ``alpha`` and ``pairs`` (each pair's rank difference and significance); None
        when fewer than 3 methods or 2 complete blocks remain.
    """
    methods = list(dict.fromkeys(r.get(method_col) for r in rows))
    means: dict = {}
    for (block, method), members in group_rows(rows, (block_col, method_col)).items():
        values = [v for v in (number(r.get(metric)) for r in members) if v is not None]
        if values:
            means[(block, method)] = float(np.mean(values))
    blocks = [b for b in dict.fromkeys(r.get(block_col) for r in rows) if all((b, m) in means for m in methods)]
    if len(methods) < 3 or len(blocks) < 2:
        return None
    table = np.array([[means[(b, m)] for m in methods] for b in blocks])  # [N, k]
    ranks = np.vstack([stats.rankdata(-better_sign(metric) * row) for row in table])
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
