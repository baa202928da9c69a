"""Scoring: run a model over a split, collect its predictions, compute the metrics; and ``seafloorhmc evaluate``.

Training scores its validation and test splits with :func:`evaluate_split`; :func:`evaluate_checkpoint`
scores a saved model the same way (same :class:`~seafloorhmc.runtime.Runtime`, same data
preparation), so evaluating a finished run's folder on its test split reproduces its ``metrics.json``.

Non-finite predictions are never scored: they mean the model diverged, and
:func:`collect_predictions` raises :class:`~seafloorhmc.errors.DivergenceError` naming the images.
Evaluating *into* a run folder writes ``metrics-<split>.json`` beside the run's own
``metrics.json`` (which only training writes) while holding the run's lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .config import apply_overrides, config_from_dict
from .data.checks import image_changed_since_check
from .data.images import BadImageError
from .datamodule import prepare_data
from .decoding import evaluate_decodings
from .distributed import SINGLE_PROCESS, DistContext
from .errors import DIVERGENCE_CAUSES, DivergenceError
from .losses import build_loss
from .metrics import evaluate
from .models.model import HierarchicalClassifier
from .models.persistence import CheckpointError, load_trained_model, read_info
from .runtime import Runtime
from .taxonomy import Taxonomy, describe_taxonomy_change
from .utils.atomic import refuse_existing, remove_stale_temporaries, write_json
from .utils.locks import RunLock

__all__ = ["collect_predictions", "evaluate_split", "evaluate_checkpoint", "evaluation_output", "is_run_folder"]

RUN_MARKERS = ("config.yaml", "checkpoints", "model.safetensors")


def is_run_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is a training run's folder (its ``metrics.json`` belongs to training).

    Args:
        folder: A folder.

    Returns:
        True if it holds a run's config, checkpoints or model.
    """
    folder = Path(folder)
    return any((folder / name).exists() for name in RUN_MARKERS)


def evaluation_output(out: str | Path, split: str) -> Path:
    """Where ``seafloorhmc evaluate --out OUT`` writes its metrics.

    Args:
        out: The ``--out`` folder.
        split: The split scored.

    Returns:
        ``OUT/metrics-<split>.json`` in a training run's folder (whose ``metrics.json`` is the
        run's own), else ``OUT/metrics.json``.
    """
    out = Path(out)
    return out / f"metrics-{split}.json" if is_run_folder(out) else out / "metrics.json"


def _describe_rows(loader, rows: torch.Tensor) -> str:
    """The images (or row numbers) of some batch rows, for an error message."""
    shown = rows[:4].tolist()
    dataset = getattr(loader, "dataset", None)
    if dataset is not None and hasattr(dataset, "image_path"):
        return "images " + ", ".join(dataset.image_path(i) for i in shown)
    return f"rows {shown}"


@torch.no_grad()
def collect_predictions(model: HierarchicalClassifier, loader, loss_fn: torch.nn.Module, runtime: Runtime,
                        dist: DistContext = SINGLE_PROCESS, forward: Callable | None = None,
                        on_batch: Callable[[torch.Tensor, dict], None] | None = None) -> dict:
    """Constrained mean probabilities, targets, known masks and loss over a loader (all ranks).

    Args:
        model: A :class:`~seafloorhmc.models.model.HierarchicalClassifier`.
        loader: Batches of ``image`` (or features), ``target``, ``known``, ``index``.
        loss_fn: The training loss, reported per known cell.
        runtime: Device, autocast and memory format.
        dist: The process group; every rank's predictions are gathered.
        forward: Maps a batch's ``image`` to member logits (default ``model``; cached features use
            ``model.head_logits``).
        on_batch: Also called with each batch's member logits and the batch, so more can be
            computed from the same pass (the review flag's scores on a run's test split).

    Returns:
        ``probs``, ``targets``, ``known``, ``index`` (in dataset order, sampler padding dropped),
        ``loss`` and the per-level ``level_choices`` of heads that decide per level.

    Raises:
        DivergenceError: If the model's outputs for some rows are not finite.
    """
    model.eval()
    forward = model if forward is None else forward
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    probs, targets, knowns, indices = [], [], [], []
    choices: dict[str, list] = {}  # per-level decisions of heads that decide per level (prototype head)
    count: float
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
        prediction = model.predict_from_logits(logits)
        finite = torch.isfinite(prediction.probs).all(dim=1).cpu()
        if not bool(finite.all()):
            bad = torch.as_tensor(batch["index"])[~finite]
            raise DivergenceError(f"non-finite predictions for {len(bad)} of {len(finite)} rows of a batch "
                                  f"({_describe_rows(loader, bad)}); the model's weights hold NaN or inf values — "
                                  f"{DIVERGENCE_CAUSES}")
        if on_batch is not None:
            on_batch(logits, batch)
        loss = loss_fn(logits, target, None if bool(known.all()) else known).item()
        # weight each batch's mean by what it averaged over (the rare-node loss: known, evaluated
        # cells), so the split's loss does not depend on how rows fall into batches or ranks
        per_cell = hasattr(loss_fn, "eval_mask") and getattr(loss_fn, "reduction", None) == "mean"
        weight = int((batch["known"] & model.taxonomy.eval_mask).sum()) if per_cell else target.shape[0]
        loss_sum += loss * weight
        count += weight
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


