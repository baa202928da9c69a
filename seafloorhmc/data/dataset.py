"""Torch datasets: images (or patches) with hierarchical targets, and in-memory feature batches.

Items are dicts ``{"image": float C x H x W, "target": float [N], "known": bool [N], "index": int}``
(``known`` False = the label stopped above this node, so it is masked from loss and metrics).

Augmentation randomness is a function of ``(seed, epoch, index)`` only: before each item the
transform is reseeded with :func:`~seafloorhmc.data.transforms.item_seed`, so the same epoch gives
the same tensors whatever the number of DataLoader workers, and a resumed run repeats the epoch it
stopped in. Call :meth:`HierarchicalImageDataset.set_epoch` before iterating each epoch. With
``persistent_workers=True`` the workers keep the dataset copy they started with, so the epoch set
afterwards never reaches them: leave ``persistent_workers`` off (the default).

Pixels come from an :class:`~seafloorhmc.data.image_cache.ImageCache` when one is attached
(:meth:`HierarchicalImageDataset.use_cache`: every photo decoded once, ever), else from decoding
the photo: whole images shrunk to ``shrink_to`` when much larger
(:func:`~seafloorhmc.data.images.decode_image`), patches cut from a full decode. Both give the
same pixels, so a run is the same with and without the cache.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from ..taxonomy import Taxonomy, TaxonomyError
from .image_cache import ImageCache
from .images import DEFAULT_MAX_PIXELS, BadImageError, DecodedImage, decode_image
from .patches import crop_for_geometry
from .records import Geometry, Sample
from .transforms import item_seed, seed_transform

__all__ = ["HierarchicalImageDataset", "TensorBatches", "collate_skipping_bad"]


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 H x W x C → float C x H x W in [0, 1] (used when no transform is given)."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().div_(255)


class HierarchicalImageDataset(Dataset):
    """Samples (whole images or annotated regions) → transformed tensors with their targets.

    ``transform`` is albumentations-style, ``transform(image=uint8 HWC)["image"]`` → tensor (see
    :mod:`~seafloorhmc.data.transforms`); None converts to float C x H x W in [0, 1]. Samples with
    a geometry are cropped with :func:`~seafloorhmc.data.patches.crop_for_geometry` first.
    Relative image paths are resolved against ``image_root`` when given.

    With ``skip_bad=True`` an unreadable image yields ``{"bad": path, "reason": str, "index": i}``
    (plus what :func:`collate_skipping_bad` needs for an all-bad batch) instead of raising
    :class:`~seafloorhmc.data.images.BadImageError`. With ``allow_truncated=True`` items also carry
    ``"truncated": bool`` so the caller can count accepted truncated files.
    Without a cache the last decoded image is kept, so consecutive patches of one image decode it
    once; with one (:meth:`use_cache`) no photo is decoded at all.

    Args:
        samples: What to yield items for.
        taxonomy: The label tree targets are encoded with.
        transform: The image transform (None: scale to [0, 1]).
        patch_size: Side of point patches.
        max_pixels: The decompression-bomb limit (None: none).
        allow_truncated: Accept truncated files (items then carry ``truncated``).
        skip_bad: Yield unreadable images as ``bad`` items instead of raising.
        seed: Seed of the per-(epoch, index) augmentation.
        image_root: Folder relative image paths are resolved against.
        shrink_to: Deliver whole images at least twice this on their shorter side with that
            shorter side (None: full size).

    Raises:
        TaxonomyError: For a label not in the taxonomy, naming the sample's source row.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        taxonomy: Taxonomy,
        transform: Callable | None = None,
        patch_size: int = 224,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        allow_truncated: bool = False,
        skip_bad: bool = False,
        seed: int = 0,
        image_root: str | Path | None = None,
        shrink_to: int | None = None,
    ) -> None:
        self.samples = list(samples)
        self.taxonomy = taxonomy
        self.transform = transform
        self.patch_size = int(patch_size)
        self.max_pixels = max_pixels
        self.allow_truncated = allow_truncated
        self.skip_bad = skip_bad
        self.seed = int(seed)
        self.image_root = None if image_root is None else Path(image_root)
        self.shrink_to = None if shrink_to is None else int(shrink_to)
        self.epoch = 0
        self.targets, self.known = self._encode_all()
        self.cache: ImageCache | None = None
        self.cache_ids: list[str] | None = None
        self._last: tuple[tuple[str, int | None], DecodedImage] | None = None
        self._output_shape: tuple[int, ...] | None = None

    def _encode_all(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets once for all samples; a bad label names the sample's source row."""
        n_nodes = len(self.taxonomy)
        targets = torch.zeros(len(self.samples), n_nodes)
        known = torch.ones(len(self.samples), n_nodes, dtype=torch.bool)
        for i, sample in enumerate(self.samples):
            try:
                targets[i], known[i] = self.taxonomy.encode(sample.labels, sample.complete)
            except TaxonomyError as err:
                where = sample.where or f"sample {i} (image {sample.image})"
                raise TaxonomyError(f"{where}: {err}") from None
        return targets, known

    def __len__(self) -> int:
        return len(self.samples)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_last"] = None  # do not ship a cached full-size image to every worker
        return state

    def set_epoch(self, epoch: int) -> None:
        """Make augmentation a function of (seed, epoch, index); call before each epoch.

        Args:
            epoch: The epoch about to run.
        """
        self.epoch = int(epoch)

    def image_path(self, index: int) -> str:
        """The file sample ``index`` is cut from (resolved against ``image_root``).

        Args:
            index: Sample index.

        Returns:
            The image path.
        """
        image = self.samples[index].image
        if self.image_root is not None and not os.path.isabs(image):
            return str(self.image_root / image)
        return image

    def cache_samples(self) -> list[tuple[str, Geometry | None]]:
        """(image path, geometry) of every sample: what an image cache stores for this dataset.

        Returns:
            One pair per sample, in order.
        """
        return [(self.image_path(i), s.geometry) for i, s in enumerate(self.samples)]

    def use_cache(self, cache: ImageCache | None, ids: list[str] | None = None) -> None:
        """Read pixels from ``cache`` (entry ``ids[i]`` for sample ``i``); samples it lacks are decoded.

        Args:
            cache: The cache (None: decode every item again).
            ids: Entry id per sample (from :func:`~seafloorhmc.data.image_cache.prepare_image_cache`).

        Raises:
            ValueError: If ``ids`` does not have one id per sample.
        """
        if cache is not None and (ids is None or len(ids) != len(self.samples)):
            raise ValueError(f"an image cache needs one entry id per sample: {len(self.samples)} samples, "
                             f"{None if ids is None else len(ids)} ids")
        self.cache, self.cache_ids = cache, (list(ids) if cache is not None and ids is not None else None)

    def _decode(self, path: str, shrink_to: int | None) -> DecodedImage:
        key = (path, shrink_to)
        if self._last is None or self._last[0] != key:
            self._last = None  # free the previous photo before decoding the next
            self._last = (key, decode_image(path, self.max_pixels, self.allow_truncated, shrink_to=shrink_to))
        return self._last[1]

    def _pixels(self, index: int, path: str) -> tuple[np.ndarray, bool]:
        """(pixels of sample ``index``, photo truncated): from the cache, else decoded and cut."""
        if self.cache is not None and self.cache_ids is not None and self.cache_ids[index] in self.cache:
            return self.cache.sample(self.cache_ids[index])
        geometry = self.samples[index].geometry
        whole = geometry is None or geometry.kind == "whole"
        decoded = self._decode(path, self.shrink_to if whole else None)
        try:
            return crop_for_geometry(decoded.pixels, geometry, self.patch_size), decoded.truncated
        except ValueError as err:
            where = self.samples[index].where or f"sample {index}"
            raise ValueError(f"{where}: image {path}: {err}") from None

    def _apply_transform(self, pixels: np.ndarray, index: int) -> torch.Tensor:
        if self.transform is None:
            return _to_tensor(pixels)
        if hasattr(self.transform, "set_random_state"):
            seed_transform(self.transform, item_seed(self.seed, self.epoch, index))
        return self.transform(image=pixels)["image"]

    def output_shape(self) -> tuple[int, ...]:
        """Image tensor shape, found by transforming a blank patch (for empty all-bad batches).

        Returns:
            The shape of an item's image.
        """
        if self._output_shape is None:
            blank = np.zeros((self.patch_size, self.patch_size, 3), dtype=np.uint8)
            self._output_shape = tuple(self._apply_transform(blank, 0).shape)
        return self._output_shape

    def __getitem__(self, index: int) -> dict:
        path = self.image_path(index)
        try:
            pixels, truncated = self._pixels(index, path)
        except BadImageError as err:
            if not self.skip_bad:
                raise
            return {"bad": err.path, "reason": err.reason, "index": index,
                    "target": self.targets[index], "known": self.known[index],
                    "image_shape": self.output_shape()}
        item = {"image": self._apply_transform(pixels, index), "target": self.targets[index],
                "known": self.known[index], "index": index}
        if self.allow_truncated:
            item["truncated"] = truncated
        return item


def collate_skipping_bad(batch: Sequence[dict]) -> dict:
    """Stack the good items (``default_collate``) and list the bad ones in ``batch["skipped"]``.

    ``skipped`` is ``[(path, reason), ...]``, empty when all items were good. When every item is
    bad the batch has zero rows: image ``[0, C, H, W]``, target/known ``[0, N]``, index ``[0]``;
    a training loop should skip it (``len(batch["index"]) == 0``) rather than step on it.

    Args:
        batch: Dataset items.

    Returns:
        The collated batch with ``skipped``.

    Raises:
        ValueError: For an empty batch.
    """
    if not batch:
        raise ValueError("collate_skipping_bad got an empty batch")
    good = [item for item in batch if "bad" not in item]
    skipped = [(item["bad"], item["reason"]) for item in batch if "bad" in item]
    if good:
        out = default_collate(good)
    else:
        first = batch[0]
        out = {
            "image": torch.zeros((0, *first["image_shape"])),
            "target": first["target"].new_zeros((0, *first["target"].shape)),
            "known": first["known"].new_zeros((0, *first["known"].shape)),
            "index": torch.zeros(0, dtype=torch.long),
        }
    out["skipped"] = skipped
    return out


class TensorBatches:
    """Mini-batches of in-memory tensors (precomputed features or tabular HMC data), no DataLoader.

    Yields the same keys as the image pipeline (``image`` holds the feature rows) plus an empty
    ``skipped`` list, so one training loop serves both. The order is a function of
    ``(seed, epoch)`` only; call :meth:`set_epoch` before each epoch.

    Args:
        features: Rows [n, ...].
        targets: Targets [n, N].
        known: Known cells [n, N] (None: all known).
        batch_size: Rows per batch.
        shuffle: Shuffle the rows every epoch.
        seed: Seed of the order.
        drop_last: Drop a last incomplete batch.

    Raises:
        ValueError: For mismatched shapes or a batch size below 1.
    """

    def __init__(
        self,
        features: torch.Tensor,
        targets: torch.Tensor,
        known: torch.Tensor | None = None,
        batch_size: int = 128,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        features, targets = torch.as_tensor(features), torch.as_tensor(targets)
        known = torch.ones(targets.shape, dtype=torch.bool) if known is None else torch.as_tensor(known)
        if targets.ndim != 2 or known.shape != targets.shape:
            raise ValueError(f"targets must be [n, N] and known the same shape; got targets "
                             f"{tuple(targets.shape)}, known {tuple(known.shape)}")
        if features.ndim < 1 or features.shape[0] != targets.shape[0]:
            raise ValueError(f"features have {tuple(features.shape)} rows but targets "
                             f"{tuple(targets.shape)}: the first dimensions must match")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.features, self.targets, self.known = features, targets.float(), known.bool()
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Make the order a function of (seed, epoch); call before each epoch.

        Args:
            epoch: The epoch about to run.
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = self.features.shape[0]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self) -> torch.Tensor:
        """Row order of the current epoch.

        Returns:
            Row indices.
        """
        n = self.features.shape[0]
        if not self.shuffle:
            return torch.arange(n)
        generator = torch.Generator().manual_seed(item_seed(self.seed, self.epoch))
        return torch.randperm(n, generator=generator)

    def __iter__(self) -> Iterator[dict]:
        order = self.order()
        for b in range(len(self)):
            rows = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield {"image": self.features[rows], "target": self.targets[rows],
                   "known": self.known[rows], "index": rows, "skipped": []}
