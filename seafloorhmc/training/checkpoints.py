"""Per-epoch training checkpoints for exact resume: safetensors weights + a ``weights_only`` state file.

A checkpoint is a folder ``checkpoints/epoch-NNNN/`` holding ``model.safetensors`` (written by
:func:`seafloorhmc.models.persistence.save_weights`, so each one is a complete model) and
``state.pt`` (optimizer, RNG states, epoch, history: plain tensors and numbers, loaded with
``weights_only=True``). Small pointer files ``last.json`` / ``best.json`` are replaced atomically
once a folder is complete, so an interrupted save never leaves a half-written "last".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..config import Config
from ..models.persistence import WEIGHTS, CheckpointError, read_pointer, save_weights
from ..taxonomy import Taxonomy
from ..utils.atomic import atomic_path, write_json

STATE = "state.pt"


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
        return read_pointer(self.folder / "last.json")

    def best(self) -> Path | None:
        return read_pointer(self.folder / "best.json")

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
