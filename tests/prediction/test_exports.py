"""Round trips with the annotation tools, all from the command line: the tool's export → train → ``predict
--export`` → a file that parses with the tool's documented rules and reads back with our reader."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import timm
from safetensors.torch import save_file

from seafloorhmc.cli import main
from seafloorhmc.data.readers import read_biigle_label_tree, read_biigle_report, read_coralnet, read_squidle
from seafloorhmc.prediction.exports.biigle import ANNOTATION_HEADER, IMAGE_LABEL_HEADER
from seafloorhmc.prediction.exports.coralnet import coralnet_header
from seafloorhmc.prediction.exports.squidle import SQUIDLE_HEADER
from seafloorhmc.testing.fake_surveys import (
    SQUIDLE_LABEL_IDS,
    SURVEY_CODES,
    draw_point_survey,
    write_biigle_annotation_report,
    write_biigle_image_label_report,
    write_biigle_label_tree,
    write_coralnet_annotations,
    write_coralnet_labelset,
    write_squidle_export,
)

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "survey_cpu.yaml")
TINY = ["model.encoder=test_resnet", "model.members=3", "model.hidden=16", "data.image_size=32", "data.patch_size=16",
        "data.workers=0", "train.epochs=30", "train.batch_size=16", "train.lr=0.01", "train.progress=false",
        "train.report=false"]
PREDICT = ["--workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Training photos, new photos to label, and a local weights file for the (tiny) encoder."""
    folder = tmp_path_factory.mktemp("survey")
    weights = folder / "test_resnet.safetensors"
    save_file(timm.create_model("test_resnet", num_classes=0).state_dict(), str(weights))
    train_points = draw_point_survey(folder / "images", n_images=16, seed=1)
    new_points = draw_point_survey(folder / "images", n_images=4, seed=2, prefix="new")
    return folder, weights, train_points, new_points


def _train(folder: Path, weights: Path, name: str, *sets: str) -> Path:
    run = folder / "runs" / name
    args = ["train", CONFIG, "--out", str(run)]
    for key in [*TINY, f"model.weights={weights}", f"data.feature_cache={folder / 'features'}", *sets]:
        args += ["--set", key]
    assert main(args) == 0
    return run


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def coralnet_upload(path: Path, sizes: dict[str, tuple[int, int]], codes: set[str]) -> list[dict]:
    """CoralNet's documented upload rules (project/upload/utils.py, the upload help page): headers matched
    case-insensitively after stripping, a BOM dropped; Name, Row, Column required, Label optional and a
    short code of the source's labelset; Row/Column non-negative whole numbers inside the image."""
    text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader)]
    assert {"name", "row", "column"} <= set(header)
    parsed = []
    for cells in reader:
        row = dict(zip(header, cells))
        width, height = sizes[row["name"]]
        r, c = int(row["row"]), int(row["column"])
        assert 0 <= r < height and 0 <= c < width
        assert row.get("label", "") == "" or row["label"] in codes, row
        parsed.append(row)
    return parsed


@pytest.fixture(scope="module")
def coralnet_run(survey):
    """A model trained from a CoralNet export and its labelset (Label ID, Short Code + a path column)."""
    folder, weights, train_points, _ = survey
    labelset = write_coralnet_labelset(folder / "labelset.csv")
    write_coralnet_annotations(folder / "images" / "coralnet_train.csv", train_points)
    run = _train(folder, weights, "coralnet", "data.format=coralnet",
                 f"data.annotations={folder / 'images' / 'coralnet_train.csv'}", f"data.label_map={labelset}")
    return run, labelset


