"""What the annotator writes down: one label per distinct class, some stopped at a coarse node.

Real annotators often cannot tell a heart urchin from a sand dollar in a survey image and stop at
"Irregular urchins" or even "Echinoderms". We imitate that on a fixed share of the labels, chosen
uniformly among the labels that have a coarser non-root ancestor, each cut to a uniformly chosen
such ancestor. Choosing an exact number of labels (rather than flipping a coin per label) makes
the achieved share match the request to within rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .taxonomy import ancestors_of

__all__ = ["truncate_labels"]


def truncate_labels(label_sets: Sequence[Sequence[str]], fraction: float,
                    rng: np.random.Generator) -> tuple[list[list[str]], int]:
    """Cut ``round(fraction × #labels)`` labels to a random coarser ancestor (never the root).

    A label is not cut to a node the same image already carries, so every image keeps its label
    count; if fewer labels can be cut than requested, all that can be are cut.

    Args:
        label_sets: Each image's labels (paths).
        fraction: Share of all labels to cut, in [0, 1].
        rng: The generator that picks labels and ancestors.

    Returns:
        (the new per-image label lists, sorted and still distinct; how many labels were cut).

    Raises:
        ValueError: If ``fraction`` lies outside [0, 1].
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"partial_fraction must lie in [0, 1], got {fraction}")
    sets = [list(dict.fromkeys(labels)) for labels in label_sets]
    total = sum(len(s) for s in sets)
    wanted = int(round(fraction * total))
    candidates = [(i, j) for i, s in enumerate(sets) for j, label in enumerate(s) if len(ancestors_of(label)) > 1]
    cut = 0
    for k in rng.permutation(len(candidates)):
        if cut >= wanted:
            break
        i, j = candidates[int(k)]
        options = [a for a in ancestors_of(sets[i][j])[1:] if a not in sets[i]]
        if options:
            sets[i][j] = options[int(rng.integers(len(options)))]
            cut += 1
    return [sorted(s) for s in sets], cut
