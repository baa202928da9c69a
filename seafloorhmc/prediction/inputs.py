"""What ``seafloorhmc predict`` runs on: a folder, a CSV of images (or points), or an annotation export.

Every input becomes a list of :class:`PredictionItem` (one output row each), in input order:

* a folder: every image file below it (recursive, sorted, hidden files skipped), whole images;
* a CSV (``--format manifest``, the default for files): an ``image`` column, optional ``x``/``y``
  pixel points; ``labels`` and any other columns are ignored, so a training manifest works as is;
* an annotation export (``--format biigle|squidle|coralnet|benthicnet|folder``) read with that
  format's reader; annotations with a point/box/polygon become patches, the rest whole images.
  ``--format coralnet`` without a label map reads just the points (``Name``, ``Row``, ``Column``),
  so CoralNet exports of unannotated points can be predicted.

Rows naming the same (image, place) twice are predicted once. :class:`PredictionDataset` decodes
items in DataLoader workers; an image that cannot be read, or a point outside its image, becomes an
item carrying an ``error`` message naming the file instead of an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.images import DEFAULT_MAX_PIXELS, BadImageError, decode_image
from ..data.patches import crop_for_geometry
from ..data.readers import FORMATS, prediction_formats
from .items import PredictionItem

__all__ = ["PredictionItem", "PredictionDataset", "collect_items", "collate_predictions"]


def collect_items(source: str | Path, fmt: str = "auto", root: str | Path | None = None,
                  label_map: str | Path | None = None, label_tree: str | Path | None = None,
                  separator: str = " > ", image_suffix: str = "") -> list[PredictionItem]:
    """The items ``source`` holds (module doc), each (image, place) once, in input order.

    Args:
        source: A folder, a CSV of images or points, or an annotation export.
        fmt: A registered data format, or ``auto`` (folder for a directory, manifest for a file).
        root: Folder the input's image paths are relative to (default: the input's folder).
        label_map: CoralNet label map (without it a CoralNet export is read as bare points).
        label_tree: BIIGLE ``labels.csv``.
        separator: Taxon path separator of SQUIDLE+ / BenthicNet exports.
        image_suffix: Extension appended to SQUIDLE+ image keys without one.

    Returns:
        One item per output row.

    Raises:
        FileNotFoundError: If ``source`` does not exist.
        ValueError: For an unknown format, or a folder given where a file is expected.
    """
    source = Path(source)
    fmt = str(fmt).strip().lower()
    if fmt not in prediction_formats():
        raise ValueError(f"unknown input format {fmt!r}; choose one of {', '.join(prediction_formats())}")
    if not source.exists():
        raise FileNotFoundError(f"prediction input {source} does not exist")
    if fmt == "auto":
        fmt = "folder" if source.is_dir() else "manifest"
    spec = FORMATS.get(fmt)
    if spec.source == "annotations" and source.is_dir():
        raise ValueError(f"--format {fmt} expects a file, but {source} is a folder")
    values = {"root": root, "label_map": label_map, "label_tree": label_tree, "separator": separator,
              "image_suffix": image_suffix}
    if spec.read_unlabelled is not None:  # needs no labels: a CSV of images or points, a folder
        items = [PredictionItem(*item) for item in spec.read_unlabelled(source, image_root=root)]
    else:
        records = spec.read(source, **spec.reader_options(values))
        base = Path(root) if root else source.parent
        items = [PredictionItem(r.image, _display_name(r.image, base),
                                r.geometry if r.geometry is not None and r.geometry.kind != "whole" else None)
                 for r in records]
    return _unique(items)


def _unique(items: list[PredictionItem]) -> list[PredictionItem]:
    """First appearance of each (file, place); annotation exports list a point once per label."""
    return list(dict.fromkeys(items))


def _display_name(image: str, base: Path) -> str:
    """The image path relative to ``base`` when it lies below it (as the user wrote it), else as is."""
    try:
        return Path(image).relative_to(base).as_posix()
    except ValueError:
        return image


class PredictionDataset(Dataset):
    """Items → ``{"image": tensor, "index": i}``, or ``{"error": message, "index": i}`` for a bad one.

    The last decoded image is kept, so the points of one image (consecutive rows, which the
    DataLoader hands to one worker within a batch) decode it once.
    """

    def __init__(self, items: Sequence[PredictionItem], transform: Callable, patch_size: int,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, allow_truncated: bool = False) -> None:
        self.items = list(items)
        self.transform = transform
        self.patch_size = int(patch_size)
        self.max_pixels = max_pixels
        self.allow_truncated = allow_truncated
        self._last: tuple[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last": None}

    def _pixels(self, path: str) -> np.ndarray:
        if self._last is None or self._last[0] != path:
            self._last = None
            self._last = (path, decode_image(path, self.max_pixels, self.allow_truncated).pixels)
        return self._last[1]

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        try:
            pixels = crop_for_geometry(self._pixels(item.path), item.geometry, self.patch_size)
        except BadImageError as err:
            return {"error": str(err), "index": index}
        except ValueError as err:  # the annotation does not fit the image (a point outside it)
            return {"error": f"image {item.path}: {err}", "index": index}
        return {"image": self.transform(image=pixels)["image"], "index": index}


def collate_predictions(batch: Sequence[dict]) -> dict:
    """Stack the good items; ``errors`` lists (index, message) of the bad ones."""
    good = [item for item in batch if "error" not in item]
    return {
        "image": torch.stack([item["image"] for item in good]) if good else None,
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "errors": [(item["index"], item["error"]) for item in batch if "error" in item],
    }
