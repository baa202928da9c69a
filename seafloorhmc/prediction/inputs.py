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

**Each photo is decoded once**, however many points it has and wherever they appear in the input:
:meth:`PredictionDataset.photo_batches` groups the items by photo and packs whole photos into
batches, so every photo's items are produced by one worker right after one another (the dataset
keeps the last decoded photo). A photo with more points than a batch holds becomes one larger
batch; :func:`rebatch` turns them back into full model batches; :class:`InputOrder` puts rows back
into input order when the input interleaves photos. Whole images are decoded shrunk to the
working side (JPEG draft mode, :func:`~seafloorhmc.data.images.decode_image`), exactly as training
and evaluation decode them.

With a GPU (``data.gpu_decode``), :func:`gpu_batches` has the workers only read the files and
decodes each batch's photos together on the GPU (:mod:`~seafloorhmc.data.gpu_decode`), cutting
and resizing there too; pixels then differ from the CPU path's by interpolation and IDCT details
(a few levels), and anything the GPU decoder does not take goes through the CPU path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.gpu_decode import JpegData, cut_windows, decode_jpegs, eval_resize_crop, normalise, read_jpeg
from ..data.images import DEFAULT_MAX_PIXELS, BadImageError, decode_image
from ..data.patches import crop_for_geometry, window_for_geometry
from ..data.readers import FORMATS, prediction_formats
from .items import PredictionItem

__all__ = ["InputOrder", "PredictionItem", "PredictionDataset", "collect_items", "collate_predictions",
           "gpu_batches", "rebatch"]

