"""Train/val/test assignment that spreads rare labels over all splits.

A plain random split of 600 images can leave a label seen in 9 images entirely out of val or
test. Instead, images are ordered by how rare their rarest label is (random order among equals)
and dealt out one by one to the split furthest behind its target share, so every rarity stratum
is split in the requested proportions and the split sizes match the fractions to within one image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = ["SPLITS", "check_fractions", "assign_splits"]

SPLITS = ("train", "val", "test")


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validated (train, val, test) fractions: three non-negative numbers summing to 1.

    Args:
        fractions: The requested shares.

    Returns:
        The three shares as floats.

    Raises:
        ValueError: If they are not three finite non-negative numbers summing to 1.
    """
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(not np.isfinite(f) or f < 0 for f in values) or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative numbers (train, val, test) "
                         f"summing to 1, got {tuple(fractions)}")
    return values


def assign_splits(label_sets: Sequence[Sequence[str]], fractions: Sequence[float],
                  rng: np.random.Generator) -> list[str]:
    """One split name per image, stratified by the image's rarest label.

    Args:
        label_sets: Each image's labels.
        fractions: (train, val, test) shares.
        rng: Breaks ties among equally rare images.

    Returns:
        ``"train"``, ``"val"`` or ``"test"`` per image.
    """
    target = np.asarray(check_fractions(fractions))
    support = Counter(label for labels in label_sets for label in set(labels))
    rarest = np.array([min((support[label] for label in labels), default=0) for labels in label_sets])
    order = np.lexsort((rng.random(len(label_sets)), rarest))
    counts = np.zeros(3)
    out = [""] * len(label_sets)
    for dealt, i in enumerate(order, start=1):
        s = int(np.argmax(target * dealt - counts))
        counts[s] += 1
        out[int(i)] = SPLITS[s]
    return out
