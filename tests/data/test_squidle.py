"""read_squidle: SQUIDLE+ dataframe exports with normalised points and lineage paths."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest

from seafloorhmc.data.readers import AnnotationFormatError, read_squidle
from seafloorhmc.data.records import Geometry

HEADER = ["label.id", "label.name", "label.lineage_names", "label.translated.lineage_names", "point.id",
          "point.x", "point.y", "point.media.key", "needs_review", "likelihood", "user.username"]


def write(path: Path, rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


ROWS = [
    ["5", "Sea urchins", "Biota > Echinoderms > Sea urchins", "Biota > Echinoderms", "900", "0.25", "0.75",
     "PR_001", "True", "0.9", "ana"],
    ["6", "Sponges", '["Biota", "Sponges"]', "['Biota', 'Porifera']", "901", "", "", "PR_002.jpg", "false", "", ""],
    ["7", "Sand", "['Substrate', 'Sand']", "Substrate", "902", "0", "1", "PR_003", "", "", "bo"],
]


def test_records(tmp_path: Path):
    export = write(tmp_path / "export.csv", ROWS)
    records = read_squidle(export, image_root=tmp_path / "media", image_suffix=".jpg")
    assert [(Path(r.image).name, r.path, r.geometry, r.annotator, r.where) for r in records] == [
        ("PR_001.jpg", ("Biota", "Echinoderms", "Sea urchins"), Geometry("point", (0.25, 0.75), normalised=True),
         "ana", f"{export}:2"),
        ("PR_002.jpg", ("Biota", "Sponges"), Geometry("whole"), None, f"{export}:3"),  # suffix not doubled
        ("PR_003.jpg", ("Substrate", "Sand"), Geometry("point", (0.0, 1.0), normalised=True), "bo", f"{export}:4"),
    ]
    assert records[0].image == str(tmp_path / "media" / "PR_001.jpg")
    assert records[0].meta == {"label.name": "Sea urchins", "label.id": "5", "point.id": "900",
                               "needs_review": True, "likelihood": 0.9}
    assert records[1].meta["needs_review"] is False and "likelihood" not in records[1].meta
    assert all(r.source == "squidle" and not r.complete for r in records)
    assert records[0].geometry.centre(400, 200) == (100.0, 150.0)


def test_translated_and_custom_columns(tmp_path: Path):
    export = write(tmp_path / "export.csv", ROWS)
    records = read_squidle(export, use_translated=True)
    assert [r.path for r in records] == [("Biota", "Echinoderms"), ("Biota", "Porifera"), ("Substrate",)]
    assert records[0].image == str(tmp_path / "PR_001")
    records = read_squidle(export, image_column="point.id", label_column="label.name")
    assert [(Path(r.image).name, r.path) for r in records][0] == ("900", ("Sea urchins",))


def test_unlabelled_rows_error_or_skip(tmp_path: Path, caplog):
    rows = [ROWS[0], ["8", "", "", "", "903", "0.5", "0.5", "PR_004", "", "", ""]]
    export = write(tmp_path / "export.csv", rows)
    with pytest.raises(AnnotationFormatError,
                       match=r"export\.csv:3, column 'label\.lineage_names': empty label lineage"):
        read_squidle(export)
    with caplog.at_level(logging.WARNING):
        records = read_squidle(export, skip_unlabelled=True)
    assert len(records) == 1
    assert "skipped 1 row" in caplog.text
    only_empty = write(tmp_path / "empty.csv", rows[1:])
    with pytest.raises(AnnotationFormatError, match=r"no annotations found \(1 rows skipped"):
        read_squidle(only_empty, skip_unlabelled=True)


@pytest.mark.parametrize("x, y, column, words", [
    ("1.5", "0.2", "point.x", "outside [0, 1]"),
    ("0.5", "", "point.y", "both point.x and point.y"),
    ("0.5", "abc", "point.y", "not a number"),
])
def test_bad_points(tmp_path: Path, x, y, column, words):
    bad = ["5", "Sea urchins", "Biota", "", "900", x, y, "PR_001", "", "", ""]
    export = write(tmp_path / "export.csv", [ROWS[0], bad])
    with pytest.raises(AnnotationFormatError) as err:
        read_squidle(export)
    assert (err.value.row, err.value.column) == (3, column) and words in str(err.value)


def test_missing_columns_and_bad_flags(tmp_path: Path):
    export = write(tmp_path / "export.csv", ROWS)
    with pytest.raises(AnnotationFormatError, match=r"export\.csv:1: missing column 'media.path'"):
        read_squidle(export, image_column="media.path")
    bad = list(ROWS[0])
    bad[8] = "perhaps"
    with pytest.raises(AnnotationFormatError, match=r"flags\.csv:2, column 'needs_review'"):
        read_squidle(write(tmp_path / "flags.csv", [bad]))
