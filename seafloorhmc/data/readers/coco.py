"""COCO object-detection JSON (FathomNet's ``fathomnet-generate --format coco``, BIIGLE's COCO report).

Read: ``images[]`` (``id``, ``file_name``), ``annotations[]`` (``image_id``, ``category_id``,
``bbox`` = ``[x, y, width, height]`` in pixels) and ``categories[]`` (``id``, ``name``). Every box
becomes a box record (a patch, padded to a square around it); an annotation without a ``bbox`` labels
the whole image. Images are looked up as ``file_name`` under ``image_root`` (default: the JSON's
folder); ``coco_url`` is never fetched — download the images first (FathomNet: ``fathomnet-generate
--img-download``), so training runs offline.

COCO categories are bare names (FathomNet: concept names of mixed rank, "Sebastes", "Asteroidea"),
so they are placed in the taxonomy by a table the user supplies, one of:

* ``label_tree``: a label tree as BIIGLE exports it (``labels.csv``: ``id, name, parent_id``); a
  category is the tree's label of the same name (its path from the root), and the taxonomy is the
  whole tree. A name that occurs twice in the tree is refused when a category uses it.
* ``label_map``: a CSV of category name → taxon path, columns ``name`` (or ``concept``,
  ``category``) and ``path`` (or ``taxon_path``, ``lineage``), components joined by ``map_sep``.

With both, the map wins for the names it lists. A category with no path is an error naming it and
the table. Names are matched exactly (after trimming spaces): FathomNet renames homonyms
("Umbellula 2"), so the table must use FathomNet's names. Mixed-rank categories become partial
labels (``complete=False``): "Asteroidea" says nothing about which sea star.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from ...labels import TaxonomyError, read_label_table
from ..errors import AnnotationFormatError
from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord, Geometry
from ..tables import read_csv_rows, read_text, require_records, resolve_image

__all__ = ["read_coco", "read_coco_boxes", "coco_name_paths", "NAME_COLUMNS", "PATH_COLUMNS"]

SOURCE = "coco"
NAME_COLUMNS = ("name", "concept", "category")
PATH_COLUMNS = ("path", "taxon_path", "taxon path", "lineage")


def coco_name_paths(label_tree: str | Path | None = None, label_map: str | Path | None = None,
                    map_sep: str = " > ") -> tuple[dict[str, tuple[str, ...]], dict[str, int], str]:
    """Category name → taxon path from a label tree and/or a name → path table (the map wins).

    Args:
        label_tree: ``labels.csv`` (``id, name, parent_id``).
        label_map: CSV of category name → taxon path.
        map_sep: Separator of the map's paths.

    Returns:
        (name → path, name → how many labels of the tree carry it, a description of the tables for messages).

    Raises:
        AnnotationFormatError: If neither table is given, or one cannot be read (naming the file and row).
    """
    if label_tree is None and label_map is None:
        raise AnnotationFormatError("COCO categories are bare names: give data.label_tree=labels.csv (names are looked "
                                    "up in the tree) or data.label_map=names.csv (columns name, path)")
    paths: dict[str, tuple[str, ...]] = {}
    counts: dict[str, int] = {}
    tables = []
    if label_tree is not None:
        try:
            tree = read_label_table(label_tree)
        except TaxonomyError as err:
            raise AnnotationFormatError(str(err).removeprefix(f"{label_tree}: "), label_tree) from None
        for path in tree.values():
            counts[path[-1]] = counts.get(path[-1], 0) + 1
            paths.setdefault(path[-1], path)
        tables.append(f"label tree {label_tree}")
    if label_map is not None:
        header, rows = read_csv_rows(label_map)
        name_column = next((c for c in NAME_COLUMNS if c in header), None)
        path_column = next((c for c in PATH_COLUMNS if c in header), None)
        if name_column is None or path_column is None:
            raise AnnotationFormatError(f"a COCO label map needs a name column ({', '.join(NAME_COLUMNS)}) and a path "
                                        f"column ({', '.join(PATH_COLUMNS)}); header has "
                                        f"{', '.join(repr(c) for c in header)}", label_map, 1)
        for row in rows:
            name = row.get(name_column)
            if not name:
                raise row.error("empty category name", name_column)
            if not row.get(path_column):
                raise row.error(f"category {name!r} has no taxon path", path_column)
            paths[name] = row.path(row.get(path_column), map_sep, path_column)
            counts[name] = 1
        tables.append(f"label map {label_map}")
    return paths, counts, " and ".join(tables)


def _load(path: Path, encoding: str) -> dict:
    text = read_text(path, encoding)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise AnnotationFormatError(f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})",
                                    path) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise AnnotationFormatError("not a COCO file: expected an object with 'images' and 'annotations' lists", path)
    return data


def _images(data: dict, path: Path) -> dict[object, str]:
    images = {}
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or not image.get("file_name"):
            raise AnnotationFormatError(f"images[{i}] needs an 'id' and a 'file_name'", path)
        images[image["id"]] = str(image["file_name"])
    return images


def _box(annotation: dict, where: str) -> Geometry:
    bbox = annotation.get("bbox")
    if bbox is None:
        return Geometry("whole")
    if (not isinstance(bbox, list) or len(bbox) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)):
        raise AnnotationFormatError(f"{where}: bbox {bbox!r} must be [x, y, width, height] in pixels")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise AnnotationFormatError(f"{where}: bbox {bbox!r} has no area (width and height must be positive)")
    return Geometry("box", (x, y, x + w, y + h))


def read_coco(
    path: str | Path,
    label_tree: str | Path | None = None,
    label_map: str | Path | None = None,
    image_root: str | Path | None = None,
    map_sep: str = " > ",
    encoding: str = "utf-8-sig",
) -> list[AnnotationRecord]:
    """One record per annotation of a COCO JSON file, its category placed by a label tree or map (module doc).

    Args:
        path: The COCO JSON file.
        label_tree: ``labels.csv`` label tree (category names looked up in it).
        label_map: CSV of category name → taxon path.
        image_root: Folder the ``file_name`` entries are relative to (default: the JSON's folder).
        map_sep: Separator of the label map's paths.
        encoding: Text encoding.

    Returns:
        Box records (whole-image ones for annotations without a bbox), in file order.

    Raises:
        AnnotationFormatError: Naming the file and the annotation or category: invalid JSON, an
            annotation of an unknown image or category, a bad box, a category without a taxon path.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    data = _load(path, encoding)
    paths, counts, tables = coco_name_paths(label_tree, label_map, map_sep)
    images = _images(data, path)
    categories = {}
    for i, category in enumerate(data.get("categories") or []):
        if not isinstance(category, dict) or "id" not in category or not str(category.get("name", "")).strip():
            raise AnnotationFormatError(f"categories[{i}] needs an 'id' and a 'name'", path)
        categories[category["id"]] = str(category["name"]).strip()
    records = []
    for i, annotation in enumerate(data["annotations"]):
        where = f"{path}:annotations[{i}]"
        if not isinstance(annotation, dict):
            raise AnnotationFormatError(f"{where}: expected an object")
        image = images.get(annotation.get("image_id"))
        if image is None:
            raise AnnotationFormatError(f"{where}: image_id {annotation.get('image_id')!r} is not in 'images'")
        name = categories.get(annotation.get("category_id"))
        if name is None:
            raise AnnotationFormatError(f"{where}: category_id {annotation.get('category_id')!r} is not in "
                                        "'categories'")
        if name not in paths:
            raise AnnotationFormatError(f"{where}: category {name!r} has no taxon path in the {tables}; add it there")
        if counts.get(name, 0) > 1:
            raise AnnotationFormatError(f"{where}: category {name!r} names {counts[name]} labels of the {tables}; "
                                        "rename them or give data.label_map=names.csv with its path")
        records.append(AnnotationRecord(
            image=resolve_image(root, image), path=paths[name], geometry=_box(annotation, where), source=SOURCE,
            where=where, meta={"category": name, "annotation_id": annotation.get("id"),
                               "image_id": annotation.get("image_id")}))
    return require_records(records, path)


def read_coco_boxes(path: str | Path, image_root: str | Path | None = None,
                    encoding: str = "utf-8-sig") -> list[tuple[str, str, Geometry | None]]:
    """The boxes of a COCO file to predict on, whatever their categories (no taxonomy needed).

    Args:
        path: The COCO JSON file.
        image_root: Folder the ``file_name`` entries are relative to (default: the JSON's folder).
        encoding: Text encoding.

    Returns:
        (file to open, file name, box or None for an annotation without a bbox) per annotation.

    Raises:
        AnnotationFormatError: For invalid JSON, an annotation of an unknown image, a bad box, or no annotation.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    data = _load(path, encoding)
    images = _images(data, path)
    items = []
    for i, annotation in enumerate(data["annotations"]):
        where = f"{path}:annotations[{i}]"
        image = images.get(annotation.get("image_id")) if isinstance(annotation, Mapping) else None
        if image is None:
            raise AnnotationFormatError(f"{where}: an annotation of an image that is not in 'images'")
        geometry = _box(annotation, where)
        items.append((str(root / image), image, None if geometry.kind == "whole" else geometry))
    if not items:
        raise AnnotationFormatError("no annotations listed", path)
    return items


FORMATS.register("coco", DataFormat(
    name="coco", summary="COCO JSON (FathomNet): boxes become patches; category names → taxon paths through "
                         "data.label_tree (labels.csv) or data.label_map (name,path)",
    read=read_coco, source="annotations",
    options={"label_tree": "label_tree", "label_map": "label_map", "image_root": "root", "map_sep": "separator"},
    required={"annotations": "/path/to/dataset.json"}, geometry=True, read_unlabelled=read_coco_boxes))
