"""Checkpoints: safetensors weights + a ``weights_only`` state file, never unpickled code.

A checkpoint is a folder ``checkpoints/epoch-NNNN/`` holding ``model.safetensors`` (weights, with
the resolved config, the taxonomy and its fingerprint as metadata, so the file alone can be
evaluated) and ``state.pt`` (optimizer, RNG states, epoch, history: plain tensors and numbers,
loaded with ``weights_only=True``). Small pointer files ``last.json`` / ``best.json`` are replaced
atomically once a folder is complete, so an interrupted save never leaves a half-written "last".
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model

from ..config import Config, config_from_dict
from ..taxonomy import Taxonomy
from ..utils.atomic import atomic_path, write_json

FORMAT = "seafloorhmc/1"
WEIGHTS = "model.safetensors"
STATE = "state.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit the model or data at hand."""


@dataclass
class CheckpointInfo:
    """What a weights file says about itself."""

    path: Path
    config: Config
    taxonomy: Taxonomy
    fingerprint: str
    epoch: int
    feature_dim: int | None


def save_weights(model: torch.nn.Module, path: Path, config: Config, taxonomy: Taxonomy, epoch: int,
                 feature_dim: int | None = None) -> Path:
    metadata = {
        "format": FORMAT,
        "config": json.dumps(config.to_dict()),
        "taxonomy": json.dumps(taxonomy.to_dict()),
        "fingerprint": taxonomy.fingerprint(),
        "epoch": str(epoch),
        "feature_dim": "" if feature_dim is None else str(feature_dim),
    }
    with atomic_path(path) as tmp:
        save_model(model, str(tmp), metadata=metadata)
    return path


def read_info(path: str | Path) -> CheckpointInfo:
    """Metadata of a weights file (or of the final/last model of a run folder)."""
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
                          feature_dim=int(meta["feature_dim"]) if meta.get("feature_dim") else None)


def load_weights(model: torch.nn.Module, path: str | Path, expected_fingerprint: str | None = None) -> CheckpointInfo:
    """Strictly load weights into ``model``; mismatched keys, shapes or taxonomy are errors."""
    info = read_info(path)
    if expected_fingerprint is not None and info.fingerprint != expected_fingerprint:
        raise CheckpointError(f"checkpoint {info.path} was trained on a different taxonomy "
                              f"(fingerprint {info.fingerprint}, data has {expected_fingerprint})")
    try:
        missing, unexpected = load_model(model, str(info.path), strict=False)
    except (SafetensorError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {info.path} does not fit the model: {err}") from None
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {info.path} does not fit the model: missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}")
    return info


def resolve_weights(path: str | Path) -> Path:
    """A weights file from a file path, a checkpoint folder, or a run folder."""
    path = Path(path)
    candidates = [path] if path.suffix == ".safetensors" else [
        path / WEIGHTS, path / "checkpoints" / "best" / WEIGHTS,
    ]
    if path.is_dir():
        for pointer in ("best.json", "last.json"):
            target = _pointer(path / "checkpoints" / pointer) or _pointer(path / pointer)
            if target is not None:
                candidates.append(target / WEIGHTS)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"no checkpoint found at {path} (looked for {', '.join(str(c) for c in candidates)})")


def _pointer(pointer: Path) -> Path | None:
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text())["dir"]
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint pointer {pointer} is corrupt: {err}") from None
    return pointer.parent / name


class CheckpointStore:
    """The ``checkpoints/`` folder of a run: save, find last/best, prune old epochs."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def save(self, epoch: int, model: torch.nn.Module, state: dict, config: Config, taxonomy: Taxonomy,
             feature_dim: int | None = None, best: bool = False) -> Path:
        target = self.folder / f"epoch-{epoch:04d}"
        target.mkdir(parents=True, exist_ok=True)
        save_weights(model, target / WEIGHTS, config, taxonomy, epoch, feature_dim)
        with atomic_path(target / STATE) as tmp:
            torch.save({**state, "epoch": epoch, "fingerprint": taxonomy.fingerprint()}, tmp)
        write_json(self.folder / "last.json", {"dir": target.name, "epoch": epoch})
        if best:
            write_json(self.folder / "best.json", {"dir": target.name, "epoch": epoch})
        self._prune()
        return target

    def last(self) -> Path | None:
        return _pointer(self.folder / "last.json")

    def best(self) -> Path | None:
        return _pointer(self.folder / "best.json")

    def load_state(self, checkpoint_dir: Path) -> dict:
        path = checkpoint_dir / STATE
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - unreadable, truncated, or unsafe pickle
            raise CheckpointError(f"cannot load training state {path}: {err}") from None

    def _prune(self) -> None:
        keep = {p.name for p in (self.last(), self.best()) if p is not None}
        for folder in self.folder.glob("epoch-*"):
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
