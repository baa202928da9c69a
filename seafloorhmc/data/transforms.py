"""Train/eval image transforms (albumentations 2.x) and how their randomness is seeded.

Seafloor survey photos are taken top-down, so there is no "up": flips in both axes and 90-degree
rotations are label-preserving. Colour carries information (red coralline algae vs green algae),
so colour jitter is moderate and the hue shift small; illumination varies with altitude and strobes,
so brightness/contrast jitter is the main photometric augmentation.

Reproducibility: an albumentations ``Compose`` owns its random state and ignores the global
``random``/``numpy`` seeds. :func:`seed_transform` gives the whole pipeline *one* numpy generator
and *one* ``random.Random``, shared by every child transform, seeded from a single integer.
(``Compose.set_random_seed`` / ``Compose(seed=...)`` instead gives each child its own generator
with the *same* seed, so e.g. HorizontalFlip and VerticalFlip with equal ``p`` always fire together
and half of the flip combinations never occur.) The dataset calls :func:`seed_transform` with
:func:`item_seed` ``(seed, epoch, index)`` before each item, so an item's augmentation does not
depend on worker count, worker assignment or resuming.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import albumentations as A
import numpy as np
import timm
from albumentations.pytorch import ToTensorV2

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "NORMALISATION", "Stats", "normalisation_for", "eval_transform_for",
    "train_transform_for", "seed_transform", "item_seed", "train_transform", "eval_transform",
]

if TYPE_CHECKING:
    from ..config import Config

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "benthicnet": ((0.359, 0.413, 0.386), (0.219, 0.215, 0.209)),  # method-rare-nodes §8.3
}

Stats = tuple[tuple[float, ...], tuple[float, ...]]


def normalisation_for(name: str, encoder: str | None = None) -> Stats:
    """(mean, std) of the input normalisation ``data.normalisation`` names.

    Args:
        name: ``"imagenet"``, ``"benthicnet"`` (method spec §8.3), or ``"encoder"``: the statistics
            of ``encoder``'s pretrained configuration in timm (ImageNet's when it has none).
        encoder: The timm model name (needed for ``"encoder"``).

    Returns:
        Per-channel mean and standard deviation.

    Raises:
        ValueError: For an unknown preset.
    """
    key = name.strip().lower()
    if key == "encoder":
        cfg = timm.models.get_pretrained_cfg(encoder) if encoder else None
        if cfg is not None and cfg.mean and cfg.std:
            return tuple(cfg.mean), tuple(cfg.std)
        return NORMALISATION["imagenet"]
    if key not in NORMALISATION:
        raise ValueError(f"unknown normalisation {name!r}; choose one of encoder, {', '.join(sorted(NORMALISATION))}")
    return NORMALISATION[key]


def eval_transform_for(config: Config) -> A.Compose:
    """The evaluation transform of a run: ``data.image_size`` with the configured normalisation.

    Args:
        config: The run configuration (``data.image_size``, ``data.normalisation``, ``model.encoder``).

    Returns:
        :func:`eval_transform` with those settings.
    """
    mean, std = normalisation_for(config.data.normalisation, config.model.encoder)
    return eval_transform(config.data.image_size, mean, std)


def train_transform_for(config: Config) -> A.Compose:
    """The training augmentation of a run (:func:`train_transform` with its size, normalisation and crop scale).

    Args:
        config: The run configuration (``data.image_size``, ``data.normalisation``,
            ``data.min_crop_scale``, ``model.encoder``).

    Returns:
        The augmenting transform.
    """
    mean, std = normalisation_for(config.data.normalisation, config.model.encoder)
    return train_transform(config.data.image_size, mean, std, scale=(config.data.min_crop_scale, 1.0))


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if height < 1 or width < 1:
        raise ValueError(f"output size must be positive, got {size!r}")
    return int(height), int(width)


def seed_transform(transform: A.BaseCompose, seed: int | None) -> None:
    """Seed every random choice of ``transform`` from ``seed`` via one shared stream (module doc).

    Args:
        transform: The albumentations pipeline.
        seed: The seed (None: fresh entropy).
    """
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


def item_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from integers such as (seed, epoch, index), via SeedSequence.

    Args:
        *keys: Non-negative integers.

    Returns:
        The seed.

    Raises:
        ValueError: A key is negative or not an integer.
    """
    if any(int(k) != k or k < 0 for k in keys):
        raise ValueError(f"seed keys must be non-negative integers, got {keys}")
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> 1)


def train_transform(
    size: int | Sequence[int],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    scale: tuple[float, float] = (0.5, 1.0),
    colour_jitter: float = 0.2,
    blur: float = 0.1,
    seed: int | None = None,
) -> A.Compose:
    """Augmenting pipeline for top-down photos → normalised float tensor C x H x W.

    RandomResizedCrop(``scale``), flips in both axes and RandomRotate90, ColorJitter with
    brightness/contrast/saturation ``colour_jitter`` and hue ``colour_jitter / 10`` (p=0.8; 0
    disables), GaussianBlur with sigma 0.1-1.0 with probability ``blur`` (0 disables). Downscaling
    uses area interpolation so large survey frames do not alias. ``seed`` seeds it via
    :func:`seed_transform` (None: fresh entropy).

    Args:
        size: Output side, or (height, width).
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.
        scale: Area range of RandomResizedCrop.
        colour_jitter: ColorJitter strength (0 disables).
        blur: Probability of GaussianBlur (0 disables).
        seed: Seeds the pipeline (None: fresh entropy).

    Returns:
        The pipeline.
    """
    height, width = _hw(size)
    crop = A.RandomResizedCrop(size=(height, width), scale=tuple(scale), area_for_downscale="image")
    symmetries = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=1.0)]
    # A 90-degree turn swaps height and width: after the crop only when the output is square
    # (cheap, small image), otherwise before it, so every output has the requested size.
    steps: list[A.BasicTransform] = [crop, *symmetries] if height == width else [*symmetries, crop]
    if colour_jitter > 0:
        steps.append(A.ColorJitter(brightness=colour_jitter, contrast=colour_jitter,
                                   saturation=colour_jitter, hue=min(colour_jitter / 10, 0.5), p=0.8))
    if blur > 0:
        steps.append(A.GaussianBlur(blur_limit=0, sigma_limit=(0.1, 1.0), p=blur))
    steps += [A.Normalize(mean=tuple(mean), std=tuple(std)), ToTensorV2()]
    transform = A.Compose(steps)
    seed_transform(transform, seed)
    return transform


def eval_transform(
    size: int | Sequence[int],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    resize_ratio: float = 256 / 224,
) -> A.Compose:
    """Deterministic pipeline: shorter side → ``round(max(size) * resize_ratio)``, centre crop.

    With size 224 this is the paper's Resize(256) → CenterCrop(224) → Normalize. Interpolation is
    OpenCV's (area when shrinking, bilinear when enlarging), so pixels differ slightly from a
    torchvision/PIL pipeline.

    Args:
        size: Output side, or (height, width).
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.
        resize_ratio: Shorter side before the crop, relative to the output size (>= 1).

    Returns:
        The pipeline.

    Raises:
        ValueError: ``resize_ratio`` < 1.
    """
    height, width = _hw(size)
    if resize_ratio < 1:
        raise ValueError(f"resize_ratio must be >= 1 so the centre crop fits, got {resize_ratio}")
    shorter = round(max(height, width) * resize_ratio)
    return A.Compose([
        A.SmallestMaxSize(max_size=shorter, area_for_downscale="image"),
        A.CenterCrop(height=height, width=width),
        A.Normalize(mean=tuple(mean), std=tuple(std)),
        ToTensorV2(),
    ])
