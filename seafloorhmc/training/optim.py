"""Optimisers and the warm-up + cosine learning-rate schedule.

The schedule is a pure function of the step, so resuming needs no scheduler state.
"""

from __future__ import annotations

import math

import torch
from timm.optim import param_groups_weight_decay
from torch import nn

from ..config import TrainConfig
from ..models.model import HierarchicalClassifier

__all__ = ["build_optimizer", "lr_factor", "set_lr"]


def _groups(params: list[nn.Parameter], module: nn.Module | None, lr: float, cfg: TrainConfig) -> list[dict]:
    """Parameter groups at ``lr``: all decayed (``train.decay_norm_and_bias``), or split as timm does.

    timm's ``param_groups_weight_decay`` exempts one-dimensional parameters (normalisation weights)
    and biases from weight decay; ``module`` gives the names it needs.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        return []
    if cfg.decay_norm_and_bias or module is None:
        return [{"params": params, "lr": lr, "base_lr": lr, "weight_decay": cfg.weight_decay}]
    keep = {id(p) for p in params}
    groups = []
    for group in param_groups_weight_decay(module, weight_decay=cfg.weight_decay):
        kept = [p for p in group["params"] if id(p) in keep]
        if kept:
            groups.append({"params": kept, "lr": lr, "base_lr": lr, "weight_decay": group["weight_decay"]})
    return groups


def build_optimizer(model: HierarchicalClassifier, cfg: TrainConfig, extra_params=()) -> torch.optim.Optimizer:
    """The optimiser of a run, its parameters grouped by learning rate and weight decay.

    Groups: the head (+ ``extra_params``, e.g. a loss's learned weights) at ``lr``, the encoder at
    ``encoder_lr``, and any head parameters the head asks to scale (``lr_scaled_parameters``:
    HCAL's prototypes) at ``lr`` × their multiplier. Within each, normalisation weights and biases
    get no weight decay (timm's rule) unless ``train.decay_norm_and_bias`` (C-HMCNN's protocol).

    Args:
        model: A :class:`~seafloorhmc.models.model.HierarchicalClassifier`.
        cfg: The ``train`` config section.
        extra_params: Further trainable parameters (a loss's learned level weights).

    Returns:
        Adam, AdamW or SGD (fused where the device supports it).
    """
    # torch types Module attributes as Tensor | Module; heads that scale parameters define the method
    scaled = model.head.lr_scaled_parameters() if hasattr(model.head, "lr_scaled_parameters") else []  # type: ignore[operator]
    scaled_ids = {id(p) for _, params in scaled for p in params}
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and id(p) not in scaled_ids]
    extra = [p for p in extra_params if p.requires_grad]
    if cfg.decay_norm_and_bias:
        groups = _groups(head_params + extra, None, cfg.lr, cfg)
    else:
        groups = _groups(head_params, model, cfg.lr, cfg) + _groups(extra, None, cfg.lr, cfg)
    for scale, params in scaled:
        groups += _groups(list(params), None, cfg.lr * scale, cfg)
    encoder_lr = cfg.encoder_lr if cfg.encoder_lr is not None else cfg.lr
    groups += _groups(list(model.encoder.parameters()), None if cfg.decay_norm_and_bias else model.encoder,
                      encoder_lr, cfg)
    kinds = {"adam": (torch.optim.Adam, {}), "adamw": (torch.optim.AdamW, {}),
             "sgd": (torch.optim.SGD, {"momentum": cfg.momentum})}
    cls, options = kinds[cfg.optimizer]
    try:  # one fused kernel per tensor: several times faster than the per-op loop on CPU
        return cls(groups, weight_decay=cfg.weight_decay, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return cls(groups, weight_decay=cfg.weight_decay, **options)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """The learning-rate multiplier at ``step``: linear warm-up to 1, then constant or cosine decay to 0.

    A pure function of the step, so a resumed run needs no scheduler state.

    Args:
        step: Optimiser steps taken so far (0-based).
        total_steps: Steps of the whole run; the cosine reaches 0 there.
        warmup_steps: Length of the linear warm-up (0: none).
        schedule: ``cosine`` or ``constant`` after the warm-up.

    Returns:
        The factor applied to every group's base learning rate.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant" or total_steps <= warmup_steps:
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Set every group's learning rate to its ``base_lr`` × ``factor``.

    Args:
        optimizer: An optimiser built by :func:`build_optimizer` (its groups carry ``base_lr``).
        factor: The multiplier from :func:`lr_factor`.

    Returns:
        The first group's new learning rate (logged per epoch).
    """
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]
