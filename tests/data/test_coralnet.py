"""read_coralnet: CoralNet point annotations mapped through a label-code → taxon-path file."""

from __future__ import annotations

from pathlib import Path

import pytest

from seafloorhmc.config import load_config
from seafloorhmc.data.readers import FORMATS, AnnotationFormatError, read_coralnet, read_coralnet_label_map
from seafloorhmc.data.readers.coralnet import read_coralnet_rows
from seafloorhmc.data.records import Geometry

EXPORT = ("Name,Row,Column,Label,Annotator,Date annotated,Machine suggestion 1,Machine confidence 1\n"
          "reef_01.JPG,10,20,URCH,alice,2024-01-02 03:04:05+00:00,URCH,87\n"
          "reef_01.JPG,0,0,Sand,Imported,,,\n"
          "reef_02.JPG,300,5,SPON,robot,,SPON,40\n")
LABEL_MAP = ("Short Code,path,complete\n"
             "URCH,Biota > Echinoderms > Sea urchins,\n"
             "Sand,Substrate > Sand,yes\n"
             "SPON,Biota > Sponges,\n")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    export, mapping = tmp_path / "annotations.csv", tmp_path / "map.csv"
    export.write_text(EXPORT)
    mapping.write_text(LABEL_MAP)
    return export, mapping


def test_points_paths_and_fields(files, tmp_path: Path):
    export, mapping = files
    records = read_coralnet(export, mapping, image_root=tmp_path / "imgs")
    assert [(Path(r.image).name, r.path, r.complete, r.geometry, r.annotator, r.where) for r in records] == [
        ("reef_01.JPG", ("Biota", "Echinoderms", "Sea urchins"), False, Geometry("point", (20.0, 10.0)), "alice",
         f"{export}:2"),
        ("reef_01.JPG", ("Substrate", "Sand"), True, Geometry("point", (0.0, 0.0)), "Imported", f"{export}:3"),
        ("reef_02.JPG", ("Biota", "Sponges"), False, Geometry("point", (5.0, 300.0)), "robot", f"{export}:4"),
    ]
    assert records[0].image == str(tmp_path / "imgs" / "reef_01.JPG")
    assert records[0].meta == {"label_code": "URCH", "date_annotated": "2024-01-02 03:04:05+00:00"}
    assert all(r.source == "coralnet" for r in records)


def test_dict_map_one_indexed_and_loose_header(tmp_path: Path):
    export = tmp_path / "old.csv"
    export.write_text("\ufeff name ,ROW,  Column ,Label code,Comments\nimg.jpg,1,1,A,hello\nimg.jpg,5,8,B,\n")
    records = read_coralnet(export, {"A": "X > Y", "B": ("X",)}, one_indexed=True)
    assert [(r.path, r.geometry.coords, r.annotator) for r in records] == [
        (("X", "Y"), (0.0, 0.0), None), (("X",), (7.0, 4.0), None)]
    assert records[0].image == str(tmp_path / "img.jpg")


def test_unknown_code_names_row_code_and_map(files):
    export, mapping = files
    export.write_text(EXPORT + "reef_02.JPG,3,4,CRA,bob,,,\n")
    with pytest.raises(AnnotationFormatError) as err:
        read_coralnet(export, mapping)
    assert (err.value.row, err.value.column) == (5, "label")
    assert "'CRA'" in str(err.value) and str(mapping) in str(err.value) and f"{export}:5" in str(err.value)


@pytest.mark.parametrize("row_value, col_value, column, words, one_indexed", [
    ("-1", "4", "row", "negative", False),
    ("3", "4.5", "column", "'4.5' is not a whole pixel index", False),
    ("3", "", "column", "'' is not a whole pixel index", False),
    ("0", "4", "row", "negative as a 1-based index", True),
])
def test_bad_pixels(files, row_value, col_value, column, words, one_indexed):
    export, mapping = files
    export.write_text(f"Name,Row,Column,Label\nimg.jpg,{row_value},{col_value},URCH\n")
    with pytest.raises(AnnotationFormatError) as err:
        read_coralnet(export, mapping, one_indexed=one_indexed)
    assert (err.value.row, err.value.column) == (2, column) and words in str(err.value)


def test_unlabelled_points(files, caplog):
    export, mapping = files
    export.write_text("Name,Row,Column,Label\nimg.jpg,1,2,\nimg.jpg,3,4,URCH\n")
    with pytest.raises(AnnotationFormatError, match=r"annotations\.csv:2, column 'label': empty label"):
        read_coralnet(export, mapping)
    assert len(read_coralnet(export, mapping, skip_unlabelled=True)) == 1
    assert "skipped 1 point" in caplog.text


