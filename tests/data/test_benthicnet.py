"""read_benthicnet: BenthicNet dataset CSVs with CATAMI path labels."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest

from seafloorhmc.data.readers import AnnotationFormatError, read_benthicnet

HEADER = ["dataset", "site", "image", "url", "latitude", "longitude", "catami_biota", "catami_substrate", "partition"]


def write(path: Path, rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


ROWS = [
    ["AUV", "site1", "img_001", "", "-42.1", "147.3", "[BIOTA] > Echinoderms > Sea urchins", "", "train"],
    ["AUV", "site1", "img_002.PNG", "", "", "", "['[BIOTA] > Echinoderms', '[BIOTA] > Sponges']", "[SUBSTRATE] > Sand",
     "Validation"],
    ["AUV", "site2", "img_003", "", "", "", "", "[SUBSTRATE] > Sand", "test"],
    ["ROV", "s", "x.y.z", "", "", "", '["[BIOTA]"]', "", ""],
]


def test_records(tmp_path: Path, caplog):
    path = write(tmp_path / "benthicnet.csv", ROWS)
    with caplog.at_level(logging.WARNING):
        records = read_benthicnet(path, image_root=tmp_path / "tars")
    assert [(Path(r.image).relative_to(tmp_path / "tars").as_posix(), r.path, r.split, r.where) for r in records] == [
        ("AUV/site1/img_001.jpg", ("BIOTA", "Echinoderms", "Sea urchins"), "train", f"{path}:2"),
        ("AUV/site1/img_002.PNG", ("BIOTA", "Echinoderms"), "val", f"{path}:3"),
        ("AUV/site1/img_002.PNG", ("BIOTA", "Sponges"), "val", f"{path}:3"),
        ("ROV/s/x.y.z.jpg", ("BIOTA",), None, f"{path}:5"),
    ]
    assert all(r.source == "benthicnet" and not r.complete and r.geometry is None for r in records)
    assert "skipped 1 row" in caplog.text


def test_other_column_and_brackets_kept(tmp_path: Path):
    path = write(tmp_path / "benthicnet.csv", ROWS)
    records = read_benthicnet(path, label_column="catami_substrate", strip_root_brackets=False)
    assert [r.path for r in records] == [("[SUBSTRATE]", "Sand"), ("[SUBSTRATE]", "Sand")]
    assert records[0].image == str(tmp_path / "AUV/site1/img_002.PNG")


def test_unlabelled_rows_are_an_error_on_request(tmp_path: Path):
    path = write(tmp_path / "benthicnet.csv", ROWS)
    with pytest.raises(AnnotationFormatError, match=r"benthicnet\.csv:4, column 'catami_biota': empty label"):
        read_benthicnet(path, skip_unlabelled=False)


@pytest.mark.parametrize("cells, column, words", [
    ({"catami_biota": "[3, 17]"}, "catami_biota", "node indices"),
    ({"catami_biota": "['[BIOTA] > Echinoderms', '']"}, "catami_biota", "empty label path"),
    ({"catami_biota": "[BIOTA] >  > Sea stars"}, "catami_biota", "empty component"),
    ({"partition": "holdout"}, "partition", "unknown split 'holdout'"),
    ({"site": ""}, "site", "empty site"),
])
def test_bad_rows(tmp_path: Path, cells, column, words):
    bad = dict(zip(HEADER, ROWS[0]))
    bad.update(cells)
    path = write(tmp_path / "benthicnet.csv", [ROWS[0], [bad[h] for h in HEADER]])
    with pytest.raises(AnnotationFormatError) as err:
        read_benthicnet(path)
    assert (err.value.row, err.value.column) == (3, column) and words in str(err.value)
    assert str(path) in str(err.value)


def test_missing_label_column(tmp_path: Path):
    path = write(tmp_path / "benthicnet.csv", ROWS)
    with pytest.raises(AnnotationFormatError, match=r"benthicnet\.csv:1: missing column 'catami_relief'"):
        read_benthicnet(path, label_column="catami_relief")
