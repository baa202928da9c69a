"""Batches whose order depends only on (seed, epoch): identical across worker counts and resumes.

``EpochLoader`` wraps a map-style dataset in a fresh ``DataLoader`` every epoch with a sampler
that draws its permutation from (seed, epoch) and, under distributed training, hands each rank
its own shard of it. Workers are re-created each epoch so they see the dataset's current epoch
(augmentation is reseeded per (epoch, item) by the dataset itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from ..distributed import per_rank_batch
from ..utils.derived_seeds import derive_seed


class ShardedEpochSampler(Sampler[int]):
    """A (seed, epoch)-determined permutation, padded and split across ``world_size`` ranks."""

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1,
                 pad: bool = True) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> list[int]:
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
    def __init__(self, dataset, batch_size: int, shuffle: bool, seed: int, workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.workers = workers
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.drop_last = drop_last
        self.seed = seed
        self.sampler = ShardedEpochSampler(len(dataset), seed, shuffle, rank, world_size, pad=shuffle)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        loader = DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=self.sampler, num_workers=self.workers,
            collate_fn=self.collate_fn, pin_memory=self.pin_memory, drop_last=self.drop_last,
            worker_init_fn=_seed_worker if self.workers else None,
            generator=torch.Generator().manual_seed(derive_seed(self.seed, "workers", self.epoch)),
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
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size} processes")
        self.batches = batches
        self.rank, self.world_size = rank, world_size
        self.batch_size = per_rank_batch(batches.batch_size, world_size)
        self.pad = bool(batches.shuffle)
        self.drop_last = bool(getattr(batches, "drop_last", False))

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def rows(self) -> torch.Tensor:
        """Row positions this rank visits in the current epoch, in order."""
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
