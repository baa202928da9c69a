"""Nested training subsets for limited-data studies.

Every subset is a *prefix* of one priority order of the training rows, drawn once per seed. So
for a given seed the 5 % subset lies inside the 10 % subset, which lies inside the 25 % one, and
every method trained at the same (fraction, seed) sees exactly the same rows: differences between
methods and between fractions are paired, not confounded with which rows happened to be drawn.

The order is a random permutation, or, hierarchy-aware, a permutation that first places one row
per node that has any positive row — rarest nodes first, each time the first row of the
permutation that is positive at a node not yet covered — and then continues with the remaining
rows in permutation order. A subset of ``k`` rows therefore covers as many of the rarest nodes as
``k`` rows can, and the order (hence the nesting) does not depend on ``k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from ..utils.derived_seeds import derive_seed

__all__ = ["Subset", "subset_size", "priority_order", "draw_subset", "subsample_seed", "subset_for_config",
           "subset_record"]


def subsample_seed(run_seed: int) -> int:
    """The subset seed of a run that names none: derived from the run seed.

    Args:
        run_seed: The run's seed.

    Returns:
        A seed independent of the run's other derived seeds.
    """
    return derive_seed(int(run_seed), "subsample")


def subset_size(pool: int, fraction: float | None = None, count: int | None = None) -> int:
    """Rows kept from ``pool``: ``round(fraction · pool)`` (at least 1) or ``count``; all when neither.

    Args:
        pool: Rows in the training split.
        fraction: Share of the pool to keep, in (0, 1].
        count: Number of rows to keep, 1..pool.

    Returns:
        The subset size.

    Raises:
        ValueError: Both are given, the count is outside 1..pool or the fraction outside (0, 1]
            (the message names the values).
    """
    if fraction is not None and count is not None:
        raise ValueError(f"give a training fraction or a training count, not both (fraction={fraction}, count={count})")
    if count is not None:
        if not 1 <= int(count) <= pool:
            raise ValueError(f"training count {count} must lie between 1 and the {pool} rows of the training split")
        return int(count)
    if fraction is not None:
        if not 0.0 < float(fraction) <= 1.0:
            raise ValueError(f"training fraction must lie in (0, 1], got {fraction}")
        return max(1, min(pool, int(math.floor(float(fraction) * pool + 0.5))))
    return pool


def _positives(targets) -> np.ndarray:
    y = targets.detach().cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    if y.ndim != 2:
        raise ValueError(f"targets must be [rows, nodes], got shape {y.shape}")
    return y > 0.5


def priority_order(targets, seed: int, hierarchy_aware: bool = False) -> np.ndarray:
    """All row indices in the order subsets take them (see the module docstring).

    Args:
        targets: [rows, nodes] 0/1 targets (array or tensor).
        seed: Seeds the permutation.
        hierarchy_aware: Put one row per covered node first, rarest nodes first.

    Returns:
        int64 [rows]: a permutation of the row indices.
    """
    positive = _positives(targets)
    n_rows = positive.shape[0]
    permutation = np.random.default_rng(seed).permutation(n_rows)
    if not hierarchy_aware or n_rows == 0:
        return permutation
    counts = positive.sum(0)
    rank = np.empty(n_rows, dtype=np.int64)
    rank[permutation] = np.arange(n_rows)
    covered = np.zeros(positive.shape[1], dtype=bool)
    first: list[int] = []
    for node in np.lexsort((np.arange(len(counts)), counts)):  # rarest first, ties by node index
        if counts[node] == 0 or covered[node]:
            continue
        rows = np.flatnonzero(positive[:, node])
        row = int(rows[np.argmin(rank[rows])])
        first.append(row)
        covered |= positive[row]
    chosen = np.zeros(n_rows, dtype=bool)
    chosen[first] = True
    return np.concatenate([np.asarray(first, dtype=np.int64), permutation[~chosen[permutation]]])


@dataclass
class Subset:
    """The rows drawn (sorted indices into the training split) and how they were drawn."""

    indices: np.ndarray
    pool: int
    seed: int
    hierarchy_aware: bool
    fraction: float | None = None
    count: int | None = None
    info: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Small enough for ``metrics.json``: everything but the indices.

        Returns:
            Size, pool, fraction, count, seed, hierarchy_aware and the ``info`` counts.
        """
        return {"size": int(len(self.indices)), "pool": self.pool, "fraction": self.fraction, "count": self.count,
                "seed": self.seed, "hierarchy_aware": self.hierarchy_aware, **self.info}

    def to_dict(self) -> dict:
        """For ``train_subset.json``: the summary and the indices.

        Returns:
            The summary plus ``indices`` as a list of ints.
        """
        return {**self.summary(), "indices": [int(i) for i in self.indices]}


