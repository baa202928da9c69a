"""Distributed training helpers (torchrun + DistributedDataParallel), and the single-process default.

``train.batch_size`` is the *global* batch: each of W ranks takes ``batch_size / W`` rows per step,
dealt from the same (seed, epoch) permutation so that step k of all ranks together is step k of a
single process. DDP averages gradients over ranks, so each rank's loss is rescaled
(:meth:`DistContext.loss_scale`) to make that average the mean over the global batch, even when
partial labels give the ranks different numbers of counted cells. Only rank 0 writes files; counts
are summed across ranks with ``all_reduce``; evaluation gathers every rank's predictions and drops
the padding the sampler added.

Resuming on another world size (e.g. 2 processes, then 1): checkpoints hold the unwrapped
model's weights, the optimizer state and rank 0's RNG state, none of which depend on W, and the
epoch's global order is a function of (seed, epoch) alone, so the resumed run sees the same
global batches; it differs from an uninterrupted run only where the list below says.

Not equal to a single process (by design, documented): BatchNorm statistics of a trainable encoder
are per rank (as in torchvision/timm without ``--sync-bn``), dropout masks come from per-rank
streams, and a training split whose size is not a multiple of W repeats a few rows as padding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from .errors import ConfigError
from .utils.derived_seeds import derive_seed

__all__ = ["DistContext", "SINGLE_PROCESS", "per_rank_batch", "global_mean_scale", "init_from_env", "shutdown"]


def per_rank_batch(batch_size: int, world_size: int) -> int:
    """Each of ``world_size`` processes' share of the global batch ``batch_size``.

    Args:
        batch_size: The global ``train.batch_size``.
        world_size: Number of processes.

    Returns:
        ``batch_size // world_size``.

    Raises:
        ConfigError: If the batch does not divide evenly.
    """
    if batch_size % world_size:
        raise ConfigError(f"train.batch_size={batch_size} is the global batch and must be divisible by the "
                          f"{world_size} processes; use a multiple of {world_size}")
    return batch_size // world_size


@dataclass
class DistContext:
    """This process's place among the training processes; the default is a single process.

    Attributes:
        rank: This process's rank (0 writes the files).
        world_size: Number of processes W.
        local_rank: Rank on this machine (selects the GPU).
        device: This rank's device (None for the single-process default).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | None = None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes files and logs."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process (collectives are no-ops otherwise)."""
        return self.world_size > 1

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """Wrap a model for data-parallel training when distributed (gradients averaged over ranks).

        Args:
            model: The model, already on this rank's device.

        Returns:
            A ``DistributedDataParallel`` wrapper, or the model itself for a single process.
        """
        if not self.enabled:
            return model
        device_ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def barrier(self) -> None:
        """Wait until every rank gets here (e.g. before reading a file rank 0 wrote)."""
        if self.enabled:
            torch_dist.barrier()

    def per_rank_batch(self, batch_size: int) -> int:
        """This rank's share of the global ``train.batch_size`` (:func:`per_rank_batch`).

        Args:
            batch_size: The global batch size.

        Returns:
            ``batch_size // world_size``.
        """
        return per_rank_batch(batch_size, self.world_size)

    def loss_scale(self, local_count: int, reduction: str = "mean") -> float:
        """Factor for this rank's loss so that DDP's gradient *average* equals the single-process one.

        Args:
            local_count: The cells this rank's loss counted in this step.
            reduction: The loss's reduction, ``"mean"`` or ``"sum"``.

        Returns:
            ``W · local_cells / global_cells`` for a mean, ``W`` for a sum, 1 for a single process.
        """
        if not self.enabled:
            return 1.0
        if reduction == "sum":
            return float(self.world_size)
        (total,) = self.sum_floats(float(local_count))
        return global_mean_scale(local_count, total, self.world_size)

    def seed_rank(self, seed: int, epoch: int) -> None:
        """Give each rank its own dropout stream for ``epoch``.

        Identical streams would draw the same masks on every rank; the seed is a function of
        (seed, rank, epoch), so resuming repeats it.

        Args:
            seed: The run's seed.
            epoch: The epoch about to start.
        """
        if self.enabled:
            torch.manual_seed(derive_seed(seed, "rank", self.rank, epoch))

    def sum_floats(self, *values: float) -> tuple[float, ...]:
        """Sum numbers over all ranks (counts, loss totals).

        Args:
            *values: This rank's numbers.

        Returns:
            The sums, one per value (the values themselves for a single process).
        """
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        torch_dist.all_reduce(tensor)
        return tuple(tensor.tolist())

    def broadcast_object(self, value):
        """Rank 0's ``value`` on every rank (e.g. a timestamped output folder).

        Args:
            value: Any picklable object; only rank 0's counts.

        Returns:
            Rank 0's value.
        """
        if not self.enabled:
            return value
        box = [value]
        torch_dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        """Collect a tensor from every rank, e.g. the predictions each rank made on its share.

        Args:
            tensor: This rank's [n_rank, ...] rows (sizes may differ between ranks).

        Returns:
            All ranks' rows concatenated in rank order, on ``tensor``'s device.
        """
        if not self.enabled:
            return tensor
        if tensor.dtype == torch.bool:  # not every backend gathers bool
            return self.gather_tensor(tensor.to(torch.uint8)).bool()
        device = self._comm_device
        local = tensor.to(device)
        size = torch.tensor([local.shape[0]], device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        torch_dist.all_gather(sizes, size)
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=device)
        padded[: local.shape[0]] = local
        chunks = [torch.zeros_like(padded) for _ in range(self.world_size)]
        torch_dist.all_gather(chunks, padded)
        return torch.cat([c[: int(s.item())] for c, s in zip(chunks, sizes)]).to(tensor.device)

    @property
    def _comm_device(self) -> torch.device:
        backend = torch_dist.get_backend() if self.enabled else "gloo"
        if backend != "nccl":
            return torch.device("cpu")
        if self.device is None:
            raise RuntimeError("NCCL collectives need this rank's CUDA device")
        return self.device



SINGLE_PROCESS = DistContext()


def global_mean_scale(local_count: float, global_count: float, world_size: int) -> float:
    """Scale that turns DDP's average of per-rank mean losses into the mean over the global batch.

    Args:
        local_count: Cells this rank counted.
        global_count: Cells all ranks counted.
        world_size: Number of ranks W.

    Returns:
        ``W · local / global`` (0 when nothing was counted, so such a rank contributes nothing).
    """
    if global_count <= 0:
        return 0.0
    return world_size * float(local_count) / float(global_count)


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), else single process.

    Args:
        device: ``train.device``; ``"cpu"`` uses the gloo backend even where CUDA is available.

    Returns:
        This process's context (:data:`SINGLE_PROCESS` without torchrun).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE_PROCESS
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    torch_dist.init_process_group("nccl" if use_cuda else "gloo")
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group at the end of a distributed run.

    Args:
        ctx: The context :func:`init_from_env` returned.
    """
    if ctx.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
