"""Child seeds derived from one experiment seed: numpy only, so sweep files are expanded without torch."""

from __future__ import annotations

import numpy as np

__all__ = ["derive_seed"]


def derive_seed(seed: int, *keys: int | str) -> int:
    """A child seed for (seed, keys...) that is stable across runs and platforms.

    Args:
        seed: The experiment seed.
        *keys: What the child seed is for (integers, or strings of which the first 8 bytes count).

    Returns:
        A 32-bit seed from ``numpy.random.SeedSequence``.
    """
    words = [seed] + [k if isinstance(k, int) else int.from_bytes(str(k).encode()[:8].ljust(8, b"\0"), "little")
                      for k in keys]
    return int(np.random.SeedSequence([w % 2**32 for w in words] + [w >> 32 for w in words]).generate_state(1)[0])
