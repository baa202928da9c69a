"""Folder trees as labels: ``root/Biota/Echinoderms/Sea urchins/img.jpg`` → that taxon path.

The layout torchvision's ``ImageFolder`` uses, nested: every directory level is one taxonomy level,
so an image filed in an inner folder (``root/Biota/Echinoderms/img.jpg``) is a label that stops
above leaf level (``complete=False``: its finer rank is unknown, not absent).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import AnnotationFormatError
from ..formats import FORMATS, DataFormat, UnlabelledItem
from ..records import AnnotationRecord
from ..tables import IMAGE_EXTENSIONS, has_image_extension

__all__ = ["SOURCE", "read_folder", "list_images"]

SOURCE = "folder"


def read_folder(root: str | Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[AnnotationRecord]:
    """One whole-image record per image file below ``root``, in sorted (deterministic) order.

    Hidden files and folders (names starting with ".") are skipped, as are files without one of
    ``extensions`` (case-insensitive). Images directly inside ``root`` have no label: an error
    naming them.

    Args:
        root: The folder; each subfolder path below it is a label path.
        extensions: Image file extensions to include.

    Returns:
        The records, sorted by path.

    Raises:
        AnnotationFormatError: ``root`` is not a folder, images lie directly in it, or it holds none.
    """
    root = Path(root)
    if not root.is_dir():
        raise AnnotationFormatError("image folder not found (or not a folder)", root)
    extensions = tuple(extensions)
    records: list[AnnotationRecord] = []
    unlabelled: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        path = Path(folder).relative_to(root).parts
        for name in sorted(files):
            if name.startswith(".") or not has_image_extension(name, extensions):
                continue
            image = os.path.join(folder, name)
            if not path:
                unlabelled.append(name)
                continue
            records.append(AnnotationRecord(image=image, path=path, source=SOURCE, where=image))
    if unlabelled:
        shown = ", ".join(unlabelled[:5]) + (f" and {len(unlabelled) - 5} more" if len(unlabelled) > 5 else "")
        raise AnnotationFormatError(
            f"{len(unlabelled)} image(s) directly in the root folder have no label folder: {shown}; "
            "move them into a folder named after their taxon", root)
    if not records:
        raise AnnotationFormatError(f"no images ({', '.join(extensions)}) found below this folder", root)
    return records


def list_images(root: str | Path, image_root: str | Path | None = None,
                extensions: Iterable[str] = (*IMAGE_EXTENSIONS, ".webp")) -> list[UnlabelledItem]:
    """Every image file below ``root`` (recursive, sorted, hidden files skipped), to predict on.

    Args:
        root: The folder.
        image_root: Unused (a folder's images are found where they lie).
        extensions: File endings that count as images (case-insensitive).

    Returns:
        (file, path relative to ``root``, None) per image.

    Raises:
        AnnotationFormatError: If the folder holds no image.
    """
    root = Path(root)
    extensions = tuple(extensions)
    items: list[UnlabelledItem] = []
    for parent, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and has_image_extension(name, extensions):
                path = os.path.join(parent, name)
                items.append((path, Path(path).relative_to(root).as_posix(), None))
    if not items:
        raise AnnotationFormatError(f"no images ({', '.join(extensions)}) found below this folder", root)
    return items


FORMATS.register("folder", DataFormat(
    name="folder", summary="folder tree: root/Biota/Echinoderms/img.jpg (folders are taxa)",
    read=read_folder, source="root", required={"root": "/path/to/taxonomy/folders"},
    read_unlabelled=list_images))
