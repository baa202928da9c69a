"""Per-epoch training checkpoints for exact resume: safetensors weights + a ``weights_only`` state file.

A checkpoint is a folder ``checkpoints/epoch-NNNN/`` (NNNN the epoch counted from 1, as the log
and every message count it) holding ``model.safetensors`` (written by
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
from ..utils.safe_load import load_error_reason

__all__ = ["CheckpointStore", "STATE", "checkpoint_name"]

STATE = "state.pt"


def checkpoint_name(epoch: int) -> str:
    """The folder of an epoch's checkpoint.

    Args:
        epoch: The epoch index, counted from 0 (as the training state stores it).

    Returns:
        ``epoch-NNNN`` with NNNN counted from 1 (``epoch-0001`` for the first epoch).
    """
    return f"epoch-{epoch + 1:04d}"


class CheckpointStore:
    """The ``checkpoints/`` folder of a run: save, find last/best, prune old epochs.

    Args:
        folder: The ``checkpoints/`` folder.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def save(self, epoch: int, model: torch.nn.Module, state: dict, config: Config, taxonomy: Taxonomy,
             feature_dim: int | None = None, best: bool = False) -> Path:
        """Save one epoch (weights, then state, then the pointers: best, last) and prune the epochs no pointer names.

        Args:
            epoch: The epoch index, counted from 0 (stored as such in the state, for resume).
            model: The model whose weights to save.
            state: Optimizer, RNG and history state (plain tensors and numbers).
            config: The run's configuration (stored in the weights' metadata).
            taxonomy: The run's taxonomy.
            feature_dim: Input width of a feature-vector model (None for images).
            best: Whether this epoch is the best so far.

        Returns:
            The checkpoint folder.
        """
        target = self.folder / checkpoint_name(epoch)
        target.mkdir(parents=True, exist_ok=True)
        save_weights(model, target / WEIGHTS, config, taxonomy, epoch + 1, feature_dim)
        with atomic_path(target / STATE) as tmp:
            torch.save({**state, "epoch": epoch, "fingerprint": taxonomy.fingerprint()}, tmp)
        # best before last: last.json marks the epoch complete, so a process killed between the two
        # writes resumes from the previous epoch and saves this one again, pointers included
        if best:
            write_json(self.folder / "best.json", {"dir": target.name, "epoch": epoch + 1})
        write_json(self.folder / "last.json", {"dir": target.name, "epoch": epoch + 1})
        self._prune()
        return target

    def last(self) -> Path | None:
        """The latest complete checkpoint folder, or None before the first epoch ends.

        Returns:
            The folder ``last.json`` names.
        """
        return read_pointer(self.folder / "last.json")

    def best(self) -> Path | None:
        """The checkpoint folder of the best epoch so far (by validation), or None.

        Returns:
            The folder ``best.json`` names.
        """
        return read_pointer(self.folder / "best.json")

    def load_state(self, checkpoint_dir: Path) -> dict:
        """The training state of a checkpoint, loaded with ``weights_only=True`` (never unpickled).

        Args:
            checkpoint_dir: A checkpoint folder.

        Returns:
            The state dict.

        Raises:
            CheckpointError: If the file is missing, truncated, or not a plain-tensor state.
        """
        path = checkpoint_dir / STATE
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - unreadable, truncated, or unsafe pickle
            raise CheckpointError(f"cannot load training state {path}: {load_error_reason(err)}") from None

    def _prune(self) -> None:
        keep = {p.name for p in (self.last(), self.best()) if p is not None}
        for folder in self.folder.glob("epoch-*"):
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
