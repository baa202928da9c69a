"""The synthetic label tree and how often each class occurs.

The tree is the CATAMI echinoderm subtree, refined two levels deeper (ophiuroids and irregular
urchins split by body plan), plus three non-echinoderm branches that act as labelled distractors.
``SYNTHETIC_PATHS`` lists every node, so the taxonomy contains the inner nodes even if a small
dataset never labels them.

Rarity is data, not code: ``CLASS_WEIGHTS`` gives the relative chance that one drawn organism is of
a given leaf class, and ``MEAN_EXTRA_ORGANISMS``/``MAX_ORGANISMS`` how many organisms an image holds
(1 + Poisson, capped). The weights are long-tailed and the deepest leaves are the rarest, so the
rarest leaves appear in ~5-6 % of images (``expected_image_frequency``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...labels import PATH_ID_SEP

__all__ = [
    "PATH_SEP", "SYNTHETIC_PATHS", "CLASS_WEIGHTS",
    "MEAN_EXTRA_ORGANISMS", "MAX_ORGANISMS", "class_probabilities", "organism_count_probabilities",
    "expected_image_frequency", "ancestors_of",
]

PATH_SEP = " > "

_E = "Biota > Echinoderms"
SYNTHETIC_PATHS: tuple[str, ...] = (
    "Biota",
    _E,
    f"{_E} > Feather stars",
    f"{_E} > Ophiuroids",
    f"{_E} > Ophiuroids > Brittle stars",
    f"{_E} > Ophiuroids > Basket stars",
    f"{_E} > Sea cucumbers",
    f"{_E} > Sea stars",
    f"{_E} > Sea urchins",
    f"{_E} > Sea urchins > Regular urchins",
    f"{_E} > Sea urchins > Irregular urchins",
    f"{_E} > Sea urchins > Irregular urchins > Heart urchins",
    f"{_E} > Sea urchins > Irregular urchins > Sand dollars",
    "Biota > Sponges",
    "Biota > Cnidaria",
    "Biota > Cnidaria > Sea pens",
    "Biota > Cnidaria > Soft corals",
    "Biota > Fishes",
)

# Organisms per image: 1 + Poisson(MEAN_EXTRA_ORGANISMS), at most MAX_ORGANISMS (mean ≈ 2.3).
MEAN_EXTRA_ORGANISMS = 1.3
MAX_ORGANISMS = 5

# Relative chance that one drawn organism is of each leaf class (normalised on use).
# Deep leaves are rare: sand dollars ~5 %, heart urchins ~6 %, basket stars ~6 % of images (their
# parents 11-40 %, Echinoderms ~85 %): rare, yet frequent enough that a CPU-sized demo sees a few
# dozen of each.
CLASS_WEIGHTS: Mapping[str, float] = {
    f"{_E} > Sea stars": 0.20,
    f"{_E} > Ophiuroids > Brittle stars": 0.13,
    f"{_E} > Sea urchins > Regular urchins": 0.13,
    f"{_E} > Sea cucumbers": 0.09,
    f"{_E} > Feather stars": 0.07,
    f"{_E} > Ophiuroids > Basket stars": 0.028,
    f"{_E} > Sea urchins > Irregular urchins > Heart urchins": 0.027,
    f"{_E} > Sea urchins > Irregular urchins > Sand dollars": 0.022,
    "Biota > Sponges": 0.13,
    "Biota > Cnidaria > Sea pens": 0.06,
    "Biota > Cnidaria > Soft corals": 0.05,
    "Biota > Fishes": 0.09,
}


def class_probabilities() -> tuple[list[str], np.ndarray]:
    """How likely one drawn organism is of each leaf class.

    Returns:
        (leaf classes in ``CLASS_WEIGHTS`` order, the normalised per-organism probabilities).
    """
    classes = list(CLASS_WEIGHTS)
    weights = np.array([CLASS_WEIGHTS[c] for c in classes], dtype=np.float64)
    return classes, weights / weights.sum()


def ancestors_of(path: str) -> list[str]:
    """Proper ancestors of a path, root first.

    Args:
        path: A path with " > " separators.

    Returns:
        ``"A > B > C"`` → ``["A", "A > B"]``.
    """
    parts = path.split(PATH_SEP)
    return [PATH_SEP.join(parts[:k]) for k in range(1, len(parts))]


def organism_count_probabilities() -> np.ndarray:
    """The distribution of the number of organisms per image.

    Returns:
        P(an image holds k organisms) for k = 0 .. MAX_ORGANISMS (k = 0 has probability 0).
    """
    extra = np.arange(MAX_ORGANISMS)
    pois = np.exp(-MEAN_EXTRA_ORGANISMS) * MEAN_EXTRA_ORGANISMS ** extra / np.cumprod(np.maximum(extra, 1))
    probs = np.zeros(MAX_ORGANISMS + 1)
    probs[1:] = pois
    probs[MAX_ORGANISMS] += 1.0 - pois.sum()   # the cap collects the tail
    return probs


def expected_image_frequency() -> dict[str, float]:
    """Share of images expected to contain each node (or a descendant) before partial labelling.

    A node hit by one organism with probability p is in an image of k organisms with probability
    1 - (1 - p)^k; averaged over the organism-count distribution.

    Returns:
        Node path → expected share of images.
    """
    classes, probs = class_probabilities()
    node_prob = {path: 0.0 for path in SYNTHETIC_PATHS}
    for cls, p in zip(classes, probs):
        for node in [*ancestors_of(cls), cls]:
            node_prob[node] += p
    counts = organism_count_probabilities()
    k = np.arange(len(counts))
    return {node: float(np.sum(counts * (1.0 - (1.0 - p) ** k))) for node, p in node_prob.items()}


def _check() -> None:
    """Every weighted class is a leaf of the tree; every leaf has a weight (no unlearnable leaf)."""
    paths = set(SYNTHETIC_PATHS)
    inner = {a for p in SYNTHETIC_PATHS for a in ancestors_of(p)}
    leaves = paths - inner
    if set(CLASS_WEIGHTS) != leaves:
        raise AssertionError(f"CLASS_WEIGHTS keys {sorted(CLASS_WEIGHTS)} != leaves {sorted(leaves)}")
    if any(PATH_ID_SEP in part for p in paths for part in p.split(PATH_SEP)):
        raise AssertionError("a synthetic taxon name contains '/'")


_check()
