"""The built-in synthetic seafloor dataset as a data format: generated once, then read as a manifest.

``data.format=synthetic`` draws ``data.synthetic_images`` images (``data.synthetic_size`` pixels,
seed ``data.synthetic_seed``) into ``data.root``, or into a cache folder named after those
settings under ``$SEAFLOORHMC_DATA`` (default ``~/.cache/seafloorhmc``). The dataset carries its own
label tree (``labels.csv``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord
from ..synthetic import GENERATOR_VERSION, generate_synthetic_dataset
from .manifest import read_manifest

__all__ = ["default_synthetic_root", "prepare_synthetic", "read_synthetic", "synthetic_label_tree"]


def default_synthetic_root(n_images: int, size: int, seed: int) -> Path:
    """Where the synthetic dataset with these settings lives unless ``data.root`` says otherwise.

    Args:
        n_images: Number of images.
        size: Image side in pixels.
        seed: Generator seed.

    Returns:
        ``$SEAFLOORHMC_DATA/synthetic-v<version>-n<n>-px<size>-seed<seed>``.
    """
    base = Path(os.environ.get("SEAFLOORHMC_DATA", Path.home() / ".cache" / "seafloorhmc")).expanduser()
    return base / f"synthetic-v{GENERATOR_VERSION}-n{n_images}-px{size}-seed{seed}"


def _root(root: str | Path | None, n_images: int, size: int, seed: int) -> Path:
    return Path(root) if root else default_synthetic_root(n_images, size, seed)


def prepare_synthetic(root: str | Path | None, n_images: int = 600, size: int = 128, seed: int = 0) -> None:
    """Generate the dataset unless it is already there (:func:`generate_synthetic_dataset`).

    Args:
        root: Output folder (None: :func:`default_synthetic_root`).
        n_images: Number of images.
        size: Image side in pixels.
        seed: Generator seed.
    """
    generate_synthetic_dataset(_root(root, n_images, size, seed), n_images=n_images, seed=seed, size=size)


def read_synthetic(root: str | Path | None, n_images: int = 600, size: int = 128,
                   seed: int = 0) -> list[AnnotationRecord]:
    """The records of a generated synthetic dataset.

    Args:
        root: Its folder (None: :func:`default_synthetic_root`).
        n_images: Number of images.
        size: Image side in pixels.
        seed: Generator seed.

    Returns:
        One record per (image, label), read from its ``manifest.csv``.
    """
    return read_manifest(_root(root, n_images, size, seed) / "manifest.csv", sep=" > ", label_delimiter=";")


def synthetic_label_tree(root: str | Path | None, n_images: int = 600, size: int = 128, seed: int = 0) -> str:
    """The dataset's own label tree (``labels.csv``), generating the dataset on first use.

    Args:
        root: The dataset folder (None: the default cache folder).
        n_images: Images in the dataset.
        size: Image side in pixels.
        seed: Seeds the generator.

    Returns:
        The path of ``labels.csv``.
    """
    return str(_root(root, n_images, size, seed) / "labels.csv")


FORMATS.register("synthetic", DataFormat(
    name="synthetic", summary="the built-in synthetic seafloor dataset (generated on first use)",
    read=read_synthetic, source="root",
    options={"n_images": "synthetic_images", "size": "synthetic_size", "seed": "synthetic_seed"},
    prepare=prepare_synthetic, label_tree=synthetic_label_tree, predict_input=False))
