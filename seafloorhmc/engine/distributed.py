"""Distributed training helpers (torchrun + DistributedDataParallel), and the single-process default.

Only rank 0 writes files; counts are summed across ranks with ``all_reduce``; evaluation gathers
every rank's predictions and drops the padding the sampler added.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.enabled:
            return model
        device_ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def sum_floats(self, *values: float) -> tuple[float, ...]:
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        torch_dist.all_reduce(tensor)
        return tuple(tensor.tolist())

    def gather_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate a [n_rank, ...] tensor from every rank (sizes may differ), rank order."""
        if not self.enabled:
            return tensor
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
        return self.device if backend == "nccl" else torch.device("cpu")

    def print(self, *args) -> None:
        if self.is_main:
            print(*args, flush=True)


SINGLE_PROCESS = DistContext()


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), else single process."""
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
    if ctx.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
