import math

import numpy as np
import pytest

from seafloorhmc.experiments.summary import summary_axes, write_summary
from seafloorhmc.stats import (
    aggregate,
    friedman_nemenyi,
    holm,
    mean_ci,
    nemenyi_critical_difference,
    paired_comparisons,
    rank_biserial,
    wilcoxon_test,
)
from seafloorhmc.utils.tables import read_table, write_table


def test_mean_ci_by_hand():
    ci = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    sd = math.sqrt(2.5)
    half = 2.776445 * sd / math.sqrt(5)  # t_{0.975, 4} from tables
    assert ci["n"] == 5 and ci["mean"] == 3.0 and ci["std"] == pytest.approx(sd)
    assert (ci["ci_low"], ci["ci_high"]) == (pytest.approx(3 - half, abs=1e-5), pytest.approx(3 + half, abs=1e-5))
    assert mean_ci([0.7]) == {"n": 1, "mean": 0.7, "std": 0.0, "ci_low": 0.7, "ci_high": 0.7}
    assert mean_ci([])["mean"] is None


def test_aggregate_groups_in_first_seen_order():
    rows = [{"m": "b", "x": 1.0}, {"m": "a", "x": 3.0}, {"m": "b", "x": 3.0}, {"m": "a", "x": None}]
    out = aggregate(rows, "x", ["m"])
    assert [(r["m"], r["n"], r["mean"]) for r in out] == [("b", 2, 2.0), ("a", 1, 3.0)]


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04, 0.30 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.08, 0.30 (monotone)
    assert holm([0.04, 0.01, 0.30, 0.02]) == pytest.approx([0.08, 0.04, 0.30, 0.06])
    assert holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # monotonicity lifts the second
    assert holm([None, 0.6]) == [None, 0.6]


def test_rank_biserial_by_hand():
    # |d| ranks: 0.1→1, 0.2→2, 0.3→3, 0.4→4; positives 1+2+4 = 7, negatives 3 → (7−3)/10
    assert rank_biserial([0.1, 0.2, -0.3, 0.4, 0.0]) == pytest.approx(0.4)
    assert rank_biserial([1, 2, 3]) == 1.0 and rank_biserial([-1, -2]) == -1.0 and rank_biserial([0, 0]) == 0.0


def test_wilcoxon_exact_small_samples():
    # all 5 differences positive: exact two-sided p = 2 / 2^5
    result = wilcoxon_test([1.1, 2.2, 3.3, 4.4, 5.5], [1, 2, 3, 4, 5])
    assert result["p"] == pytest.approx(0.0625) and result["effect_r"] == 1.0 and result["n"] == 5
    assert result["mean_diff"] == pytest.approx(0.3)
    # signs + + − + (ranks 1, 2, 3, 4): W = min(R+, R−) = 3. Of the 16 sign patterns, rank sums ≤ 3 come
    # from {}, {1}, {2}, {3}, {1, 2}: exact p = 2 · 5/16 = 0.625
    result = wilcoxon_test([0.1, 0.2, -0.3, 0.4], [0, 0, 0, 0])
    assert result["statistic"] == 3.0 and result["p"] == pytest.approx(0.625)
    same = wilcoxon_test([1, 2], [1, 2])
    assert same["p"] == 1.0 and same["effect_r"] == 0.0
    with pytest.raises(ValueError, match="equal lengths"):
        wilcoxon_test([1, 2], [1])


def test_paired_comparisons_pair_by_unit_and_mark_direction():
    rows = []
    for seed in range(8):
        rows.append({"method": "base", "seed": seed, "f1": 0.5 + 0.01 * seed, "ece": 0.10})
        rows.append({"method": "good", "seed": seed, "f1": 0.6 + 0.01 * seed + 0.001 * seed ** 2,
                     "ece": 0.05 + 0.001 * seed})
        rows.append({"method": "same", "seed": seed, "f1": 0.5 + 0.01 * seed, "ece": 0.10})
    rows.append({"method": "good", "seed": 99, "f1": 0.0})  # no baseline partner: not paired
    out = {c["method"]: c for c in paired_comparisons(rows, "f1", "base", "method", ["seed"])}
    assert out["good"]["n"] == 8 and out["good"]["p"] == pytest.approx(2 / 2 ** 8)
    assert out["good"]["p_holm"] == pytest.approx(2 * 2 / 2 ** 8)  # two comparisons, the smaller p doubled
    assert out["good"]["better"] is True and out["same"]["better"] is None and out["same"]["p"] == 1.0
    ece = {c["method"]: c for c in paired_comparisons(rows, "ece", "base", "method", ["seed"])}
    assert ece["good"]["better"] is True, "lower ECE is better"
    with pytest.raises(ValueError, match="baseline method 'nobody' is not in the table"):
        paired_comparisons(rows, "f1", "nobody", "method", ["seed"])