def test_label_map_errors(tmp_path: Path):
    mapping = tmp_path / "map.csv"
    mapping.write_text("Label,path\nURCH,Biota > Urchins\nURCH,Biota\n")
    with pytest.raises(AnnotationFormatError, match=r"map\.csv:3, column 'label': label code 'URCH' is mapped "
                                                    r"twice \(first at row 2\)"):
        read_coralnet_label_map(mapping)
    mapping.write_text("Label,taxon\nURCH,Biota\n")
    with pytest.raises(AnnotationFormatError, match=r"map\.csv:1: the label map has no taxon path column \(accepted: "
                                                    r"code column: 'Short Code', 'Label code', 'Label' or 'code'; "
                                                    r"path column: 'path', 'taxon_path' or 'name'"):
        read_coralnet_label_map(mapping)
    mapping.write_text("Label ID,path\n12,Biota\n")
    with pytest.raises(AnnotationFormatError, match=r"no code column .*header has 'label id', 'path'"):
        read_coralnet_label_map(mapping)
    mapping.write_text("Label,path\nURCH,\n")
    with pytest.raises(AnnotationFormatError, match=r"map\.csv:2, column 'path': label code 'URCH' has no taxon path"):
        read_coralnet_label_map(mapping)
    with pytest.raises(AnnotationFormatError, match="label map entry 'A'"):
        read_coralnet_label_map({"A": "X >  > Y"})


def test_missing_required_column(files):
    export, mapping = files
    export.write_text("Name,Row,Label\nimg.jpg,1,URCH\n")
    with pytest.raises(AnnotationFormatError, match=r"annotations\.csv:1: missing column 'column'"):
        read_coralnet(export, mapping)


@pytest.mark.parametrize("header, rows", [
    ("Label,path", "URCH,Biota > Urchins\nSAND,Substrate"),
    ("Label code,taxon_path", "URCH,Biota > Urchins\nSAND,Substrate"),
    (" short CODE ,Name", "URCH,Biota > Urchins\nSAND,Substrate"),
    ("code,Taxon Path", "URCH,Biota > Urchins\nSAND,Substrate"),
    # CoralNet's labelset export (Label ID, Short Code) with a path column added; Name is CoralNet's label name
    ("Label ID,Short Code,Name,path", "101,URCH,Urchin,Biota > Urchins\n7,SAND,Sand,Substrate"),
])
def test_label_map_columns_as_users_have_them(tmp_path: Path, header: str, rows: str):
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"{header}\n{rows}\n")
    assert read_coralnet_label_map(mapping) == {"URCH": (("Biota", "Urchins"), False), "SAND": (("Substrate",), False)}


def test_label_map_separator_is_configurable(tmp_path: Path):
    mapping = tmp_path / "map.csv"
    mapping.write_text("Short Code,path\nURCH,Biota/Echinoderms/Sea urchins\n")
    assert read_coralnet_label_map(mapping, map_sep="/") == {"URCH": (("Biota", "Echinoderms", "Sea urchins"), False)}
    export = tmp_path / "a.csv"
    export.write_text("Name,Row,Column,Label\nimg.jpg,1,2,URCH\n")
    config = load_config(None, ["data.format=coralnet", f"data.annotations={export}", f"data.label_map={mapping}",
                                "data.separator=/"])
    spec = FORMATS.get("coralnet")
    (record,) = spec.read(config.data.annotations, **spec.reader_options(config.data))
    assert record.path == ("Biota", "Echinoderms", "Sea urchins")


def test_rows_keep_their_cells_as_written(tmp_path: Path):
    export = tmp_path / "a.csv"
    export.write_text("Name,Row,Column,Label code\nimg.jpg,007,12,URCH\nimg.jpg,3,4,\n")
    points = read_coralnet_rows(export)
    assert [(p.name, p.row, p.column, p.label, p.geometry.coords) for p in points] == [
        ("img.jpg", "007", "12", "URCH", (12.0, 7.0)), ("img.jpg", "3", "4", "", (4.0, 3.0))]
    export.write_text("Name,Row,Column\nimg.jpg,3.5,4\n")
    with pytest.raises(AnnotationFormatError, match=r"a\.csv:2, column 'row': '3.5' is not a whole pixel index"):
        read_coralnet_rows(export)
