"""Train / validation / test splits of samples: the data's own where it has one, drawn otherwise."""

from __future__ import annotations

import random

__all__ = ["split_samples"]


def split_samples(samples: list, val_fraction: float, test_fraction: float, seed: int) -> dict[str, list]:
    """Use each sample's own split where the data has one; draw the missing ones at random.

    Samples of one image stay together. Train/test given but no val (BenthicNet): val is carved
    from train. No split at all: val and test are both drawn.

    Args:
        samples: Samples with ``image`` and an optional ``split``.
        val_fraction: Share of images drawn for validation when the data has no val split.
        test_fraction: Share of images drawn for test when the data has no test split.
        seed: Seeds the draw.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``.
    """
    given = {s.split for s in samples if s.split}
    by_image: dict[str, list] = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    images = list(by_image)
    rng = random.Random(seed)
    split_of: dict[str, str] = {}
    if given:
        for image, items in by_image.items():
            split_of[image] = items[0].split or "train"
        need = [name for name, frac in (("val", val_fraction), ("test", test_fraction))
                if name not in given and frac > 0]
        pool = [im for im in images if split_of[im] == "train"]
        rng.shuffle(pool)
        start = 0
        for name in need:
            k = int(round(len(images) * (val_fraction if name == "val" else test_fraction)))
            for im in pool[start:start + k]:
                split_of[im] = name
            start += k
    else:
        order = images[:]
        rng.shuffle(order)
        n_val, n_test = int(round(len(order) * val_fraction)), int(round(len(order) * test_fraction))
        for i, im in enumerate(order):
            split_of[im] = "val" if i < n_val else "test" if i < n_val + n_test else "train"
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for s in samples:
        out[split_of[s.image]].append(s)
    return out
