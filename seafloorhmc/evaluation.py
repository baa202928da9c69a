"""Scoring: run a model over a split, collect its predictions, compute the metrics; and ``seafloorhmc evaluate``.

Training scores its validation and test splits with :func:`evaluate_split`; :func:`evaluate_checkpoint`
scores a saved model the same way (same :class:`~seafloorhmc.runtime.Runtime`, same data
preparation), so evaluating a finished run's folder on its test split reproduces its ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .config import apply_overrides, config_from_dict
from .datamodule import prepare_data
from .decoding import evaluate_decodings
from .distributed import SINGLE_PROCESS, DistContext
from .losses import build_loss
from .metrics import evaluate
from .models.persistence import CheckpointError, load_trained_model, read_info
from .runtime import Runtime
from .taxonomy import Taxonomy
from .utils.atomic import write_json

__all__ = ["collect_predictions", "evaluate_split", "evaluate_checkpoint"]


@torch.no_grad()
def collect_predictions(model: torch.nn.Module, loader, loss_fn: torch.nn.Module, runtime: Runtime,
                        dist: DistContext = SINGLE_PROCESS, forward: Callable | None = None) -> dict:
    """Constrained mean probabilities, targets, known masks and loss over a loader (all ranks).

    Args:
        model: A :class:`~seafloorhmc.models.model.HierarchicalClassifier`.
        loader: Batches of ``image`` (or features), ``target``, ``known``, ``index``.
        loss_fn: The training loss, reported per known cell.
        runtime: Device, autocast and memory format.
        dist: The process group; every rank's predictions are gathered.
        forward: Maps a batch's ``image`` to member logits (default ``model``; cached features use
            ``model.head_logits``).

    Returns:
        ``probs``, ``targets``, ``known``, ``index`` (in dataset order, sampler padding dropped),
        ``loss`` and the per-level ``level_choices`` of heads that decide per level.
    """
    model.eval()
    forward = model if forward is None else forward
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    probs, targets, knowns, indices = [], [], [], []
    choices: dict[str, list] = {}  # per-level decisions of heads that decide per level (prototype head)
    loss_sum, count = 0.0, 0
    for batch in loader:
        if batch["target"].shape[0] == 0:
            continue
        x = runtime.batch(batch["image"])
        target = batch["target"].to(runtime.device)
        known = batch["known"].to(runtime.device)
        with runtime.autocast():
            logits = forward(x)
        logits = logits.float()
        loss = loss_fn(logits, target, None if bool(known.all()) else known).item()
        # weight each batch's mean by what it averaged over (the rare-node loss: known, evaluated
        # cells), so the split's loss does not depend on how rows fall into batches or ranks
        per_cell = hasattr(loss_fn, "eval_mask") and getattr(loss_fn, "reduction", None) == "mean"
        weight = int((batch["known"] & model.taxonomy.eval_mask).sum()) if per_cell else target.shape[0]
        loss_sum += loss * weight
        count += weight
        prediction = model.predict_from_logits(logits)
        probs.append(prediction.probs.cpu())
        for name, choice in prediction.level_choices.items():
            choices.setdefault(name, []).append(choice.cpu())
        targets.append(batch["target"])
        knowns.append(batch["known"])
        indices.append(torch.as_tensor(batch["index"]))
    n_nodes = len(model.taxonomy)
    cat = lambda xs, dtype: torch.cat(xs) if xs else torch.zeros((0, n_nodes), dtype=dtype)  # noqa: E731
    probs_t, targets_t, knowns_t = cat(probs, torch.float32), cat(targets, torch.float32), cat(knowns, torch.bool)
    indices_t = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long)
    loss_sum, count = dist.sum_floats(loss_sum, count)
    if dist.enabled:
        probs_t, targets_t = dist.gather_tensor(probs_t), dist.gather_tensor(targets_t)
        knowns_t, indices_t = dist.gather_tensor(knowns_t), dist.gather_tensor(indices_t)
    level_choices = {name: torch.cat(parts) for name, parts in choices.items()}
    if dist.enabled:
        level_choices = {name: dist.gather_tensor(c) for name, c in level_choices.items()}
    order = np.unique(indices_t.numpy(), return_index=True)[1]  # drop sampler padding, restore order
    return {"probs": probs_t[order], "targets": targets_t[order], "known": knowns_t[order], "index": indices_t[order],
            "loss": loss_sum / max(count, 1), "level_choices": {name: c[order] for name, c in level_choices.items()}}


def evaluate_split(model: torch.nn.Module, loader, loss_fn: torch.nn.Module, taxonomy: Taxonomy, runtime: Runtime,
                   threshold: float, train_targets: torch.Tensor | None, dist: DistContext = SINGLE_PROCESS,
                   keep_predictions: bool = False, decoding: str = "independent",
                   forward: Callable | None = None) -> dict:
    """Metrics of ``model`` on ``loader`` (:func:`seafloorhmc.metrics.evaluate`).

    Heads that decide per level are scored on their decided node sets, ``decoding`` unprefixed and
    the other decodings prefixed (see :mod:`seafloorhmc.decoding`).

    Args:
        model: The classifier.
        loader: The split's batches.
        loss_fn: The training loss (reported as ``loss``).
        taxonomy: The label hierarchy.
        runtime: Device, autocast and memory format.
        threshold: A node is predicted when its probability exceeds this.
        train_targets: Training targets (they define the rare nodes), or None.
        dist: The process group.
        keep_predictions: Also return the arrays under ``_predictions`` (test split of a run).
        decoding: ``independent`` or ``consistent`` (per-level heads only).
        forward: As in :func:`collect_predictions`.

    Returns:
        The metrics dict.

    Raises:
        ValueError: If the split is empty.
    """
    out = collect_predictions(model, loader, loss_fn, runtime, dist, forward)
    if out["probs"].shape[0] == 0:
        raise ValueError("the evaluation split is empty: nothing to score")
    if out["level_choices"]:
        scores = evaluate_decodings(out["probs"], out["targets"], taxonomy, out["level_choices"], known=out["known"],
                                    train_targets=train_targets, main=decoding)
    else:
        scores = evaluate(out["probs"], out["targets"], taxonomy, known=out["known"],
                          train_targets=train_targets, threshold=threshold)
    scores["loss"] = out["loss"]
    if keep_predictions:
        scores["_predictions"] = {k: out[k].numpy() for k in ("probs", "targets", "known", "index")}
        for name, choice in out["level_choices"].items():
            scores["_predictions"][f"level_choices_{name}"] = choice.numpy()
    return scores


def evaluate_checkpoint(checkpoint: str | Path, overrides: list[str] | tuple[str, ...] = (), split: str = "test",
                        out: str | Path | None = None, device: str = "auto") -> dict:
    """Score a saved model on ``split`` of the data its config names (``overrides`` change it).

    Args:
        checkpoint: A run folder, checkpoint folder or ``model.safetensors``.
        overrides: ``key=value`` changes to the stored config (e.g. ``data.annotations=other.csv``).
        split: ``train``, ``val`` or ``test``.
        out: Folder for ``metrics.json`` (None: write nothing).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The metrics, with ``split``, ``checkpoint``, ``data`` and ``config`` added.

    Raises:
        CheckpointError: If the data's taxonomy differs from the model's.
        ValueError: If the data has no such split.
    """
    info = read_info(checkpoint)
    config = config_from_dict(apply_overrides(info.config.to_dict(), overrides))
    bundle = prepare_data(config)
    if bundle.taxonomy.fingerprint() != info.fingerprint:
        raise CheckpointError(f"checkpoint {info.path} was trained on a different taxonomy than the data "
                              f"({info.fingerprint} vs {bundle.taxonomy.fingerprint()}): its outputs do not "
                              "line up with these labels")
    runtime = Runtime.from_config(config, device=device, images=bundle.feature_dim is None)
    model, _ = load_trained_model(info.path, runtime.device)
    model = runtime.prepare_model(model)
    loaders = bundle.loaders(config, SINGLE_PROCESS)
    loader = getattr(loaders, split)
    if loader is None:
        raise ValueError(f"the data has no {split!r} split")
    loss = build_loss(config, bundle.taxonomy, bundle.train_targets).to(runtime.device)
    metrics = evaluate_split(model, loader, loss, bundle.taxonomy, runtime, config.eval.threshold,
                             bundle.train_targets, decoding=config.eval.decoding)
    metrics.update({"split": split, "checkpoint": str(info.path), "data": bundle.info, "config": config.to_dict()})
    if out is not None:
        write_json(Path(out) / "metrics.json", metrics)
    return metrics