def test_nemenyi_cd_matches_demsar_table():
    # Demšar (2006), Table 5: q_0.05 = 1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164 for k = 2..10
    table = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    for k, q in zip(range(2, 11), table):
        assert nemenyi_critical_difference(k, 1) / math.sqrt(k * (k + 1) / 6) == pytest.approx(q, abs=2e-3)
    assert nemenyi_critical_difference(5, 20) == pytest.approx(2.728 * math.sqrt(30 / 120), abs=2e-3)  # C-HMCNN's
    with pytest.raises(ValueError, match="k=1"):
        nemenyi_critical_difference(1, 5)


def test_friedman_by_hand():
    # 4 datasets, 3 methods, no ties. Ranks (1 = best): A always 1; B, C swap on the last dataset.
    values = {"d1": (0.9, 0.5, 0.3), "d2": (0.8, 0.6, 0.4), "d3": (0.7, 0.5, 0.2), "d4": (0.6, 0.1, 0.3)}
    rows = [{"dataset": d, "method": m, "au_prc": v[i], "seed": s}
            for d, v in values.items() for i, m in enumerate("ABC") for s in range(2)]
    result = friedman_nemenyi(rows, "au_prc")
    sums = {"A": 4, "B": 2 + 2 + 2 + 3, "C": 3 + 3 + 3 + 2}
    n, k = 4, 3
    chi2 = 12 / (n * k * (k + 1)) * sum(r ** 2 for r in sums.values()) - 3 * n * (k + 1)
    assert result["average_ranks"] == pytest.approx({m: r / n for m, r in sums.items()})
    assert result["chi2"] == pytest.approx(chi2) and result["kendall_w"] == pytest.approx(chi2 / (n * (k - 1)))
    assert result["cd"] == pytest.approx(2.343 * math.sqrt(k * (k + 1) / (6 * n)), abs=2e-3)
    pairs = {(p["a"], p["b"]): p["significant"] for p in result["pairs"]}
    assert pairs == {("A", "B"): False, ("A", "C"): True, ("B", "C"): False}  # |1 − 2.75| > CD = 1.66
    lower = friedman_nemenyi([{**r, "ece": r["au_prc"]} for r in rows], "ece")
    assert lower["average_ranks"]["A"] == 3.0, "lower is better for ECE"
    assert friedman_nemenyi([r for r in rows if r["method"] != "C"], "au_prc") is None  # needs 3 methods
    ties = friedman_nemenyi([{**r, "au_prc": 0.5} for r in rows], "au_prc")
    assert (ties["chi2"], ties["p"], ties["kendall_w"]) == (0.0, 1.0, 0.0)
    assert ties["average_ranks"] == {"A": 2.0, "B": 2.0, "C": 2.0}


def synthetic_rows(seeds=8):
    rng = np.random.default_rng(0)
    rows = []
    for method, gain in (("base", 0.0), ("better", 0.08), ("equal", 0.0)):
        for fraction in (0.1, 1.0):
            for seed in range(seeds):
                noise = rng.normal(0, 0.002)
                rows.append({"cell": f"{method}-{fraction}-{seed}", "method": method, "train_fraction": fraction,
                             "seed": seed, "au_prc": 0.3 + fraction * 0.2 + gain + noise + 0.01 * seed,
                             "f1": 0.2 + noise, "ece": 0.1})
    return rows