def draw_subset(targets, seed: int, fraction: float | None = None, count: int | None = None,
                hierarchy_aware: bool = False) -> Subset:
    """The nested subset of training rows with ``targets`` [n, N] for (``seed``, size).

    Args:
        targets: [n, N] 0/1 targets of the training split.
        seed: Seeds the priority order (same seed → nested subsets).
        fraction: Share of rows to keep (see :func:`subset_size`).
        count: Number of rows to keep (see :func:`subset_size`).
        hierarchy_aware: Cover the rarest nodes first.

    Returns:
        The subset; its ``info`` counts the nodes with a positive row in the pool and in the subset.
    """
    positive = _positives(targets)
    pool = positive.shape[0]
    size = subset_size(pool, fraction, count)
    order = priority_order(positive, seed, hierarchy_aware)
    indices = np.sort(order[:size])
    info = {"nodes_present_pool": int(positive.any(0).sum()),
            "nodes_present_subset": int(positive[indices].any(0).sum())}
    return Subset(indices=indices, pool=pool, seed=int(seed), hierarchy_aware=bool(hierarchy_aware),
                  fraction=None if fraction is None else float(fraction),
                  count=None if count is None else int(count), info=info)


def subset_for_config(data_config, targets, run_seed: int) -> Subset | None:
    """The subset ``data.train_fraction`` / ``data.train_count`` ask for, or None when neither is set.

    Args:
        data_config: The ``data`` section (``train_fraction``, ``train_count``, ``subsample_seed``,
            ``hierarchy_aware``).
        targets: [n, N] 0/1 targets of the training split.
        run_seed: The run's seed; the subset seed derives from it unless ``data.subsample_seed`` is set.

    Returns:
        The subset, or None when neither size key is set.

    Raises:
        ConfigError: The size keys are invalid for this split (names the key).
    """
    d = data_config
    if d.train_fraction is None and d.train_count is None:
        return None
    seed = d.subsample_seed if d.subsample_seed is not None else subsample_seed(run_seed)
    try:
        return draw_subset(targets, seed, d.train_fraction, d.train_count, d.hierarchy_aware)
    except ValueError as err:
        key = "data.train_count" if d.train_count is not None else "data.train_fraction"
        raise ConfigError(f"{key}: {err}") from None


def subset_record(subset: Subset | None, source_ids=None, plan=None, taxonomy=None) -> dict | None:
    """What ``train_subset.json`` holds, so a run's training rows can be reproduced.

    Args:
        subset: The subset drawn, if any.
        source_ids: Per training row, its ARFF row number or image name; recorded for the rows drawn.
        plan: The LPROS plan, if any.
        taxonomy: Names the plan's nodes (needed when ``plan`` is given).

    Returns:
        ``{"subset": ..., "lpros": ...}`` with ``clone_sources`` ``[source index into the subset,
        node id]`` per clone, or None when there is neither a subset nor a plan.
    """
    if subset is None and plan is None:
        return None
    record: dict = {"subset": None, "lpros": None}
    if subset is not None:
        record["subset"] = subset.to_dict()
        if source_ids is not None:
            record["subset"]["sources"] = [source_ids[int(i)] for i in subset.indices]
    if plan is not None:
        record["lpros"] = {**plan.info, "clone_sources": [[int(r), taxonomy.nodes[int(n)]] for r, n in plan.clones]}
    return record
