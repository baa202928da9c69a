"""Optimisers and the warm-up + cosine learning-rate schedule.

The schedule is a pure function of the step, so resuming needs no scheduler state.
"""

from __future__ import annotations

import math

import torch

from ..config import TrainConfig


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, extra_params=()) -> torch.optim.Optimizer:
    """The optimizer, with parameter groups at their learning rates.

    Groups: head (+ ``extra_params``, e.g. a loss's learned weights) at ``lr``, the encoder at
    ``encoder_lr``, and any head parameters the head asks to scale (``lr_scaled_parameters``:
    HCAL's prototypes) at ``lr`` × their multiplier.
    """
    scaled = model.head.lr_scaled_parameters() if hasattr(model.head, "lr_scaled_parameters") else []
    scaled_ids = {id(p) for _, params in scaled for p in params}
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    other_params = [p for n, p in model.named_parameters()
                    if p.requires_grad and not n.startswith("encoder.") and id(p) not in scaled_ids]
    groups = [{"params": other_params + [p for p in extra_params if p.requires_grad], "lr": cfg.lr, "base_lr": cfg.lr}]
    for scale, params in scaled:
        groups.append({"params": [p for p in params if p.requires_grad], "lr": cfg.lr * scale,
                       "base_lr": cfg.lr * scale})
    if encoder_params:
        lr = cfg.encoder_lr if cfg.encoder_lr is not None else cfg.lr
        groups.append({"params": encoder_params, "lr": lr, "base_lr": lr})
    kinds = {"adam": (torch.optim.Adam, {}), "adamw": (torch.optim.AdamW, {}),
             "sgd": (torch.optim.SGD, {"momentum": cfg.momentum})}
    cls, extra = kinds[cfg.optimizer]
    try:  # one fused kernel per tensor: several times faster than the per-op loop on CPU
        return cls(groups, weight_decay=cfg.weight_decay, fused=True, **extra)
    except (RuntimeError, TypeError, ValueError):
        return cls(groups, weight_decay=cfg.weight_decay, **extra)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Linear warm-up to 1, then constant or cosine decay to 0 at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant" or total_steps <= warmup_steps:
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Set every group's learning rate to its base rate × ``factor``.

    Args:
        optimizer: The optimizer (groups carry ``base_lr``).
        factor: The schedule's factor.

    Returns:
        The first group's new learning rate.
    """
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]
