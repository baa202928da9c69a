"""Prediction reports from hand-written predictions CSVs and tiny two-colour images."""

from __future__ import annotations

import base64
import io
import logging
import re

import numpy as np
import pytest
from PIL import Image
from report_helpers import BLUE, HEADER, RED, parse_html, row, table_dict, write_csv, write_image

from seafloorhmc.data.errors import AnnotationFormatError
from seafloorhmc.report import write_prediction_report


def card_lines(parsed):
    return [int(i.removeprefix("row-")) for i in parsed.ids if i.startswith("row-")]


def decode_uri(uri):
    assert uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB")).astype(int)


def test_counts_review_share_and_most_uncertain_first(predictions, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="seafloorhmc.report"):
        out = write_prediction_report(predictions, tmp_path / "out" / "report.html", top=4)
    parsed = parse_html(out)
    counts = table_dict(parsed.tables["counts"])
    values = np.array([0.91, 0.2, 0.7, 0.95, 0.1])
    assert counts["rows"] == "6" and counts["images"] == "3" and counts["point rows (x, y)"] == "2"
    assert counts["rows with an error"] == "1" and counts["rows with an uncertainty"] == "5"
    assert counts["needs review"] == "3"
    assert counts["needs review share"] == f"{100 * 3 / 5:.1f} % of 5 predicted rows"
    assert counts["uncertainty mean"] == f"{values.mean():.4f}"
    assert counts["uncertainty median"] == f"{np.median(values):.4f}"
    assert counts["uncertainty max"] == "0.9500"
    assert table_dict(parsed.tables["predicted-counts"]) == {
        "Biota > Sponges": "3", "Biota > Echinoderms > Sea stars": "1", "Biota > Echinoderms": "1",
        "(nothing predicted)": "1"}
    assert card_lines(parsed) == [5, 2, 4, 3]  # uncertainty 0.95, 0.91, 0.70, 0.20; top=4
    assert table_dict(parsed.tables["errors"]) == {"6": "cannot read image b.png: truncated"}
    page = "".join(parsed.text)
    assert "no thumbnail: no such file" in page and "gone.png" in page
    assert any("1 of 4 thumbnails" in r.getMessage() for r in caplog.records)
    assert "61 %" in page, "CoralNet confidences (0-100) are shown as percentages"


def test_thumbnails_are_embedded_patches_around_the_point(predictions, tmp_path):
    out = write_prediction_report(predictions, tmp_path / "report.html", top=10, patch_size=16)
    parse_html(out)
    uris = {int(line): src for line, src in re.findall(r'id="row-(\d+)"><img src="([^"]+)"', out.read_text())}
    assert 5 not in uris, "a missing image has no <img>"
    left, right, whole = decode_uri(uris[2]), decode_uri(uris[3]), decode_uri(uris[4])
    for patch, colour in ((left, RED), (right, BLUE)):
        centre = patch[patch.shape[0] // 2, patch.shape[1] // 2]
        assert np.abs(centre - np.array(colour)).max() < 40, (centre, colour)
        assert patch.shape[:2] == (224, 224)  # a 16-px patch is enlarged so the point ring stays visible
    assert whole.shape[:2] == (48, 64), "whole images keep their aspect ratio and are never enlarged"
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".png", ".jpg")], "thumbnails live inside the HTML"


def test_normalised_points_are_detected_and_scaled(tmp_path):
    write_image(tmp_path / "a.png")
    rows = [row("a.png", "0.9", "0.5"), row("a.png", "0.1", "0.5", uncertainty="0.4")]
    csv_path = write_csv(tmp_path / "p.csv", rows)
    parsed = parse_html(write_prediction_report(csv_path, tmp_path / "p.html", patch_size=8))
    first, second = (decode_uri(src) for src in parsed.images)
    assert np.abs(first[112, 112] - np.array(BLUE)).max() < 40  # x = 0.9 of the width: the blue half
    assert np.abs(second[112, 112] - np.array(RED)).max() < 40


def test_images_are_found_under_image_root(tmp_path):
    write_image(tmp_path / "survey" / "dive1" / "a.png")
    (tmp_path / "out").mkdir()
    csv_path = write_csv(tmp_path / "out" / "p.csv", [row("dive1/a.png")])
    parsed = parse_html(write_prediction_report(csv_path, tmp_path / "out" / "p.html", image_root=tmp_path / "survey"))
    assert len(parsed.images) == 1 and parsed.images[0].startswith("data:image/jpeg")
    parsed = parse_html(write_prediction_report(csv_path, tmp_path / "out" / "q.html"))
    assert not parsed.images and "looked in" in "".join(parsed.text)


def test_a_point_outside_its_image_is_shown_not_raised(tmp_path):
    write_image(tmp_path / "a.png")
    csv_path = write_csv(tmp_path / "p.csv", [row("a.png", "500", "10")])
    page = "".join(parse_html(write_prediction_report(csv_path, tmp_path / "p.html")).text)
    assert re.search(r"no thumbnail: row 2: point \(x=500, y=10\) lies outside the 64x48 image", page)


@pytest.mark.parametrize("header, rows, message", [
    (["image", "predicted"], [["a.png", "Biota"]],
     r"p\.csv:1: no uncertainty column \(header has 'image', 'predicted'\)"),
    (["predicted", "uncertainty"], [["Biota", "0.1"]], r"p\.csv:1: missing column 'image'"),
    (HEADER, [row("a.png", uncertainty="high")], r"p\.csv:2, column 'uncertainty': 'high' is not a number"),
    (HEADER, [row("a.png"), row("a.png", review="maybe")],
     r"p\.csv:3, column 'needs_review': 'maybe' is not a boolean"),
    (HEADER, [row("a.png", x="4")], r"p\.csv:2, column 'y': a point needs both x and y"),
    (HEADER, [row("")], r"p\.csv:2, column 'image': empty image path"),
    (HEADER, [], r"p\.csv: no prediction rows"),
])
def test_bad_predictions_csv_names_file_row_and_column(tmp_path, header, rows, message):
    csv_path = write_csv(tmp_path / "p.csv", rows, header)
    with pytest.raises(AnnotationFormatError, match=message):
        write_prediction_report(csv_path, tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_report_path_must_be_html(predictions, tmp_path):
    with pytest.raises(ValueError, match=r"report\.txt must end in \.html"):
        write_prediction_report(predictions, tmp_path / "report.txt")
    assert predictions.read_text().startswith("image,")
