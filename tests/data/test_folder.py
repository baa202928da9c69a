"""read_folder: directory levels are taxon paths; deterministic order; unlabelled images rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from seafloorhmc.data.readers import AnnotationFormatError, read_folder


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8fake")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    touch(root / "Biota" / "Echinoderms" / "Sea urchins" / "a.jpg")
    touch(root / "Biota" / "Echinoderms" / "b.PNG")
    touch(root / "Substrate" / "c.tif")
    touch(root / "Substrate" / "notes.txt")          # not an image
    touch(root / ".thumbs" / "d.jpg")                 # hidden folder
    touch(root / "Biota" / ".e.jpg")                  # hidden file
    return root


def test_paths_order_and_fields(tree: Path):
    records = read_folder(tree)
    assert [(Path(r.image).relative_to(tree).as_posix(), r.path) for r in records] == [
        ("Biota/Echinoderms/b.PNG", ("Biota", "Echinoderms")),
        ("Biota/Echinoderms/Sea urchins/a.jpg", ("Biota", "Echinoderms", "Sea urchins")),
        ("Substrate/c.tif", ("Substrate",)),
    ]
    assert all(r.source == "folder" and not r.complete and r.geometry is None for r in records)
    assert records[0].image == str(tree / "Biota" / "Echinoderms" / "b.PNG")
    assert records[0].where == records[0].image


def test_extensions_filter(tree: Path):
    records = read_folder(tree, extensions=(".png",))
    assert [r.path for r in records] == [("Biota", "Echinoderms")]


def test_image_in_root_is_an_error_naming_it(tree: Path):
    touch(tree / "stray.jpg")
    with pytest.raises(AnnotationFormatError, match="stray.jpg") as err:
        read_folder(tree)
    assert str(tree) in str(err.value)


def test_missing_root(tmp_path: Path):
    with pytest.raises(AnnotationFormatError, match="nowhere"):
        read_folder(tmp_path / "nowhere")


def test_no_images(tmp_path: Path):
    touch(tmp_path / "Biota" / "readme.md")
    with pytest.raises(AnnotationFormatError, match="no images"):
        read_folder(tmp_path)