Row = TypeVar("Row")


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
        assert spec.read is not None  # every format predict accepts has a reader (prediction_formats)
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

    The last decoded photo is kept, so the items of one photo decode it once when they come one
    after another, as :meth:`photo_batches` arranges.

    Args:
        items: What to predict on, one output row each.
        transform: The eval transform (albumentations-style).
        patch_size: Side of point patches.
        max_pixels: The decompression-bomb limit (None: none).
        allow_truncated: Accept truncated files.
        shrink_to: Decode whole images at least twice this on their shorter side shrunk to it
            (None: full size).
    """

    def __init__(self, items: Sequence[PredictionItem], transform: Callable, patch_size: int,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, allow_truncated: bool = False,
                 shrink_to: int | None = None) -> None:
        self.items = list(items)
        self.transform = transform
        self.patch_size = int(patch_size)
        self.max_pixels = max_pixels
        self.allow_truncated = allow_truncated
        self.shrink_to = None if shrink_to is None else int(shrink_to)
        self._last: tuple[tuple[str, int | None], np.ndarray | BadImageError] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last": None}

    def photo_batches(self, batch_size: int) -> list[list[int]]:
        """Item indices in batches of whole photos: a batch sampler under which each photo is decoded once.

        Photos keep the order of their first item; items of a photo keep input order. Photos are
        packed while they fit in ``batch_size``; a photo with more items is a batch of its own.

        Args:
            batch_size: Items per batch (the model's batch size).

        Returns:
            The batches.

        Raises:
            ValueError: If ``batch_size`` < 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        photos: dict[str, list[int]] = {}
        for index, item in enumerate(self.items):
            photos.setdefault(item.path, []).append(index)
        batches: list[list[int]] = []
        current: list[int] = []
        for indices in photos.values():
            if current and len(current) + len(indices) > batch_size:
                batches.append(current)
                current = []
            current = current + indices
            if len(current) >= batch_size:
                batches.append(current)
                current = []
        if current:
            batches.append(current)
        return batches

    def _pixels(self, path: str, shrink_to: int | None) -> np.ndarray:
        """The photo's pixels; an unreadable photo's error is kept too, so its other items do not retry it."""
        key = (path, shrink_to)
        if self._last is None or self._last[0] != key:
            self._last = None
            try:
                decoded: np.ndarray | BadImageError = decode_image(path, self.max_pixels, self.allow_truncated,
                                                                   shrink_to=shrink_to).pixels
            except BadImageError as err:
                decoded = err
            self._last = (key, decoded)
        if isinstance(self._last[1], BadImageError):
            raise self._last[1]
        return self._last[1]

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        shrink_to = self.shrink_to if item.geometry is None or item.geometry.kind == "whole" else None
        try:
            pixels = crop_for_geometry(self._pixels(item.path, shrink_to), item.geometry, self.patch_size)
        except BadImageError as err:
            return {"error": str(err), "index": index}
        except ValueError as err:  # the annotation does not fit the image (a point outside it)
            return {"error": f"image {item.path}: {err}", "index": index}
        return {"image": self.transform(image=pixels)["image"], "index": index}


def collate_predictions(batch: Sequence[dict]) -> dict:
    """Stack the good items and keep the bad ones' messages, so one unreadable image does not stop a batch.

    Args:
        batch: Items from :class:`PredictionDataset` (``image`` and ``index``, or ``error`` and ``index``).

    Returns:
        ``image`` (the stacked tensors, None when no item is good), ``index`` (long, of the good
        items) and ``errors`` (``(index, message)`` of the bad ones).
    """
    good = [item for item in batch if "error" not in item]
    return {
        "image": torch.stack([item["image"] for item in good]) if good else None,
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "errors": [(item["index"], item["error"]) for item in batch if "error" in item],
    }


def rebatch(batches: Iterable[dict], batch_size: int, start_now: bool = False) -> Iterator[dict]:
    """Collated batches (:func:`collate_predictions`) of any size → batches of exactly ``batch_size`` images.

    Photo-aligned batches are as large as their photos make them; the model runs best on full
    batches, so images are cut and carried over into the next batch (only the last may be
    smaller). Errors travel with the next batch yielded. With ``start_now`` the first images are
    passed on as they come (up to ``batch_size``), so the model starts on the first decoded photo
    instead of idling until enough photos are decoded to fill a batch.

    Args:
        batches: Collated batches.
        batch_size: Images per yielded batch.
        start_now: Let the first yielded batch be smaller.

    Yields:
        Batches with the same keys.
    """
    images: list[torch.Tensor] = []
    indices: list[torch.Tensor] = []
    errors: list = []
    held = 0
    for batch in batches:
        errors += batch["errors"]
        if batch["image"] is not None and len(batch["index"]):
            images.append(batch["image"])
            indices.append(batch["index"])
            held += len(batch["index"])
        if start_now and held:
            start_now = False
            first = min(held, batch_size)
            image, index = torch.cat(images), torch.cat(indices)
            yield {"image": image[:first], "index": index[:first], "errors": errors}
            images, indices, errors = [image[first:]], [index[first:]], []
            held -= first
        while held >= batch_size:
            image, index = torch.cat(images), torch.cat(indices)
            yield {"image": image[:batch_size], "index": index[:batch_size], "errors": errors}
            images, indices, errors = [image[batch_size:]], [index[batch_size:]], []
            held -= batch_size
        if errors and not held:
            yield {"image": None, "index": torch.zeros(0, dtype=torch.long), "errors": errors}
            errors = []
    if held or errors:
        yield {"image": torch.cat(images) if held else None,
               "index": torch.cat(indices) if held else torch.zeros(0, dtype=torch.long), "errors": errors}


class InputOrder(Generic[Row]):
    """Releases rows in input order (0, 1, 2, ...) from batches that finish in another order.

    Only rows waiting for an earlier one are held: none when photos appear in the input one
    after another (the usual export), at most the rows of the interleaved photos otherwise.
    """

    def __init__(self) -> None:
        self.next = 0
        self.waiting: dict[int, Row] = {}

    def add(self, rows: dict[int, Row]) -> list[Row]:
        """Take finished rows by input index; return those now due, in order.

        Args:
            rows: Finished rows by input index.

        Returns:
            The rows that can be written now.
        """
        self.waiting.update(rows)
        due = []
        while self.next in self.waiting:
            due.append(self.waiting.pop(self.next))
            self.next += 1
        return due


class _PhotoReads(Dataset):
    """Items → (index, the bytes of their photo's JPEG | None for the CPU path | the photo's error)."""

    def __init__(self, dataset: PredictionDataset) -> None:
        self.dataset = dataset
        self._last: tuple[str, object] | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last": None}

    def __getitem__(self, index: int):
        path = self.dataset.items[index].path
        if self._last is None or self._last[0] != path:
            try:
                data: object = read_jpeg(path, self.dataset.max_pixels)
            except BadImageError as err:
                data = err
            self._last = (path, data)
        return index, self._last[1]


def _as_list(batch: list) -> list:
    return batch


def gpu_batches(dataset: PredictionDataset, batch_size: int, workers: int, device: str | torch.device,
                image_size: int, mean: Sequence[float], std: Sequence[float],
                prefetch: int | None = None, worker_init: Callable[[int], None] | None = None) -> Iterator[dict]:
    """Batches like :func:`collate_predictions` gives, with each batch's JPEGs decoded together on ``device``.

    Photo-aligned as :meth:`PredictionDataset.photo_batches`; items whose photo the GPU decoder does
    not take are produced by ``dataset`` on the CPU and moved to ``device``.

    Args:
        dataset: The items (its transform serves the CPU fallback).
        batch_size: Items per batch.
        workers: File-reading worker processes.
        device: Where to decode and transform.
        image_size: The network input side (the eval transform's).
        mean: Normalisation mean.
        std: Normalisation standard deviation.
        prefetch: Batches each worker keeps ready.
        worker_init: Run in each file-reading worker as it starts (``DataLoader``'s ``worker_init_fn``).

    Yields:
        ``{"image": [b, 3, S, S] on device or None, "index": [b], "errors": [(index, message)]}``.
    """
    loader = DataLoader(_PhotoReads(dataset), batch_sampler=dataset.photo_batches(batch_size), num_workers=workers,
                        collate_fn=_as_list, prefetch_factor=prefetch if workers else None,
                        worker_init_fn=worker_init if workers else None)
    for batch in loader:
        photos: dict[str, JpegData] = {}
        for _, data in batch:
            if isinstance(data, JpegData):
                photos.setdefault(data.path, data)
        decoded = dict(zip(photos, decode_jpegs(list(photos.values()), device)))
        images, indices, errors = [], [], []
        for index, data in batch:
            item = dataset.items[index]
            if isinstance(data, BadImageError):
                errors.append((index, str(data)))
                continue
            photo = decoded.get(item.path)
            if photo is None:  # not a JPEG the GPU decoder takes: the CPU path
                cpu = dataset[index]
                if "error" in cpu:
                    errors.append((index, cpu["error"]))
                else:
                    images.append(cpu["image"].to(device))
                    indices.append(index)
                continue
            try:
                window = window_for_geometry(item.geometry, dataset.patch_size, photo.shape[1], photo.shape[0])
            except ValueError as err:
                errors.append((index, f"image {item.path}: {err}"))
                continue
            pixels = photo if window is None else cut_windows(photo, [window])[0]
            images.append(normalise(eval_resize_crop(pixels, image_size)[None], mean, std)[0])
            indices.append(index)
        yield {"image": torch.stack(images) if images else None, "index": torch.tensor(indices, dtype=torch.long),
               "errors": errors}
