"""The reader registry and the error type shared by all readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from seafloorhmc.data.readers import READERS, AnnotationFormatError, read_annotations


def test_registry_lists_every_format():
    assert sorted(READERS) == ["benthicnet", "biigle", "coralnet", "folder", "manifest", "squidle"]


def test_dispatch_passes_options(tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,labels\na.jpg,A/B\n")
    (rec,) = read_annotations(" Manifest ", manifest, sep="/", image_root="/data")
    assert (rec.image, rec.path, rec.source) == ("/data/a.jpg", ("A", "B"), "manifest")


def test_unknown_format_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown annotation format 'coco'; valid formats: benthicnet, biigle, "
                                         "coralnet, folder, manifest, squidle"):
        read_annotations("coco", "x.json")


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
