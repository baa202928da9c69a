"""``seafloorhmc predict`` writes its report beside the CSV: the most uncertain rows, as thumbnails."""

from __future__ import annotations

import base64
import csv
import io
import logging

from PIL import Image
from report_helpers import parse_html

from seafloorhmc.cli import main
from seafloorhmc.report import try_write_predict_report
from seafloorhmc.report.prediction_report import predict_report_path


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def card_lines(parsed):
    return [int(i.removeprefix("row-")) for i in parsed.ids if i.startswith("row-")]


def assert_jpeg(uri):
    assert uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        assert image.format == "JPEG" and min(image.size) > 0


def test_predict_on_a_folder_writes_the_most_uncertain_thumbnails(image_run, tmp_path, capsys):
    images = image_run.parent / "data" / "images"
    out = tmp_path / "p.csv"
    assert main(["predict", str(image_run), str(images), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    assert f"report -> {tmp_path / 'p.html'}" in capsys.readouterr().out
    rows = read_rows(out)
    parsed = parse_html(tmp_path / "p.html")
    # independent ranking: the CSV's rows by uncertainty, highest first (stable: file order on ties)
    ranked = sorted(range(len(rows)), key=lambda i: -float(rows[i]["uncertainty"]))[:24]
    assert card_lines(parsed) == [i + 2 for i in ranked]  # CSV line = index + 2 (header is line 1)
    assert len(parsed.images) == 24, "every card found its image below the input folder"
    for uri in parsed.images:
        assert_jpeg(uri)
    counts = {r[0]: r[-1] for r in parsed.tables["counts"][1:]}
    flagged = sum(r["needs_review"] == "true" for r in rows)
    assert counts["rows"] == str(len(rows)) and counts["needs review"] == str(flagged)


def test_predict_on_points_finds_images_under_root(image_run, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("image,x,y\nimages/000.png,5,5\nimages/001.png,20,10\nimages/none.png,1,1\n")
    out = tmp_path / "pts.csv"
    root = image_run.parent / "data"
    assert main(["predict", str(image_run), str(points), "--root", str(root), "--out", str(out),
                 "--workers", "0", "--no-progress"]) == 0
    parsed = parse_html(tmp_path / "pts.html")
    assert sorted(card_lines(parsed)) == [2, 3] and len(parsed.images) == 2
    assert {r[1] for r in parsed.tables["errors"][1:]} == {"images/none.png"}
    page = "".join(parsed.text)
    assert "at x=5, y=5" in page and "at x=20, y=10" in page


def test_report_path_never_replaces_the_predictions(tmp_path):
    assert predict_report_path(tmp_path / "p.csv") == tmp_path / "p.html"
    assert predict_report_path(tmp_path / "p") == tmp_path / "p.html"
    assert predict_report_path(tmp_path / "p.html") == tmp_path / "p.html.report.html"


def test_a_report_problem_is_logged_not_raised(tmp_path, caplog):
    predictions = tmp_path / "p.csv"
    predictions.write_text("image,predicted\na.png,Biota\n")  # no uncertainty column
    with caplog.at_level(logging.WARNING, logger="seafloorhmc.report"):
        assert try_write_predict_report(predictions, tmp_path) is None
    assert any("p.html" in r.getMessage() and "no uncertainty column" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "p.html").exists()
