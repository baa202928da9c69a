"""The focal factor φ = focal_min + u^k that scales the loss by ensemble uncertainty."""

from __future__ import annotations

import torch

__all__ = ["focal_factor"]


def focal_factor(uncertainty: torch.Tensor, k: float = 1.0, focal_min: float = 0.25) -> torch.Tensor:
    """The focal factor of Xu et al. 2026: uncertain nodes weigh more in the loss.

    Args:
        uncertainty: Per-node uncertainty u (from :func:`seafloorhmc.uncertainty.node_uncertainty`).
        k: Exponent (> 0).
        focal_min: Floor, so confident nodes still contribute.

    Returns:
        φ = focal_min + u^k, detached: the factor scales the loss but carries no gradient.

    Raises:
        ValueError: If k is not positive.
    """
    if k <= 0:
        raise ValueError(f"focal exponent k must be positive, got {k}")
    u = uncertainty.detach()
    return focal_min + (u if k == 1 else u.clamp_min(0) ** k)
