"""``write_report`` / ``seafloorhmc report`` pick the right report from a path; HTML escaping."""

from __future__ import annotations

import csv

import pytest
from report_helpers import parse_html

from seafloorhmc.cli import main
from seafloorhmc.report import write_report
from seafloorhmc.report.html import esc, fmt, table


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def test_run_folder_via_the_command_line(image_run, capsys):
    assert main(["report", str(image_run)]) == 2, "training wrote the report: replacing it needs --overwrite"
    assert "report.html already exists" in capsys.readouterr().err
    assert main(["report", str(image_run), "--overwrite"]) == 0
    assert f"report: {image_run / 'report.html'}" in capsys.readouterr().out
    assert main(["report", str(image_run), "--out", "x.html"]) == 2
    assert "drop --out" in capsys.readouterr().err


def test_sweep_folder_sweep_csv_and_predictions_csv(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    write_csv(sweep / "results.csv", ["method", "fraction", "seed", "f1"], [["a", 0.1, 0, 0.2], ["a", 0.1, 1, 0.4]])
    assert write_report(sweep) == sweep / "report.html"
    assert write_report(sweep / "results.csv", out=tmp_path / "elsewhere") == tmp_path / "elsewhere" / "report.html"
    predictions = write_csv(tmp_path / "predictions.csv", ["image", "uncertainty"], [["a.png", "0.3"]])
    assert write_report(predictions) == tmp_path / "predictions.html"
    parse_html(tmp_path / "predictions.html")


def test_paths_that_are_no_report_source_are_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty is neither a finished run \(no metrics.json\) nor a sweep"):
        write_report(tmp_path / "empty")
    other = write_csv(tmp_path / "other.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(ValueError, match=r"other\.csv: neither a sweep results CSV.*header has 'a', 'b'"):
        write_report(other)
    assert main(["report", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv does not exist" in capsys.readouterr().err


def test_values_are_escaped_and_formatted():
    assert esc('<b a="1">&') == "&lt;b a=&quot;1&quot;&gt;&amp;"
    shown = (fmt(None), fmt(float("nan")), fmt(0.123456), fmt(3), fmt(True), fmt("x"))
    assert shown == ("–", "–", "0.1235", "3", "true", "x")
    html = table(["node", "f1"], [["<script>", 0.5]], table_id="t")
    assert "<script>" not in html and "&lt;script&gt;" in html and '<td class="num">0.5000</td>' in html


def test_a_real_sweep_table_uses_its_own_x_column(tmp_path):
    """Sweeps name the x column after their axis (train_fraction, noise_alpha), not "fraction"."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    write_csv(sweep / "results.csv", ["method", "train_fraction", "seed", "f1", "recall", "au_prc"],
              [["a", 0.1, 0, 0.2, 0.1, 0.5], ["a", 1.0, 0, 0.4, 0.3, 0.7], ["b", 0.1, 0, 0.3, 0.2, 0.6]])
    html = write_report(sweep).read_text()
    assert "train_fraction" in html or "training fraction" in html.lower()
    header_only = tmp_path / "noaxis.csv"
    write_csv(header_only, ["method", "seed", "f1"], [["a", 0, 0.2]])
    with pytest.raises(ValueError, match="noaxis.csv: neither a sweep results CSV"):
        write_report(header_only)
