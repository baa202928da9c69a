"""read_manifest / write_manifest: the project's own CSV format."""

from __future__ import annotations

from pathlib import Path

import pytest

from seafloorhmc.data.readers import AnnotationFormatError, read_manifest, write_manifest
from seafloorhmc.data.records import Geometry, group_samples

HEADER = "image,labels,split,complete,x,y\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_rows_become_records(tmp_path: Path):
    csv = write(tmp_path / "m.csv", HEADER +
                "a.jpg,Biota > Echinoderms > Sea urchins; Substrate > Sand,train,yes,,\n"
                "/abs/b.jpg,Biota > Sponges,VALIDATION,0,10.5,20\n"
                "\n"
                "a.jpg,Biota,,,,\n")
    records = read_manifest(csv)
    assert [(r.image, r.path, r.complete, r.split, r.geometry, r.where) for r in records] == [
        (str(tmp_path / "a.jpg"), ("Biota", "Echinoderms", "Sea urchins"), True, "train", None, f"{csv}:2"),
        (str(tmp_path / "a.jpg"), ("Substrate", "Sand"), True, "train", None, f"{csv}:2"),
        ("/abs/b.jpg", ("Biota", "Sponges"), False, "val", Geometry("point", (10.5, 20.0)), f"{csv}:3"),
        (str(tmp_path / "a.jpg"), ("Biota",), False, None, None, f"{csv}:5"),  # blank line 4 still counts
    ]
    assert all(r.source == "manifest" for r in records)
    samples = group_samples(records)
    assert [s.labels for s in samples] == [
        ("Biota/Echinoderms/Sea urchins", "Substrate/Sand", "Biota"), ("Biota/Sponges",)]


def test_options_and_tolerant_header(tmp_path: Path):
    csv = write(tmp_path / "m.csv", "\ufeff Image , LABELS \nimg/x.png,A/B|C\n")
    records = read_manifest(csv, sep="/", label_delimiter="|", image_root=tmp_path / "root")
    assert [(r.image, r.path) for r in records] == [
        (str(tmp_path / "root" / "img/x.png"), ("A", "B")), (str(tmp_path / "root" / "img/x.png"), ("C",))]


@pytest.mark.parametrize("body, row, column, words", [
    ("a.jpg,Biota,holdout,,,\n", 2, "split", "holdout"),
    ("a.jpg,Biota,,maybe,,\n", 2, "complete", "maybe"),
    ("a.jpg,Biota,,,5,\n", 2, "y", "both x and y"),
    ("a.jpg,Biota,,,5,abc\n", 2, "y", "'abc' is not a number"),
    ("a.jpg,Biota,,,-1,3\n", 2, "x", "negative"),
    ("ok.jpg,Biota,,,,\na.jpg,Biota >  > Sea stars,,,,\n", 3, "labels", "empty component"),
    ("a.jpg,,,,,\n", 2, "labels", "no label"),
    ("a.jpg,A;;B,,,,\n", 2, "labels", "empty label"),
    (",Biota,,,,\n", 2, "image", "empty image"),
    ("a.jpg,Biota,\n", 2, None, "3 fields but the header has 6"),
])
def test_bad_rows_name_row_and_column(tmp_path: Path, body, row, column, words):
    csv = write(tmp_path / "m.csv", HEADER + body)
    with pytest.raises(AnnotationFormatError) as err:
        read_manifest(csv)
    assert (err.value.file, err.value.row, err.value.column) == (str(csv), row, column)
    assert words in str(err.value) and f"{csv}:{row}" in str(err.value)


def test_missing_column_empty_and_missing_file(tmp_path: Path):
    csv = write(tmp_path / "m.csv", "image,label\na.jpg,Biota\n")
    with pytest.raises(AnnotationFormatError, match=r"m\.csv:1: missing column 'labels'"):
        read_manifest(csv)
    with pytest.raises(AnnotationFormatError, match=r"e\.csv: the file is empty"):
        read_manifest(write(tmp_path / "e.csv", ""))
    with pytest.raises(AnnotationFormatError, match=r"h\.csv: no annotations found"):
        read_manifest(write(tmp_path / "h.csv", HEADER))
    with pytest.raises(AnnotationFormatError, match=r"gone\.csv: cannot read file"):
        read_manifest(tmp_path / "gone.csv")
    with pytest.raises(AnnotationFormatError, match="not valid utf-8-sig"):
        read_manifest(write(tmp_path / "latin.csv", "image,labels\nä.jpg,Biota\n", encoding="latin-1"))


def test_write_then_read_round_trip(tmp_path: Path):
    rows = [
        {"image": "a.jpg", "labels": [("Biota", "Echinoderms"), ("Substrate",)], "split": "train", "complete": True},
        {"image": "b.jpg", "labels": ["Biota > Sponges"], "x": 3, "y": 4.5},
    ]
    out = write_manifest(tmp_path / "sub" / "m.csv", rows)
    assert out.read_text().splitlines() == [
        "image,labels,split,complete,x,y",
        "a.jpg,Biota > Echinoderms;Substrate,train,true,,",
        "b.jpg,Biota > Sponges,,,3,4.5",
    ]
    assert [p.name for p in out.parent.iterdir()] == ["m.csv"]  # no temp file left behind
    records = read_manifest(out)
    assert [(r.path, r.split, r.complete, r.geometry) for r in records] == [
        (("Biota", "Echinoderms"), "train", True, None),
        (("Substrate",), "train", True, None),
        (("Biota", "Sponges"), None, False, Geometry("point", (3.0, 4.5))),
    ]


def test_write_only_needed_columns_and_rejects_unwritable_labels(tmp_path: Path):
    out = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg", "labels": [("A", "B")]}])
    assert out.read_text() == "image,labels\na.jpg,A > B\n"
    with pytest.raises(ValueError, match="label_delimiter"):
        write_manifest(tmp_path / "bad.csv", [{"image": "a.jpg", "labels": [("A;B",)]}])
    with pytest.raises(ValueError, match="needs 'image' and 'labels'"):
        write_manifest(tmp_path / "bad.csv", [{"image": "a.jpg"}])
    assert not (tmp_path / "bad.csv").exists()
