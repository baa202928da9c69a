"""Batches whose order depends only on (seed, epoch): identical across worker counts and resumes.

``EpochLoader`` wraps a map-style dataset in a fresh ``DataLoader`` every epoch with a sampler
that draws its permutation from (seed, epoch) and, under distributed training, hands each rank
its own shard of it. Workers are re-created each epoch so they see the dataset's current epoch
(augmentation is reseeded per (epoch, item) by the dataset itself).

Training loaders never end an epoch with a batch of one (``fold_single``): BatchNorm cannot
normalise a single example in training mode ("Expected more than 1 value per channel"), so when
the split size leaves one example over it joins the batch before it (one batch of ``batch + 1``)
rather than being dropped, and every example is still seen every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from ..distributed import per_rank_batch
from ..utils.derived_seeds import derive_seed

__all__ = ["ShardedEpochSampler", "FoldingBatchSampler", "EpochLoader", "RankBatches", "batch_count"]


def batch_count(n: int, batch_size: int, drop_last: bool = False, fold_single: bool = False) -> int:
    """How many batches ``n`` examples make.

    Args:
        n: Examples.
        batch_size: Examples per batch.
        drop_last: Drop a last, smaller batch.
        fold_single: A last batch of one joins the batch before it.

    Returns:
        The number of batches.
    """
    if drop_last:
        return n // batch_size
    if fold_single and n > batch_size and n % batch_size == 1:
        return n // batch_size
    return math.ceil(n / batch_size)


class FoldingBatchSampler(Sampler[list[int]]):
    """Consecutive batches of a sampler's indices; a last batch of one joins the batch before it.

    Args:
        sampler: The index order.
        batch_size: Examples per batch.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int) -> None:
        self.sampler, self.batch_size = sampler, int(batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(self.sampler)
        bounds = list(range(0, len(order), self.batch_size))
        if len(bounds) > 1 and len(order) - bounds[-1] == 1:
            bounds.pop()  # the lone last example joins the batch before it
        for i, start in enumerate(bounds):
            end = bounds[i + 1] if i + 1 < len(bounds) else len(order)
            yield order[start:end]

    def __len__(self) -> int:
        # torch's Sampler does not declare __len__; the samplers used here all have one
        return batch_count(len(self.sampler), self.batch_size, fold_single=True)  # type: ignore[arg-type]


class ShardedEpochSampler(Sampler[int]):
    """A (seed, epoch)-determined permutation, padded and split across ``world_size`` ranks.

    Args:
        size: Examples in the dataset.
        seed: The run's seed.
        shuffle: Permute (training) or keep the order (evaluation).
        rank: This process's rank.
        world_size: Number of processes.
        pad: Repeat the first examples so that every rank gets as many (training).
    """

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1,
                 pad: bool = True) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the next epoch's order.

        Args:
            epoch: The epoch index.
        """
        self.epoch = epoch

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch, in order.

        Returns:
            The indices.
        """
        if self.shuffle:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "order", self.epoch))
            order = torch.randperm(self.size, generator=gen).tolist()
        else:
            order = list(range(self.size))
        if self.world_size == 1:
            return order
        if self.pad:
            per_rank = math.ceil(self.size / self.world_size)
            order = order + order[: per_rank * self.world_size - self.size]
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.size
        return math.ceil(self.size / self.world_size) if self.pad else len(range(self.rank, self.size, self.world_size))


def _seed_worker(worker_id: int) -> None:
    """numpy/random in each worker derive from torch's per-worker seed (itself from the epoch)."""
    import random

    import numpy as np

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class EpochLoader:
    """Batches of a map-style dataset in an order that depends only on (seed, epoch) (module docstring).

    Args:
        dataset: The dataset.
        batch_size: Examples per batch on this rank.
        shuffle: Permute each epoch (training) or keep the order (evaluation).
        seed: The run's seed.
        workers: DataLoader worker processes.
        collate_fn: How items become a batch.
        pin_memory: Pin batches in host memory (for a GPU).
        drop_last: Drop a last, smaller batch.
        rank: This process's rank.
        world_size: Number of processes.
        fold_single: A last batch of one joins the batch before it (training with BatchNorm).
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool, seed: int, workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1, fold_single: bool = False) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.workers = workers
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.drop_last = drop_last
        self.fold_single = fold_single and not drop_last
        self.seed = seed
        self.sampler = ShardedEpochSampler(len(dataset), seed, shuffle, rank, world_size, pad=shuffle)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order (and augmentation) the next iteration yields.

        Args:
            epoch: The epoch index.
        """
        self.epoch = epoch
        self.sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return batch_count(len(self.sampler), self.batch_size, self.drop_last, self.fold_single)

    def __iter__(self):
        batching = (dict(batch_sampler=FoldingBatchSampler(self.sampler, self.batch_size)) if self.fold_single else
                    dict(batch_size=self.batch_size, sampler=self.sampler, drop_last=self.drop_last))
        loader = DataLoader(
            self.dataset, num_workers=self.workers, collate_fn=self.collate_fn, pin_memory=self.pin_memory,
            worker_init_fn=_seed_worker if self.workers else None,
            generator=torch.Generator().manual_seed(derive_seed(self.seed, "workers", self.epoch)), **batching,
        )
        return iter(loader)


class RankBatches:
    """This rank's share of in-memory batches (:class:`~seafloorhmc.data.dataset.TensorBatches`).

    The global row order (``batches.order()``) is dealt round-robin exactly as
    :class:`ShardedEpochSampler` deals images: shuffled (training)
    orders are padded by repeating their first rows to a multiple of W, so every rank takes the
    same number of steps; unshuffled (evaluation) orders are split unevenly and never repeat a row.
    Batches hold ``batches.batch_size / W`` rows.
    """

    def __init__(self, batches, rank: int, world_size: int) -> None:
        """Wrap ``batches`` for one rank.

        Args:
            batches: The in-memory batches of the whole split.
            rank: This process's rank.
            world_size: Number of processes.

        Raises:
            ValueError: If ``rank`` is outside the world.
        """
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size} processes")
        self.batches = batches
        self.rank, self.world_size = rank, world_size
        self.batch_size = per_rank_batch(batches.batch_size, world_size)
        self.pad = bool(batches.shuffle)
        self.drop_last = bool(getattr(batches, "drop_last", False))

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order the next iteration yields.

        Args:
            epoch: The epoch index.
        """
        self.batches.set_epoch(epoch)

    def rows(self) -> torch.Tensor:
        """Row positions this rank visits in the current epoch, in order.

        Returns:
            The positions.
        """
        order = torch.as_tensor(self.batches.order())
        if self.pad and len(order):
            padded = math.ceil(len(order) / self.world_size) * self.world_size
            order = order[torch.arange(padded) % len(order)]
        return order[self.rank::self.world_size]

    def _count(self) -> int:
        n = len(self.batches.order())
        if self.pad:
            return math.ceil(n / self.world_size)
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        n = self._count()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        rows, b = self.rows(), self.batches
        for i in range(len(self)):
            part = rows[i * self.batch_size:(i + 1) * self.batch_size]
            yield {"image": b.features[part], "target": b.targets[part], "known": b.known[part], "index": part,
                   "skipped": []}
