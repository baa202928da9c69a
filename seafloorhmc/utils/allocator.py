"""Keep freed memory for the next batch instead of handing it back to the operating system (glibc).

A forward pass allocates and frees the same activation buffers batch after batch. glibc's malloc
serves blocks over its mmap threshold with fresh mappings and trims the top of the heap back to
the OS, so every batch can pay page faults for memory it freed a moment before; how often depends
on the thresholds its heuristics happened to reach, which is why the same forward runs at
different speeds in one process. Measured here: a resnet10t forward at 64 px on one core,
2.3 s with fixed thresholds against 2.5-2.8 s with glibc's defaults (`scripts/bench_data.py`
applies it to its limits and pipelines alike). The cost: freed memory up to
:data:`TRIM_THRESHOLD` stays with the process, as it does with the caching allocators PyTorch uses
on GPUs. Environment variables ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` set by the
user win; other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest: blocks below it come from the heap, reused without faults
TRIM_THRESHOLD = 1024 * 1024 * 1024  # free heap top kept before trimming
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (module doc); a no-op elsewhere.

    Returns:
        Whether the thresholds were set (False on other platforms or C libraries, or when the
        user set them through the environment).
    """
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: musl has no such function
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
