"""Sweep reports from a hand-written results CSV; the aggregated table is checked against numpy."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from report_helpers import assert_png, parse_html

from seafloorhmc.report import write_sweep_report
from seafloorhmc.report.sweep_report import SweepTableError


def write_results(path, rows, header=("method", "fraction", "seed", "f1", "recall", "au_prc")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def results(tmp_path):
    rng = np.random.default_rng(7)
    rows = []
    for method in ("baseline", "rare-node"):
        for fraction in (0.05, 0.25, 1.0):
            for seed in range(3):
                f1, recall, ap = rng.uniform(0.1, 0.9, 3).round(4)
                rows.append([method, fraction, seed, f1, recall, ap])
    rows[4][3] = ""  # baseline, 0.25, seed 1 has no F1
    return write_results(tmp_path / "results.csv", rows), rows


def test_table_matches_numpy_and_pictures_exist(results, tmp_path):
    path, rows = results
    out = write_sweep_report(path, tmp_path / "sweep")
    assert out == tmp_path / "sweep" / "report.html"
    parsed = parse_html(out)
    for src in parsed.images:
        assert_png(tmp_path / "sweep" / src)
    assert sorted(parsed.images) == ["plots/sweep_au_prc.png", "plots/sweep_f1.png", "plots/sweep_recall.png"]
    table = parsed.tables["aggregate"]
    assert table[0] == ["method", "fraction", "runs", "f1", "recall", "au_prc"]
    assert [(r[0], r[1], r[2]) for r in table[1:]] == [
        (m, f, "3") for m in ("baseline", "rare-node") for f in ("0.05", "0.25", "1")]
    for cells in table[1:]:
        method, fraction = cells[0], float(cells[1])
        for j in (3, 4, 5):  # f1, recall, au_prc: the same column in the CSV rows and in the table
            values = np.array([float(r[j]) for r in rows if r[0] == method and r[1] == fraction and r[j] != ""])
            match = re.fullmatch(r"(\d\.\d{4}) ± (\d\.\d{4})(?: \(n=(\d)\))?", cells[j])
            assert match, cells[j]
            assert float(match.group(1)) == pytest.approx(values.mean(), abs=5e-5)
            assert float(match.group(2)) == pytest.approx(values.std(ddof=1), abs=5e-5)
            assert (match.group(3) or "3") == str(len(values))
    assert table[2][3].endswith("(n=2)")  # baseline, 0.25: one run lacks F1


def test_missing_metric_is_noted_but_none_at_all_is_an_error(results, tmp_path):
    path, _ = results
    parsed = parse_html(write_sweep_report(path, tmp_path / "s", metrics=("f1", "hvr")))
    assert parsed.images == ["plots/sweep_f1.png"]
    assert "hvr: not in results.csv" in "".join(parsed.text)
    with pytest.raises(SweepTableError, match=r"results\.csv: none of the metrics 'hvr' has a value"):
        write_sweep_report(path, tmp_path / "t", metrics=("hvr",))


@pytest.mark.parametrize("header, rows, message", [
    (("method", "seed", "f1"), [("a", 0, 0.5)], r"r\.csv:1: missing column 'fraction'"),
    (("method", "fraction", "f1"), [("a", 0.1, 0.5), ("a", "half", 0.4)],
     r"r\.csv:3, column 'fraction': 'half' is not a number"),
    (("method", "fraction", "f1"), [("a", 0.1, "n/a")], r"r\.csv:2, column 'f1': 'n/a' is not a number"),
    (("method", "fraction", "f1"), [("a", "", 0.3)], r"r\.csv:2, column 'fraction': empty x value"),
    (("method", "fraction", "f1"), [], r"r\.csv: no result rows"),
])
def test_bad_results_csv_names_file_row_and_column(tmp_path, header, rows, message):
    path = write_results(tmp_path / "r.csv", rows, header)
    with pytest.raises(SweepTableError, match=message):
        write_sweep_report(path, tmp_path / "out")
    assert not (tmp_path / "out" / "report.html").exists()
