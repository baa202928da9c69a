"""A trained model as one file: safetensors weights whose metadata carries the config and taxonomy.

``model.safetensors`` holds the weights plus, as metadata, the resolved config, the taxonomy and
its fingerprint, so the file alone rebuilds and scores the model (:func:`load_trained_model`).
Nothing is ever unpickled. A run folder points at its selected model (``model.safetensors``) or,
while training, at its per-epoch checkpoints through ``checkpoints/best.json`` / ``last.json``
(:mod:`seafloorhmc.training.checkpoints` writes those).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model as load_safetensors_into
from safetensors.torch import save_file, save_model

from ..config import Config, config_from_dict
from ..data.transforms import eval_transform_for
from ..taxonomy import Taxonomy
from ..utils.atomic import atomic_path, refuse_existing
from .factory import build_model
from .model import HierarchicalClassifier

__all__ = ["FORMAT", "WEIGHTS", "CheckpointError", "CheckpointInfo", "LoadedModel", "save_weights", "read_info",
           "load_weights", "resolve_weights", "read_pointer", "load_trained_model", "export_encoder", "load_model"]

FORMAT = "seafloorhmc/1"
WEIGHTS = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit the model or data at hand."""


@dataclass
class CheckpointInfo:
    """What a weights file says about itself.

    Attributes:
        path: The weights file.
        config: The resolved configuration of the run.
        taxonomy: The label hierarchy the model was trained on.
        fingerprint: The taxonomy's fingerprint.
        epoch: The epoch the weights come from.
        feature_dim: Width of tabular features, or None for an image model.
    """

    path: Path
    config: Config
    taxonomy: Taxonomy
    fingerprint: str
    epoch: int
    feature_dim: int | None
    review: dict | None = None  # the review threshold calibrated at the end of training (prediction.review)


def save_weights(model: torch.nn.Module, path: Path, config: Config, taxonomy: Taxonomy, epoch: int,
                 feature_dim: int | None = None, review: dict | None = None) -> Path:
    """Write a model as safetensors whose metadata alone rebuilds it (config, taxonomy), atomically.

    Args:
        model: The model (unwrapped from DDP).
        path: The ``.safetensors`` file.
        config: The run's resolved configuration.
        taxonomy: The label hierarchy.
        epoch: The epoch the weights come from.
        feature_dim: Width of tabular features, or None for an image model.
        review: The review-flag calibration to store with the model (:mod:`seafloorhmc.prediction.review`).

    Returns:
        ``path``.
    """
    metadata = {
        "format": FORMAT,
        "config": json.dumps(config.to_dict()),
        "taxonomy": json.dumps(taxonomy.to_dict()),
        "fingerprint": taxonomy.fingerprint(),
        "epoch": str(epoch),
        "feature_dim": "" if feature_dim is None else str(feature_dim),
    }
    if review is not None:
        metadata["review"] = json.dumps(review)
    with atomic_path(path) as tmp:
        save_model(model, str(tmp), metadata=metadata)
    return path


def read_info(path: str | Path) -> CheckpointInfo:
    """Metadata of a weights file (or of the final/last model of a run folder), without loading weights.

    Args:
        path: A weights file, checkpoint folder or run folder (see :func:`resolve_weights`).

    Returns:
        The metadata.

    Raises:
        CheckpointError: If the file is unreadable, not a seafloorhmc checkpoint, or its taxonomy
            does not match its fingerprint.
    """
    path = resolve_weights(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a seafloorhmc checkpoint (metadata format {meta.get('format')!r})")
    taxonomy = Taxonomy.from_dict(json.loads(meta["taxonomy"]))
    if taxonomy.fingerprint() != meta["fingerprint"]:
        raise CheckpointError(f"{path}: stored taxonomy does not match its fingerprint (file edited or corrupt)")
    return CheckpointInfo(path=path, config=config_from_dict(json.loads(meta["config"])), taxonomy=taxonomy,
                          fingerprint=meta["fingerprint"], epoch=int(meta["epoch"]),
                          feature_dim=int(meta["feature_dim"]) if meta.get("feature_dim") else None,
                          review=json.loads(meta["review"]) if meta.get("review") else None)


def load_weights(model: torch.nn.Module, path: str | Path,
                 expected_fingerprint: str | None = None) -> CheckpointInfo:
    """Strictly load weights into ``model``; mismatched keys, shapes or taxonomy are errors.

    Args:
        model: The model, built for the checkpoint's architecture.
        path: A weights file, checkpoint folder or run folder.
        expected_fingerprint: The taxonomy fingerprint of the data at hand, if it must match.

    Returns:
        The checkpoint's metadata.

    Raises:
        CheckpointError: If the taxonomy differs or the weights do not fit the model.
    """
    info = read_info(path)
    if expected_fingerprint is not None and info.fingerprint != expected_fingerprint:
        raise CheckpointError(f"checkpoint {info.path} was trained on a different taxonomy "
                              f"(fingerprint {info.fingerprint}, data has {expected_fingerprint})")
    _load_state(model, info.path)
    return info


def _load_state(model: torch.nn.Module, path: Path) -> None:
    """Strictly load the weights file ``path`` into ``model``."""
    try:
        missing, unexpected = load_safetensors_into(model, str(path), strict=False)
    except (SafetensorError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {path} does not fit the model: {err}") from None
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not fit the model: missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}")


def resolve_weights(path: str | Path) -> Path:
    """The weights file a path means: a file, a checkpoint folder, or a run folder.

    A run folder gives its selected ``model.safetensors``, else ``checkpoints/best``, else the
    checkpoints ``best.json`` / ``last.json`` point at.

    Args:
        path: The path.

    Returns:
        An existing ``.safetensors`` file.

    Raises:
        CheckpointError: If none is found (the message lists where it looked).
    """
    path = Path(path)
    candidates = [path] if path.suffix == ".safetensors" else [
        path / WEIGHTS, path / "checkpoints" / "best" / WEIGHTS,
    ]
    if path.is_dir():
        for pointer in ("best.json", "last.json"):
            target = read_pointer(path / "checkpoints" / pointer) or read_pointer(path / pointer)
            if target is not None:
                candidates.append(target / WEIGHTS)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"no checkpoint found at {path} (looked for {', '.join(str(c) for c in candidates)})")


