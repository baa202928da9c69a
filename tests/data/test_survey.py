"""Survey-sized synthetic photos: JPEGs of the asked size with a CoralNet export the reader accepts."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from seafloorhmc.cli import main
from seafloorhmc.data.images import load_image
from seafloorhmc.data.patches import crop_for_geometry
from seafloorhmc.data.readers.coralnet import read_coralnet
from seafloorhmc.data.records import Geometry
from seafloorhmc.data.synthetic.survey import SURVEY_LABELS, survey_points, write_survey_dataset


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_photos_and_export_read_back_as_coralnet_points(tmp_path):
    annotations = write_survey_dataset(tmp_path / "s", n_images=3, width=320, height=200, points=(5, 9), seed=2)
    records = read_coralnet(annotations, tmp_path / "s" / "label_map.csv")
    per_photo: dict[str, int] = {}
    for record in records:
        per_photo[record.image] = per_photo.get(record.image, 0) + 1
        x, y = record.geometry.coords
        assert 0 <= x < 320 and 0 <= y < 200
        assert " > ".join(record.path) in {v[0] for v in SURVEY_LABELS.values()}
    assert len(per_photo) == 3 and all(5 <= n <= 9 for n in per_photo.values())
    with Image.open(next(iter(per_photo))) as im:
        assert (im.format, im.size, im.mode) == ("JPEG", (320, 200), "RGB")


def test_each_point_sits_on_a_blob_of_its_class_colour(tmp_path):
    """A patch says what its label is: the blob under a point has its class's colour (up to texture)."""
    write_survey_dataset(tmp_path, n_images=1, width=640, height=480, points=(6, 6), seed=4)
    pixels = load_image(tmp_path / "survey_000000.jpg")
    marks = survey_points(0, 640, 480, (6, 6), seed=4)
    checked = 0  # later blobs cover earlier ones: check the points no later blob can reach
    for i, mark in enumerate(marks):
        later = marks[i + 1:]
        if any(abs(m.row - mark.row) < 170 and abs(m.column - mark.column) < 170 for m in later):
            continue
        centre = crop_for_geometry(pixels, Geometry("point", (mark.column, mark.row)), 9).reshape(-1, 3).mean(0)
        colour = np.array(SURVEY_LABELS[mark.label][1])
        assert np.abs(centre - colour).max() < 90, (mark, centre)
        checked += 1
    assert checked >= 1


def test_same_arguments_same_bytes_and_an_interrupted_run_is_finished(tmp_path):
    write_survey_dataset(tmp_path / "a", n_images=2, width=160, height=120, points=(3, 4))
    write_survey_dataset(tmp_path / "b", n_images=2, width=160, height=120, points=(3, 4))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    (tmp_path / "b" / "annotations.csv").unlink()
    (tmp_path / "b" / "survey_000001.jpg").unlink()
    write_survey_dataset(tmp_path / "b", n_images=2, width=160, height=120, points=(3, 4))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_other_settings_or_foreign_folders_are_refused(tmp_path):
    write_survey_dataset(tmp_path / "a", n_images=1, width=160, height=120, points=(3, 4))
    with pytest.raises(FileExistsError, match="other settings"):
        write_survey_dataset(tmp_path / "a", n_images=2, width=160, height=120, points=(3, 4))
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no survey dataset"):
        write_survey_dataset(tmp_path / "foreign", n_images=1, width=160, height=120)
    with pytest.raises(ValueError, match="points per image"):
        write_survey_dataset(tmp_path / "c", points=(5, 2))


def test_cli_writes_a_survey(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s"), "--survey", "--n", "1", "--width", "200", "--height", "150",
                 "--points", "4-6"]) == 0
    assert "survey dataset:" in capsys.readouterr().out
    assert (tmp_path / "s" / "survey_000000.jpg").is_file() and (tmp_path / "s" / "label_map.csv").is_file()
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path / "t"), "--survey", "--points", "many"])