def test_summary_marks_significant_differences_and_links_figures(tmp_path):
    rows = synthetic_rows()
    path = write_summary(rows, tmp_path, ["method", "train_fraction", "seed"], metrics=["au_prc", "f1", "ece"],
                         command="seafloorhmc sweep s.yaml --stats-only")
    text = path.read_text()
    table = text[text.index("## au_prc"):text.index("## f1")]
    better_line = next(line for line in table.splitlines() if line.startswith("| better |"))
    equal_line = next(line for line in table.splitlines() if line.startswith("| equal |"))
    assert better_line.count("▲") == 2 and "▲" not in equal_line and "▼" not in equal_line
    base = [r["au_prc"] for r in rows if r["method"] == "base" and r["train_fraction"] == 0.1]
    assert f"{np.mean(base):.4f} ± {np.std(base, ddof=1):.4f}" in table
    assert "![au_prc vs train_fraction](plots/au_prc.png)" in text and (tmp_path / "plots" / "au_prc.png").is_file()
    assert "regenerate with `seafloorhmc sweep s.yaml --stats-only`" in text
    assert "## ece (lower is better)" in text
    comparisons = read_table(tmp_path / "comparisons.csv")
    pooled = [c for c in comparisons if c["scope"] == "pooled" and c["metric"] == "au_prc"]
    assert {c["method"]: c["n"] for c in pooled} == {"better": 16, "equal": 16}
    assert len(read_table(tmp_path / "aggregate.csv")) == 3 * 3 * 2  # metrics × methods × fractions


def test_few_seeds_are_explained(tmp_path):
    text = write_summary(synthetic_rows(seeds=3), tmp_path, ["method", "train_fraction", "seed"]).read_text()
    assert "With 3 pairs per column the smallest two-sided p a signed-rank test can reach is 0.250" in text


def test_summary_axes():
    rows = synthetic_rows(seeds=2)
    axes = summary_axes(rows, ["method", "train_fraction", "seed"])
    assert (axes["method"], axes["x"], axes["panels"]) == ("method", "train_fraction", [])
    with pytest.raises(ValueError, match="summary x axis 'alpha' is not a grid axis"):
        summary_axes(rows, ["method", "seed"], x="alpha")


def test_html_report_comes_with_the_summary_only_for_one_method_and_x_axis(tmp_path):
    rows = synthetic_rows(seeds=2)
    write_table(rows, tmp_path / "results.csv")
    text = write_summary(rows, tmp_path, ["method", "train_fraction", "seed"], metrics=["au_prc"]).read_text()
    assert "[report.html](report.html)" in text
    html = (tmp_path / "report.html").read_text()
    base = [r["au_prc"] for r in rows if r["method"] == "base" and r["train_fraction"] == 0.1]
    assert "plots/sweep_au_prc.png" in html and f"{np.mean(base):.4f} ± {np.std(base, ddof=1):.4f}" in html
    # a second varying axis (datasets) would be pooled by that report: none is written
    panels = tmp_path / "panels"
    mixed = [{**r, "dataset": d} for r in rows for d in ("a", "b")]
    write_table(mixed, panels / "results.csv")
    text = write_summary(mixed, panels, ["dataset", "method", "train_fraction", "seed"], metrics=["au_prc"]).read_text()
    assert "report.html" not in text and not (panels / "report.html").exists()


def test_unpaired_methods_are_tabled_but_never_tested(tmp_path):
    rows = synthetic_rows(seeds=8)
    rows += [{**r, "method": "other-rows", "cell": "o" + r["cell"], "au_prc": r["au_prc"] + 0.2}
             for r in rows if r["method"] == "base"]
    text = write_summary(rows, tmp_path, ["method", "train_fraction", "seed"], metrics=["au_prc"],
                         unpaired=["other-rows", "never-ran"]).read_text()
    assert "| other-rows |" in text and "`summary.unpaired`): other-rows." in text
    tested = {c["method"] for c in read_table(tmp_path / "comparisons.csv")}
    assert tested == {"better", "equal"}, "the clearly 'better' unpaired method is in no test"
    with pytest.raises(ValueError, match="summary.unpaired names the baseline 'base'"):
        write_summary(rows, tmp_path, ["method", "train_fraction", "seed"], unpaired=["base"])
