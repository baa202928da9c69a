"""``seafloorhmc evaluate``: score a saved model on a split of (possibly different) data."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..config import apply_overrides, config_from_dict
from ..utils.atomic import write_json
from .checkpoint import CheckpointError, read_info
from .inference import load_trained_model
from .data import prepare_data
from .distributed import SINGLE_PROCESS
from .evaluation import evaluate_split
from .trainer import build_loss, resolve_device


def evaluate_checkpoint(checkpoint: str | Path, overrides: list[str] = (), split: str = "test",
                        out: str | Path | None = None, device: str = "auto") -> dict:
    """Evaluate ``checkpoint`` on ``split`` of the data its config names (``--set data.*=`` to change it)."""
    info = read_info(checkpoint)
    config = config_from_dict(apply_overrides(info.config.to_dict(), overrides))
    bundle = prepare_data(config)
    if bundle.taxonomy.fingerprint() != info.fingerprint:
        raise CheckpointError(f"checkpoint {info.path} was trained on a different taxonomy than the data "
                              f"({info.fingerprint} vs {bundle.taxonomy.fingerprint()}): its outputs do not "
                              "line up with these labels")
    dev = resolve_device(device)
    model, _ = load_trained_model(info.path, dev)
    loaders = bundle.loaders(config, SINGLE_PROCESS)
    loader = getattr(loaders, split)
    if loader is None:
        raise ValueError(f"the data has no {split!r} split")
    metrics = evaluate_split(model, loader, build_loss(config, bundle.taxonomy, bundle.train_targets).to(dev),
                             bundle.taxonomy, dev, contextlib.nullcontext, config.eval.threshold,
                             bundle.train_targets, SINGLE_PROCESS, decoding=config.eval.decoding)
    metrics.update({"split": split, "checkpoint": str(info.path), "data": bundle.info, "config": config.to_dict()})
    if out is not None:
        write_json(Path(out) / "metrics.json", metrics)
    return metrics