def read_pointer(pointer: Path) -> Path | None:
    """The checkpoint folder a ``last.json`` / ``best.json`` pointer names.

    Args:
        pointer: The pointer file.

    Returns:
        The folder, or None if there is no pointer file.

    Raises:
        CheckpointError: If the pointer is not JSON with a ``dir`` key.
    """
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text())["dir"]
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint pointer {pointer} is corrupt: {err}") from None
    return pointer.parent / name


def load_trained_model(checkpoint: str | Path, device: str | torch.device = "cpu", *,
                       info: CheckpointInfo | None = None) -> tuple[HierarchicalClassifier, CheckpointInfo]:
    """The model a checkpoint describes, weights loaded, in eval mode.

    The architecture is rebuilt from the config stored in the file; no pretrained encoder file is
    needed.

    Args:
        checkpoint: A weights file, checkpoint folder or run folder.
        device: Where to put the model.
        info: ``checkpoint``'s metadata, when the caller has read it already (:func:`read_info`).

    Returns:
        The model and the checkpoint's metadata.

    Raises:
        CheckpointError: If nothing loadable is found or the weights do not fit.
    """
    info = read_info(checkpoint) if info is None else info
    model, _ = build_model(info.config.model, info.taxonomy, seed=info.config.seed, feature_dim=info.feature_dim,
                           load_weights=False)
    _load_state(model, info.path)
    return model.to(device).eval(), info


def export_encoder(checkpoint: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Save a trained model's encoder weights as safetensors, ready for ``model.weights=``.

    Args:
        checkpoint: A run folder, checkpoint folder or ``model.safetensors``.
        out: The weights file to write.
        overwrite: Replace ``out`` if it exists.

    Returns:
        ``out``.

    Raises:
        FileExistsError: If ``out`` exists and ``overwrite`` is not set.
        ValueError: If the model has no image encoder.
    """
    refuse_existing([out], overwrite, "encoder weights")
    model, info = load_trained_model(checkpoint)
    if info.feature_dim is not None:
        raise ValueError(f"{info.path} has no image encoder (it was trained on feature vectors)")
    state = {k: v.contiguous() for k, v in model.encoder.state_dict().items()}
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata={"encoder": info.config.model.encoder, "source": str(info.path)})
    return Path(out)


class LoadedModel(NamedTuple):
    """A trained model ready to use: unpacks as ``model, transform, taxonomy = load_model(...)``.

    Attributes:
        model: The model in eval mode.
        transform: Its deterministic evaluation transform (None for feature data).
        taxonomy: Its label hierarchy.
    """

    model: HierarchicalClassifier
    transform: Callable | None
    taxonomy: Taxonomy


def load_model(run_or_weights: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """A trained model, its evaluation transform and its taxonomy, from a run folder or weights file.

    Args:
        run_or_weights: A run folder, a checkpoint folder or a ``model.safetensors`` file.
        device: Where to put the model.

    Returns:
        The model in eval mode, the deterministic image transform it was evaluated with
        (albumentations: ``transform(image=rgb_uint8)["image"]`` → tensor; None for feature data)
        and its taxonomy.

    Raises:
        CheckpointError: If nothing loadable is found or the file does not fit its own metadata.
    """
    model, info = load_trained_model(run_or_weights, device)
    transform = eval_transform_for(info.config) if info.feature_dim is None else None
    return LoadedModel(model, transform, info.taxonomy)
