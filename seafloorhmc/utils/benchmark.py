"""Timing and peak-memory helpers for the ``scripts/bench_*.py`` comparisons.

Speed claims compare a fast path with its reference *in one process*, interleaving their runs so
that a noisy machine slows both alike, and report medians. Peak memory is the process's resident
high-water mark above the level before the call: allocations above 64 KiB are forced onto mmap,
so freed tensors leave the resident set and each measurement starts clean.
"""

from __future__ import annotations

import ctypes
import gc
import statistics
import time
from collections.abc import Callable, Mapping

__all__ = ["time_interleaved", "peak_memory_bytes", "mib"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def time_interleaved(fns: Mapping[str, Callable[[], object]], rounds: int = 7, min_seconds: float = 0.2,
                     warmup: int = 2) -> dict[str, float]:
    """Time several functions fairly on a noisy machine: each round runs every function in turn.

    Args:
        fns: Name → function to time (called without arguments).
        rounds: Number of rounds; the median over rounds is reported.
        min_seconds: Each function is called often enough per round to run about a quarter of this.
        warmup: Untimed calls of each function first.

    Returns:
        Name → median seconds per call.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    calls = {}
    for name, fn in fns.items():
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < min_seconds / 4 or n == 0:
            fn()
            n += 1
        calls[name] = n
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return {name: statistics.median(values) for name, values in samples.items()}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def mib(value: int | None) -> float | None:
    """Bytes in MiB, for reports.

    Args:
        value: A byte count, or None (not measured).

    Returns:
        The MiB, or None.
    """
    return None if value is None else value / 2**20


def peak_memory_bytes(fn: Callable[[], object], device=None) -> int | None:
    """Resident-memory high-water mark reached while ``fn`` runs, above the level before it.

    On a CUDA ``device`` the allocator's own high-water mark is used instead. Resolution is about
    256 KiB (the kernel batches its counters). Time things before measuring memory: mmap-backed
    allocation is slow, and afterwards the allocator keeps fixed (large) thresholds.

    Args:
        fn: The call to measure.
        device: The torch device it runs on (CPU when None).

    Returns:
        Bytes, or None where the counters are not available (non-Linux).
    """
    if str(device or "cpu").startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 64 * 1024)
        gc.collect()
        libc.malloc_trim(0)  # hand freed heap pages back, so reusing them shows up as growth
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        base = _status_kib("VmRSS")
    except (OSError, AttributeError):
        return None
    try:
        fn()
        return max(0, _status_kib("VmHWM") - base) * 1024
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's ceiling for its dynamic threshold
        libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