def evaluate_split(model: HierarchicalClassifier, loader, loss_fn: torch.nn.Module, taxonomy: Taxonomy,
                   runtime: Runtime, threshold: float, train_targets: torch.Tensor | None,
                   dist: DistContext = SINGLE_PROCESS, keep_predictions: bool = False, decoding: str = "independent",
                   forward: Callable | None = None,
                   on_batch: Callable[[torch.Tensor, dict], None] | None = None) -> dict:
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
        on_batch: As in :func:`collect_predictions`.

    Returns:
        The metrics dict.

    Raises:
        ValueError: If the split is empty.
    """
    out = collect_predictions(model, loader, loss_fn, runtime, dist, forward, on_batch)
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
                        out: str | Path | None = None, device: str = "auto", overwrite: bool = False) -> dict:
    """Score a saved model on ``split`` of the data its config names (``overrides`` change it).

    Args:
        checkpoint: A run folder, checkpoint folder or ``model.safetensors``.
        overrides: ``key=value`` changes to the stored config (e.g. ``data.annotations=other.csv``).
        split: ``train``, ``val`` or ``test``.
        out: Folder for the metrics (None: write nothing); see :func:`evaluation_output`. A run
            folder is locked while it is evaluated into.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        overwrite: Replace an existing metrics file.

    Returns:
        The metrics, with ``split``, ``checkpoint``, ``data`` and ``config`` added (and ``out``,
        the file written, when ``out`` is given).

    Raises:
        CheckpointError: If the data's taxonomy differs from the model's (naming the nodes added,
            removed or moved).
        ValueError: If the data has no such split.
        FileExistsError: If the metrics file exists and ``overwrite`` is not set.
        RunLockedError: If ``out`` is a run folder another process holds.
    """
    if out is None:
        return _evaluate(checkpoint, overrides, split, device)
    target = evaluation_output(out, split)
    refuse_existing([target], overwrite, "metrics file")
    with RunLock(out) if is_run_folder(out) else contextlib.nullcontext():
        remove_stale_temporaries(target.parent, targets=[target.name])
        metrics = _evaluate(checkpoint, overrides, split, device)
        refuse_existing([target], overwrite, "metrics file")  # written meanwhile by another command
        write_json(target, metrics)
    return {**metrics, "out": str(target)}


def _evaluate(checkpoint: str | Path, overrides, split: str, device: str) -> dict:
    info = read_info(checkpoint)
    config = config_from_dict(apply_overrides(info.config.to_dict(), overrides))
    bundle = prepare_data(config)
    if bundle.taxonomy.fingerprint() != info.fingerprint:
        change = describe_taxonomy_change(info.taxonomy, bundle.taxonomy, config.data.separator)
        raise CheckpointError(f"checkpoint {info.path} was trained on a different taxonomy than the data "
                              f"({change}): its outputs do not line up with these labels")
    runtime = Runtime.from_config(config, device=device, images=bundle.feature_dim is None)
    model, _ = load_trained_model(info.path, runtime.device)
    model = runtime.prepare_model(model)
    loaders = bundle.loaders(config, SINGLE_PROCESS)
    loader = getattr(loaders, split)
    if loader is None:
        raise ValueError(f"the data has no {split!r} split")
    loss = build_loss(config, bundle.taxonomy, bundle.train_targets).to(runtime.device)
    try:
        metrics = evaluate_split(model, loader, loss, bundle.taxonomy, runtime, config.eval.threshold,
                                 bundle.train_targets, decoding=config.eval.decoding)
    except (BadImageError, RuntimeError) as err:
        changed = image_changed_since_check(err)
        if changed is None:
            raise
        raise changed from None
    metrics.update({"split": split, "checkpoint": str(info.path), "data": bundle.info, "config": config.to_dict(),
                    "skipped_images": len(bundle.bad_images)})
    return metrics