def test_coralnet_round_trip(survey, coralnet_run, capsys):
    folder, weights, train_points, new_points = survey
    images = folder / "images"
    run, labelset = coralnet_run
    assert json.loads((run / "metrics.json").read_text())["config"]["name"] == "coralnet"  # named after its folder
    confirmed = [i % 4 == 0 for i in range(len(new_points))]
    source = write_coralnet_annotations(images / "coralnet_new.csv", new_points, labelled=confirmed)
    out = folder / "coralnet_upload.csv"
    capsys.readouterr()
    assert main(["predict", str(run), str(source), "--export", "coralnet", "--label-map", str(labelset), "--out",
                 str(out), *PREDICT]) == 0
    printed = capsys.readouterr().out
    assert f"{len(new_points)} rows" in printed and "coralnet export" in printed
    assert "review threshold" in printed and "on validation" in printed
    assert f"{sum(confirmed)} of {len(new_points)} points kept their confirmed Label" in printed

    header, rows = _rows(out)
    assert header == coralnet_header(5)
    sizes = {p.image: (p.width, p.height) for p in new_points}
    parsed = coralnet_upload(out, sizes, set(SURVEY_CODES))
    _, source_rows = _rows(source)
    assert len(parsed) == len(rows) == len(source_rows)  # one label per point, every point
    for row, given, keep, point in zip(rows, source_rows, confirmed, new_points):
        assert (row["Name"], row["Row"], row["Column"]) == (given["Name"], given["Row"], given["Column"])
        assert row["Label"] == (point.code if keep else row["Label"])
        if not keep:
            assert row["Label"] in SURVEY_CODES, "every point gets a code: the roots have none, but p(root) > 0.5"
        confidences = [int(row[f"Machine confidence {i}"]) for i in range(1, 6) if row[f"Machine suggestion {i}"]]
        assert confidences and all(0 <= c <= 100 for c in confidences) and confidences == sorted(confidences)[::-1]
        assert all(row[f"Machine suggestion {i}"] in SURVEY_CODES for i in range(1, len(confidences) + 1))
    records = read_coralnet(out, labelset, image_root=images)
    assert [(Path(r.image).name, r.geometry.coords) for r in records] == [(p.image, (p.x, p.y)) for p in new_points]
    assert [r.path for r in records] == [SURVEY_CODES[row["Label"]] for row in rows]


def test_a_patch_model_warns_on_whole_images(survey, coralnet_run, tmp_path, capsys):
    folder, *_ = survey
    run, _ = coralnet_run
    listing = tmp_path / "whole.csv"
    listing.write_text("image\n" + str(folder / "images" / "new_000.png") + "\n")
    capsys.readouterr()
    assert main(["predict", str(run), str(listing), "--out", str(tmp_path / "p.csv"), *PREDICT]) == 0
    printed = capsys.readouterr()
    assert "was trained on 16-px patches around annotated points, but" in printed.err
    assert "Predict on the points" in printed.err
    # the CLI summary and the CSV's companion page say which model, uncertainty and threshold, and what it guarantees
    assert "uncertainty: bma" in printed.out and "review guarantee: on validation:" in printed.out
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert "Model and review flag" in page and "on validation:" in page and str(run) in page


