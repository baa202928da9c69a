"""read_biigle_report: BIIGLE CSV image-annotation and image-label reports (plain or zipped)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from seafloorhmc.data.readers import AnnotationFormatError, read_biigle_label_tree, read_biigle_report
from seafloorhmc.data.records import Geometry

HEADER = ["annotation_label_id", "label_id", "label_name", "label_hierarchy", "user_id", "firstname",
          "lastname", "image_id", "filename", "image_longitude", "image_latitude", "shape_id", "shape_name",
          "points", "attributes", "annotation_id", "created_at"]
IMAGE_LABEL_HEADER = ["image_label_id", "image_id", "filename", "longitude", "latitude", "user_id", "firstname",
                      "lastname", "label_id", "label_name", "label_hierarchy"]
URCHIN = "Biota > Echinoderms > Sea urchins"


def row(label_id, hierarchy, shape, points, filename="img1.jpg", annotation_id="100"):
    name = hierarchy.split(" > ")[-1]
    return ["1", label_id, name, hierarchy, "7", "Ada", "Lovelace", "11", filename, "", "", "1", shape,
            points, '{"width":640,"height":480}', annotation_id, "2024-05-01 10:00:00"]


def to_csv(header, rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    return buffer.getvalue()


def write(path: Path, header, rows) -> Path:
    path.write_text(to_csv(header, rows), encoding="utf-8")
    return path


SHAPE_ROWS = [
    row("3", URCHIN, "Point", "[10,20]"),
    row("2", "Biota > Echinoderms", "Rectangle", "[30,10,50,10,50,40,30,40]"),
    row("3", URCHIN, "Circle", "[100,200,15.5]"),
    row("4", "Biota", "Polygon", "[0,0,10,0,10,10,0,0]"),
    row("4", "Biota", "LineString", "[1,2,3,4]"),
    row("2", "Biota > Echinoderms", "Ellipse", "[0,5,20,5,10,0,10,10]"),
    row("4", "Biota", "WholeFrame", "[]"),
]


def test_shapes_paths_and_fields(tmp_path: Path):
    report = write(tmp_path / "report.csv", HEADER, SHAPE_ROWS)
    records = read_biigle_report(report, image_root=tmp_path / "imgs")
    assert [r.geometry for r in records] == [
        Geometry("point", (10.0, 20.0)),
        Geometry("box", (30.0, 10.0, 50.0, 40.0)),
        Geometry("circle", (100.0, 200.0, 15.5)),
        Geometry("polygon", (0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 0.0)),
        Geometry("line", (1.0, 2.0, 3.0, 4.0)),
        Geometry("polygon", (0.0, 5.0, 20.0, 5.0, 10.0, 0.0, 10.0, 10.0)),
        Geometry("whole", ()),
    ]
    assert records[5].geometry.centre() == (10.0, 5.0)  # the ellipse's centre
    first = records[0]
    assert first.path == ("Biota", "Echinoderms", "Sea urchins")
    assert first.image == str(tmp_path / "imgs" / "img1.jpg")
    assert (first.source, first.where, first.annotator, first.complete) == (
        "biigle", f"{report}:2", "Ada Lovelace", False)
    assert first.meta["annotation_id"] == "100" and first.meta["label_id"] == "3"
    assert records[-1].where == f"{report}:8"


def test_zip_of_reports_and_default_image_root(tmp_path: Path):
    archive = tmp_path / "biigle_report.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("12_volume_b.csv", to_csv(HEADER, [row("4", "Biota", "Point", "[1,2]", filename="b.jpg")]))
        first = to_csv(HEADER, [row("3", URCHIN, "Point", "[5,6]", filename="a.jpg")])
        zf.writestr("11_volume_a.csv", "\ufeff" + first)
        zf.writestr("readme.txt", "not a report")
    records = read_biigle_report(archive)
    assert [(Path(r.image).name, r.path, r.where) for r in records] == [
        ("a.jpg", ("Biota", "Echinoderms", "Sea urchins"), f"{archive}:11_volume_a.csv:2"),
        ("b.jpg", ("Biota",), f"{archive}:12_volume_b.csv:2"),
    ]
    assert records[0].image == str(tmp_path / "a.jpg")


def test_image_label_report(tmp_path: Path):
    report = write(tmp_path / "image_labels.csv", IMAGE_LABEL_HEADER, [
        ["1", "11", "img1.jpg", "", "", "7", "Ada", "Lovelace", "2", "Echinoderms", "Biota > Echinoderms"],
    ])
    (rec,) = read_biigle_report(report)
    assert (rec.path, rec.geometry, rec.meta["image_label_id"]) == (("Biota", "Echinoderms"), Geometry("whole"), "1")


@pytest.fixture
def label_tree(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("id,name,parent_id,color,label_tree_id,source_id\n"
                    "4,Biota,,0099ff,1,\n2,Echinoderms,4,00ff00,1,\n3,Sea urchins,2,ff0000,1,123\n")
    return path


def test_label_tree_resolves_ids(tmp_path: Path, label_tree: Path):
    tax = read_biigle_label_tree(label_tree)
    assert tax["3"] == ("Biota", "Echinoderms", "Sea urchins")
    # the report's names are stale; the tree is authoritative
    report = write(tmp_path / "r.csv", HEADER, [row("3", "Old > Name", "Point", "[1,1]")])
    (rec,) = read_biigle_report(report, label_tree=label_tree)
    assert rec.path == ("Biota", "Echinoderms", "Sea urchins")
    (rec,) = read_biigle_report(report, label_tree=tax)
    assert rec.path == ("Biota", "Echinoderms", "Sea urchins")


def test_label_id_not_in_tree(tmp_path: Path, label_tree: Path):
    rows = [row("3", URCHIN, "Point", "[1,1]"), row("99", URCHIN, "Point", "[1,1]")]
    report = write(tmp_path / "r.csv", HEADER, rows)
    with pytest.raises(AnnotationFormatError,
                       match=r"r\.csv:3, column 'label_id': label id '99' is not in the label tree"):
        read_biigle_report(report, label_tree=label_tree)


def test_bad_label_tree(tmp_path: Path):
    bad = tmp_path / "labels.csv"
    bad.write_text("id,name,parent_id\n1,Biota,\n2,Echinoderms,77\n")
    with pytest.raises(AnnotationFormatError, match=r"labels\.csv: .*unknown parent id '77'"):
        read_biigle_label_tree(bad)


@pytest.mark.parametrize("shape, points, words", [
    ("Hexagon", "[1,2]", "unknown shape 'Hexagon'"),
    ("Point", "[1,2,3]", "a Point needs 2 coordinates, got 3"),
    ("Point", "[1,2", "is not a JSON array"),
    ("Point", '[[1,2]]', "flat JSON array of numbers"),
    ("Polygon", "[1,2,3,4]", "at least 6"),
    ("Circle", "[1,2,0]", "radius 0"),
])
def test_bad_geometry_names_row_and_column(tmp_path: Path, shape, points, words):
    report = write(tmp_path / "r.csv", HEADER, [row("3", URCHIN, "Point", "[1,1]"), row("3", URCHIN, shape, points)])
    with pytest.raises(AnnotationFormatError) as err:
        read_biigle_report(report)
    assert words in str(err.value)
    assert (err.value.row, err.value.column) == (3, "shape_name" if shape == "Hexagon" else "points")
    assert str(report) in str(err.value)


def test_not_a_report_and_empty_zip(tmp_path: Path):
    other = tmp_path / "other.csv"
    other.write_text("filename,label_hierarchy\na.jpg,Biota\n")
    with pytest.raises(AnnotationFormatError, match=r"other\.csv:1: not a BIIGLE image annotation report: "
                                                      r"missing column\(s\) 'shape_name', 'points'"):
        read_biigle_report(other)
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("notes.txt", "x")
    with pytest.raises(AnnotationFormatError, match=r"empty\.zip: the ZIP holds no CSV report"):
        read_biigle_report(archive)
