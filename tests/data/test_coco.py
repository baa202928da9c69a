"""read_coco: COCO JSON (FathomNet) boxes, category names placed by a label tree or a name → path table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seafloorhmc.config import load_config
from seafloorhmc.data.readers import FORMATS, AnnotationFormatError, read_coco
from seafloorhmc.data.readers.coco import read_coco_boxes
from seafloorhmc.data.records import Geometry

COCO = {
    "info": {"description": "fathomnet-generate"},
    "images": [{"id": 7, "file_name": "dive1/a.png", "width": 64, "height": 48, "coco_url": "https://x/a.png"},
               {"id": 9, "file_name": "dive1/b.png", "width": 64, "height": 48}],
    "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 5, 20, 8.5]},
                    {"id": 2, "image_id": 9, "category_id": 4, "bbox": [0, 0, 64, 48]},
                    {"id": 3, "image_id": 9, "category_id": 3}],
    "categories": [{"id": 3, "name": "Asteroidea"}, {"id": 4, "name": "Sebastes"}],
}
TREE = "id,name,parent_id\n1,Animalia,\n2,Echinodermata,1\n3,Asteroidea,2\n4,Chordata,1\n5,Sebastes,4\n"


@pytest.fixture
def coco(tmp_path: Path) -> Path:
    path = tmp_path / "fathomnet.json"
    path.write_text(json.dumps(COCO))
    return path


def test_boxes_and_paths_from_a_label_tree(coco: Path, tmp_path: Path):
    tree = tmp_path / "labels.csv"
    tree.write_text(TREE)
    records = read_coco(coco, label_tree=tree, image_root=tmp_path / "imgs")
    assert [(r.image, r.path, r.geometry, r.complete) for r in records] == [
        (str(tmp_path / "imgs" / "dive1" / "a.png"), ("Animalia", "Echinodermata", "Asteroidea"),
         Geometry("box", (10.0, 5.0, 30.0, 13.5)), False),
        (str(tmp_path / "imgs" / "dive1" / "b.png"), ("Animalia", "Chordata", "Sebastes"),
         Geometry("box", (0.0, 0.0, 64.0, 48.0)), False),
        (str(tmp_path / "imgs" / "dive1" / "b.png"), ("Animalia", "Echinodermata", "Asteroidea"), Geometry("whole"),
         False),
    ]
    assert records[0].meta == {"category": "Asteroidea", "annotation_id": 1, "image_id": 7}
    assert records[0].where == f"{coco}:annotations[0]"


def test_name_map_wins_over_the_tree(coco: Path, tmp_path: Path):
    tree, names = tmp_path / "labels.csv", tmp_path / "names.csv"
    tree.write_text(TREE)
    names.write_text("Concept,Lineage\nSebastes,Biota/Fishes/Rockfish\n")
    records = read_coco(coco, label_tree=tree, label_map=names, map_sep="/")
    assert [r.path for r in records] == [("Animalia", "Echinodermata", "Asteroidea"), ("Biota", "Fishes", "Rockfish"),
                                         ("Animalia", "Echinodermata", "Asteroidea")]


def test_errors_name_the_category_and_the_table(coco: Path, tmp_path: Path):
    with pytest.raises(AnnotationFormatError, match="give data.label_tree=labels.csv .* or data.label_map"):
        read_coco(coco)
    names = tmp_path / "names.csv"
    names.write_text("name,path\nSebastes,Biota > Fishes\n")
    with pytest.raises(AnnotationFormatError, match=r"annotations\[0\]: category 'Asteroidea' has no taxon path in "
                                                    r"the label map .*names\.csv"):
        read_coco(coco, label_map=names)
    tree = tmp_path / "labels.csv"
    tree.write_text(TREE + "6,Asteroidea,4\n")
    with pytest.raises(AnnotationFormatError, match="category 'Asteroidea' names 2 labels of the label tree"):
        read_coco(coco, label_tree=tree)
    bad = dict(COCO, annotations=[{"id": 1, "image_id": 7, "category_id": 4, "bbox": [1, 2, 0, 4]}])
    coco.write_text(json.dumps(bad))
    with pytest.raises(AnnotationFormatError, match=r"annotations\[0\]: bbox \[1, 2, 0, 4\] has no area"):
        read_coco(coco, label_map=names)
    coco.write_text("{\"images\": [")
    with pytest.raises(AnnotationFormatError, match="not valid JSON"):
        read_coco(coco, label_map=names)


def test_config_and_prediction_inputs(coco: Path, tmp_path: Path):
    tree = tmp_path / "labels.csv"
    tree.write_text(TREE)
    config = load_config(None, ["data.format=coco", f"data.annotations={coco}", f"data.label_tree={tree}"])
    spec = FORMATS.get("coco")
    assert spec.grouping(config.data.group_by) == "annotation"  # boxes become patches by default
    assert len(spec.read(config.data.annotations, **spec.reader_options(config.data))) == 3
    assert read_coco_boxes(coco) == [(str(tmp_path / "dive1/a.png"), "dive1/a.png", Geometry("box", (10, 5, 30, 13.5))),
                                     (str(tmp_path / "dive1/b.png"), "dive1/b.png", Geometry("box", (0, 0, 64, 48))),
                                     (str(tmp_path / "dive1/b.png"), "dive1/b.png", None)]