def test_biigle_round_trip(survey, capsys):
    folder, weights, train_points, new_points = survey
    images = folder / "images"
    ids = write_biigle_label_tree(folder / "labels.csv")
    write_biigle_annotation_report(images / "biigle_train.csv", train_points, ids)
    run = _train(folder, weights, "biigle", "data.format=biigle", f"data.annotations={images / 'biigle_train.csv'}",
                 f"data.label_tree={folder / 'labels.csv'}")
    source = write_biigle_annotation_report(images / "biigle_new.csv", new_points, ids)
    out = folder / "biigle_labels.csv"
    assert main(["predict", str(run), str(source), "--export", "biigle", "--label-tree", str(folder / "labels.csv"),
                 "--out", str(out), *PREDICT]) == 0
    tree = read_biigle_label_tree(folder / "labels.csv")
    header, rows = _rows(out)
    assert header == ANNOTATION_HEADER
    _, given = _rows(source)
    assert len(rows) == len(given)
    for row, original in zip(rows, given):
        for column in ("annotation_id", "image_id", "filename", "shape_name", "points"):
            assert row[column] == original[column]
        assert row["label_id"] in tree, "every label_id exists in labels.csv"
        assert row["label_hierarchy"] == " > ".join(tree[row["label_id"]])
        assert row["label_name"] == tree[row["label_id"]][-1]
        assert 0.5 < float(row["confidence"]) <= 1 and row["needs_review"] in ("true", "false")
    back = read_biigle_report(out, image_root=images, label_tree=folder / "labels.csv")
    original = read_biigle_report(source, image_root=images, label_tree=folder / "labels.csv")
    assert [(r.image, r.geometry) for r in back] == [(r.image, r.geometry) for r in original]
    assert [r.path for r in back] == [tree[row["label_id"]] for row in rows]
    assert [r.meta["annotation_id"] for r in back] == [row["annotation_id"] for row in given]

    # image labels: an image-label report in, one row per image with BIIGLE's image_id out
    names = sorted({p.image for p in new_points})
    source = write_biigle_image_label_report(images / "biigle_image_labels.csv", names, ids)
    out = folder / "biigle_image_labels_out.csv"
    assert main(["predict", str(run), str(source), "--export", "biigle", "--label-tree", str(folder / "labels.csv"),
                 "--out", str(out), *PREDICT]) == 0
    header, rows = _rows(out)
    assert header == IMAGE_LABEL_HEADER and [r["filename"] for r in rows] == names
    assert [r["image_id"] for r in rows] == [str(900 + i) for i in range(len(names))]
    assert all(r["label_id"] in tree for r in rows)
    back = read_biigle_report(out, image_root=images, label_tree=folder / "labels.csv")
    assert [Path(r.image).name for r in back] == names and all(r.geometry.kind == "whole" for r in back)


def test_squidle_round_trip(survey, capsys):
    folder, weights, train_points, new_points = survey
    images = folder / "images"
    training = write_squidle_export(images / "squidle_train.csv", train_points)
    run = _train(folder, weights, "squidle", "data.format=squidle", f"data.annotations={training}",
                 "data.image_suffix=.png")
    labelled = [i % 2 == 0 for i in range(len(new_points))]
    source = write_squidle_export(images / "squidle_new.csv", new_points, labelled=labelled)
    out = folder / "squidle_labels.csv"
    assert main(["predict", str(run), str(source), "--export", "squidle", "--image-suffix", ".png", "--label-map",
                 str(training), "--out", str(out), *PREDICT]) == 0
    header, rows = _rows(out)
    assert header == SQUIDLE_HEADER
    _, given = _rows(source)
    assert len(rows) == len(given)
    for row, original in zip(rows, given):
        for column in ("point.id", "point.media.id", "point.media.key", "point.x", "point.y"):
            assert row[column] == original[column]
        path = tuple(row["label.lineage_names"].split(" > "))
        assert row["label.id"] == SQUIDLE_LABEL_IDS[path] and row["label.name"] == path[-1]
        assert 0.5 < float(row["likelihood"]) <= 1 and row["needs_review"] in ("true", "false")
    back = read_squidle(out, image_root=images, image_suffix=".png")
    assert [(Path(r.image).name, r.geometry.coords) for r in back] == [
        (p.image, (float(g["point.x"]), float(g["point.y"]))) for p, g in zip(new_points, given)]
    assert [r.path for r in back] == [tuple(row["label.lineage_names"].split(" > ")) for row in rows]


def test_export_requests_are_refused_before_loading_a_model(survey, tmp_path, capsys):
    folder, *_ = survey
    source = write_coralnet_annotations(tmp_path / "a.csv", [])
    assert main(["predict", str(folder), str(source), "--export", "coralnet", "--out",
                 str(tmp_path / "o.csv")]) == 2
    assert "--export coralnet needs --label-map" in capsys.readouterr().err
    assert main(["predict", str(folder), str(source), "--export", "biigle", "--format", "coralnet",
                 "--label-tree", str(source), "--out", str(tmp_path / "o.csv")]) == 2
    assert "--export biigle reads biigle input" in capsys.readouterr().err
