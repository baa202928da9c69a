"""A run's output folder: never overwrite a finished run by accident; resume an unfinished one."""

from __future__ import annotations

import csv
import io
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_path, write_text

__all__ = ["RunDir", "RunDirError", "LOG_COLUMNS", "history_csv"]

#: Columns of a run's ``log.csv``, one row per epoch.
LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_au_prc", "val_f1", "val_recall", "lr", "seconds", "skipped")


class RunDirError(FileExistsError):
    """The output folder holds something this command must not overwrite."""


class RunDir:
    def __init__(self, path: str | Path, is_main: bool = True) -> None:
        self.path = Path(path)
        self.is_main = is_main
        self._skipped: dict[str, str] = {}

    @property
    def finished(self) -> bool:
        return (self.path / "metrics.json").is_file()

    @property
    def started(self) -> bool:
        return (self.path / "checkpoints" / "last.json").is_file()

    def prepare(self, resume: bool = False, overwrite: bool = False) -> None:
        """Create the folder, or check that what is in it may be used.

        finished run: error unless ``overwrite``; unfinished run: error unless ``resume`` or
        ``overwrite``; any other content: error unless ``overwrite``.
        """
        if not self.is_main:
            return
        if self.path.exists() and any(self.path.iterdir()):
            if overwrite:
                shutil.rmtree(self.path)
            elif self.finished:
                raise RunDirError(f"{self.path} already holds a finished run (metrics.json); choose another --out "
                                  "or pass --overwrite to replace it")
            elif self.started and not resume:
                raise RunDirError(f"{self.path} holds an unfinished run; pass --resume to continue it or "
                                  "--overwrite to start again")
            elif not self.started and not resume and not (self.path / "config.yaml").exists():
                raise RunDirError(f"{self.path} is not empty and is not a seafloorhmc run; choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)

    def note_skipped(self, path: str, reason: str) -> None:
        """Remember an unreadable image and keep ``skipped_images.txt`` current."""
        if path in self._skipped or not self.is_main:
            self._skipped.setdefault(path, reason)
            return
        self._skipped[path] = reason
        write_text(self.path / "skipped_images.txt", "".join(f"{p}\t{r}\n" for p, r in self._skipped.items()))

    def write_log(self, history: list[dict], columns) -> None:
        write_text(self.path / "log.csv", history_csv(history, columns))

    def write_predictions(self, predictions: dict, taxonomy) -> Path:
        """Test-set probabilities, targets and masks (for plots and later analysis)."""
        target = self.path / "test_predictions.npz"
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, nodes=np.array(taxonomy.nodes), **{k: np.asarray(v) for k, v in predictions.items()})
        return target


def history_csv(history: list[dict], columns: Sequence[str] = LOG_COLUMNS) -> str:
    """The epoch history as CSV text: ``columns`` in order, empty cells for missing or NaN values.

    Args:
        history: One dict per epoch.
        columns: The columns to write.

    Returns:
        The CSV text.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None or (isinstance(row.get(k), float) and math.isnan(row[k]))
                             else row.get(k)) for k in columns})
    return buffer.getvalue()
