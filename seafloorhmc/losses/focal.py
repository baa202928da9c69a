"""The focal factor φ = focal_min + u^k that scales the loss by ensemble uncertainty."""

from __future__ import annotations

import torch

__all__ = ["focal_factor"]


def focal_factor(uncertainty: torch.Tensor, k: float = 1.0, focal_min: float = 0.25) -> torch.Tensor:
    """φ = focal_min + u^k, detached: the factor scales the loss but carries no gradient."""
    if k <= 0:
        raise ValueError(f"focal exponent k must be positive, got {k}")
    u = uncertainty.detach()
    return focal_min + (u if k == 1 else u.clamp_min(0) ** k)
