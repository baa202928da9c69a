"""The data-format registry: every reader registers itself; config, CLI and predict derive from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seafloorhmc.config import ConfigError, describe, load_config
from seafloorhmc.data.formats import DataFormat
from seafloorhmc.data.readers import FORMATS, AnnotationFormatError, prediction_formats, read_annotations
from seafloorhmc.data.records import AnnotationRecord
from seafloorhmc.registry import RegistryError


def test_every_format_module_registers_itself():
    assert set(FORMATS) == {"benthicnet", "biigle", "coco", "coralnet", "folder", "hmc", "manifest", "squidle",
                            "synthetic"}
    assert {n for n, f in FORMATS.items() if f.geometry} == {"biigle", "coco", "coralnet", "squidle"}
    assert [n for n, f in FORMATS.items() if f.features] == ["hmc"]


def test_dispatch_passes_options(tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,labels\na.jpg,A/B\n")
    (rec,) = read_annotations(" Manifest ", manifest, sep="/", image_root="/data")
    assert (rec.image, rec.path, rec.source) == ("/data/a.jpg", ("A", "B"), "manifest")


def test_unknown_format_lists_valid_ones():
    with pytest.raises(RegistryError, match=r"unknown data format 'yolo'; choose one of benthicnet, biigle"):
        read_annotations("yolo", "x.json")
    with pytest.raises(ConfigError, match=r"data.format: 'manfest' is not one of .* \(did you mean 'manifest'\?\)"):
        load_config(None, ["data.format=manfest"])


def test_config_requirements_come_from_the_format():
    with pytest.raises(ConfigError, match=r"data.format=coralnet needs data.annotations .* and data.label_map"):
        load_config(None, ["data.format=coralnet"])
    with pytest.raises(ConfigError, match=r"data.format=hmc needs data.root .* and data.dataset"):
        load_config(None, ["data.format=hmc"])
    load_config(None, ["data.format=coralnet", "data.annotations=a.csv", "data.label_map=m.csv"])


def test_a_new_format_is_one_registration(tmp_path: Path):
    """Registering a format is all it takes: config validation, `keys`, predict's choices and reading follow."""
    def read_toy(path, image_root=None, sep=" > "):
        return [AnnotationRecord(image=str(Path(image_root or ".") / "x.png"), path=("A", "B"), source="toy",
                                 where=f"{path}:2")]

    FORMATS.register("toy", DataFormat(name="toy", summary="a toy format", read=read_toy,
                                       options={"image_root": "root", "sep": "separator"},
                                       required={"annotations": "/path/to/toy.json"}))
    try:
        with pytest.raises(ConfigError, match="data.format=toy needs data.annotations"):
            load_config(None, ["data.format=toy"])
        config = load_config(None, ["data.format=toy", "data.annotations=t.json", f"data.root={tmp_path}"])
        spec = FORMATS.get(config.data.format)
        (record,) = spec.read(config.data.annotations, **spec.reader_options(config.data))
        assert record.image == str(tmp_path / "x.png")
        assert "toy" in prediction_formats()
        assert "toy" in dict((k, t) for k, _, t in describe())["data.format"]
    finally:
        FORMATS.unregister("toy")
    assert "toy" not in prediction_formats()


def test_predict_accepts_image_formats_only():
    assert prediction_formats() == ("auto", "benthicnet", "biigle", "coco", "coralnet", "folder", "manifest", "squidle")


def test_registry_and_config_load_no_torch():
    code = ("import sys; from seafloorhmc.config import load_config; load_config(None, ['data.format=folder', "
            "'data.root=x']); import seafloorhmc.cli; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_error_message_and_attributes():
    err = AnnotationFormatError("bad value", "a.csv", 7, "x")
    assert isinstance(err, ValueError)
    assert str(err) == "a.csv:7, column 'x': bad value"
    assert (err.file, err.row, err.column, err.reason) == ("a.csv", 7, "x", "bad value")
    assert str(AnnotationFormatError("empty", "a.csv")) == "a.csv: empty"
    assert str(AnnotationFormatError("plain")) == "plain"


def test_duplicate_header_column(tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,labels,Labels\na.jpg,A,B\n")
    with pytest.raises(AnnotationFormatError, match=r"m\.csv:1: column 'labels' appears twice"):
        read_annotations("manifest", manifest)
