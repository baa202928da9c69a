"""Tiny image and HMC datasets whose labels a small model can actually learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..data.readers.manifest import write_manifest

__all__ = ["TINY_PATHS", "write_tiny_image_manifest", "write_tiny_hmc"]

# A 7-node tree: Biota > {Echinoderms > {Sea stars, Sea urchins > Regular urchins}, Sponges}
TINY_PATHS = [
    ("Biota", "Echinoderms", "Sea stars"),
    ("Biota", "Echinoderms", "Sea urchins", "Regular urchins"),
    ("Biota", "Echinoderms", "Sea urchins"),
    ("Biota", "Sponges"),
]
_COLOURS = {0: (230, 80, 40), 1: (60, 20, 90), 2: (120, 40, 140), 3: (230, 210, 80)}


def write_tiny_image_manifest(folder: str | Path, n_images: int = 36, size: int = 32, seed: int = 0,
                              with_split: bool = True, partial_every: int = 0) -> Path:
    """PNG images with one or two coloured blobs whose colour encodes the label, and their manifest.

    Args:
        folder: Where ``images/`` and ``manifest.csv`` are written.
        n_images: Number of images.
        size: Image side in pixels.
        seed: Seed of the random images and labels.
        with_split: Add a ``split`` column (4 train : 1 val : 1 test).
        partial_every: When k > 0, label every k-th image only as "Biota > Echinoderms" (a partial
            label).

    Returns:
        The manifest's path.
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(20, 60, 3)))
        draw = ImageDraw.Draw(image)
        kinds = rng.choice(len(TINY_PATHS), size=int(rng.integers(1, 3)), replace=False)
        labels = []
        for k in kinds:
            x, y = rng.integers(4, size - 12, 2)
            draw.ellipse([int(x), int(y), int(x) + 10, int(y) + 10], fill=_COLOURS[int(k)])
            labels.append(TINY_PATHS[int(k)])
        if partial_every and i % partial_every == 0:
            labels = [("Biota", "Echinoderms")]
        name = f"images/{i:03d}.png"
        image.save(folder / name)
        row = {"image": name, "labels": labels}
        if with_split:
            row["split"] = "train" if i % 6 < 4 else ("val" if i % 6 == 4 else "test")
        rows.append(row)
    return write_manifest(folder / "manifest.csv", rows)


def write_tiny_hmc(root: str | Path, name: str = "toy_FUN", rows: tuple[int, int, int] = (60, 20, 30),
                   features: int = 6, seed: int = 0) -> Path:
    """A FunCat-style ARFF dataset in C-HMCNN's layout (``datasets_FUN/<name>/<name>.<split>.arff``).

    Labels depend on the features (sign patterns), so a model can beat chance.

    Args:
        root: The folder that gets ``datasets_FUN/``.
        name: Dataset name.
        rows: Rows of the train, valid and test splits.
        features: Number of numeric features (at least 4); about 2 % of the values are missing.
        seed: Seed of the values.

    Returns:
        ``root`` as a path.
    """
    root = Path(root)
    folder = root / "datasets_FUN" / name
    folder.mkdir(parents=True, exist_ok=True)
    hierarchy = "01,01/01,01/02,01/02/03,02,02/01"
    rng = np.random.default_rng(seed)
    header = [f"@RELATION '{name}'", ""]
    header += [f"@ATTRIBUTE f{j} numeric" for j in range(features)]
    header += [f"@ATTRIBUTE class hierarchical {hierarchy}", "@DATA"]
    for split, count in zip(("train", "valid", "test"), rows):
        lines = list(header)
        for _ in range(count):
            x = rng.normal(size=features)
            labels = []
            if x[0] > 0:
                labels.append("01/02/03" if x[1] > 0.5 else ("01/02" if x[1] > -0.5 else "01/01"))
            if x[2] > 0.3 or not labels:
                labels.append("02/01" if x[3] > 0 else "02")
            values = ["?" if rng.random() < 0.02 else f"{v:.4f}" for v in x]
            lines.append(",".join(values + ["@".join(labels)]))
        (folder / f"{name}.{split}.arff").write_text("\n".join(lines) + "\n")
    return root
