"""A run's output folder: owned by one process, never overwritten by accident, resumable when unfinished.

:meth:`RunDir.claim` is how every command that writes into a run folder starts: it takes the
folder's :class:`~seafloorhmc.utils.locks.RunLock` (a second process is refused, naming the
holder), then checks what the folder holds (a finished run is kept unless ``overwrite``; an
unfinished one needs ``resume`` or ``overwrite``), and removes temporary files an interrupted
write left behind. The lock is held until the ``with`` block ends.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_path, remove_stale_temporaries, write_text
from ..utils.locks import LOCK_NAME, RunLock

__all__ = ["RunDir", "RunDirError", "LOG_COLUMNS", "SKIPPED_IMAGES", "BAD_IMAGES", "history_csv"]

#: Columns of a run's ``log.csv``, one row per epoch.
LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_au_prc", "val_f1", "val_recall", "lr", "seconds", "skipped")
SKIPPED_IMAGES = "skipped_images.txt"  # images left out of the run (data.skip_bad_images), path<TAB>reason
BAD_IMAGES = "bad_images.txt"  # unreadable images that stopped the run, path<TAB>reason
_RUN_FILES = ("config.yaml", "metrics.json", "checkpoints", "model.safetensors", LOCK_NAME)


class RunDirError(FileExistsError):
    """The output folder holds something this command must not overwrite."""


class RunDir:
    """A run folder: its state (started, finished), its lock, and the small files the trainer keeps current.

    Args:
        path: The folder.
        is_main: Whether this process writes (rank 0 under DDP); other ranks only read.
    """

    def __init__(self, path: str | Path, is_main: bool = True) -> None:
        self.path = Path(path)
        self.is_main = is_main
        self._skipped: dict[str, str] = {}

    @property
    def finished(self) -> bool:
        """Whether the run wrote its ``metrics.json`` (its last file)."""
        return (self.path / "metrics.json").is_file()

    @property
    def started(self) -> bool:
        """Whether the run saved at least one epoch checkpoint."""
        return (self.path / "checkpoints" / "last.json").is_file()

    @property
    def looks_like_run(self) -> bool:
        """Whether the folder holds seafloorhmc run files (as opposed to a user's own files)."""
        return any((self.path / name).exists() for name in _RUN_FILES)

    def _contents(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return [p for p in self.path.iterdir() if p.name != LOCK_NAME]

    @contextmanager
    def claim(self, resume: bool = False, overwrite: bool = False, wait: bool = False) -> Iterator[RunDir]:
        """Own the folder for the ``with`` block: lock it, check it (:meth:`prepare`), clean it.

        Only the main process locks and writes; other ranks get the same folder object.

        Args:
            resume: Continue the unfinished run the folder holds.
            overwrite: Replace whatever the folder holds.
            wait: Wait for another holder of the lock instead of failing (sweep cells).

        Yields:
            This run folder.

        Raises:
            RunLockedError: If another process holds the folder (and ``wait`` is False).
            RunDirError: If the folder holds something this call must not overwrite.
        """
        if not self.is_main:
            yield self
            return
        if not overwrite and self._contents() and not self.looks_like_run:
            raise self._foreign()  # checked before the lock file is created in someone else's folder
        with RunLock(self.path, wait=wait):
            self.prepare(resume=resume, overwrite=overwrite)
            remove_stale_temporaries(self.path, recursive=True, min_age=0.0)
            yield self

    def _foreign(self) -> RunDirError:
        return RunDirError(f"{self.path} is not empty and is not a seafloorhmc run; choose another --out")

    def prepare(self, resume: bool = False, overwrite: bool = False) -> None:
        """Create the folder, or check that what is in it may be used (call it holding the lock).

        finished run: error unless ``overwrite``; unfinished run: error unless ``resume`` or
        ``overwrite``; any other content: error unless ``overwrite``. ``overwrite`` deletes
        everything but the lock file.

        Args:
            resume: Continue the unfinished run the folder holds.
            overwrite: Replace whatever the folder holds.

        Raises:
            RunDirError: If the folder holds something this call must not overwrite.
        """
        if not self.is_main:
            return
        contents = self._contents()
        if contents:
            if overwrite:
                for entry in contents:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
            elif self.finished:
                raise RunDirError(f"{self.path} already holds a finished run (metrics.json); choose another --out "
                                  "or pass --overwrite to replace it")
            elif self.started and not resume:
                raise RunDirError(f"{self.path} holds an unfinished run; pass --resume to continue it or "
                                  "--overwrite to start again")
            elif not self.started and not resume and not (self.path / "config.yaml").exists():
                raise self._foreign()
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def skipped(self) -> Mapping[str, str]:
        """Images left out of this run so far: path → reason."""
        return self._skipped

    def note_skipped(self, items: Iterable[tuple[str, str]]) -> list[str]:
        """Remember images left out of the run and keep ``skipped_images.txt`` current.

        Args:
            items: (path, reason) pairs; paths already noted are ignored.

        Returns:
            The paths that were new (report those once; the others were reported before).
        """
        new = []
        for path, reason in items:
            if path not in self._skipped:
                self._skipped[path] = reason
                new.append(path)
        if new and self.is_main:
            write_text(self.path / SKIPPED_IMAGES, "".join(f"{p}\t{r}\n" for p, r in self._skipped.items()))
        return new

    def write_bad_images(self, bad: Mapping[str, str]) -> Path:
        """List the unreadable images that stopped the run (``bad_images.txt``).

        Args:
            bad: Path → reason.

        Returns:
            The file written.
        """
        return write_text(self.path / BAD_IMAGES, "".join(f"{p}\t{r}\n" for p, r in bad.items()))

    def write_log(self, history: list[dict], columns: Sequence[str] = LOG_COLUMNS) -> None:
        """Rewrite ``log.csv`` from the epoch history.

        Args:
            history: One dict per epoch.
            columns: The columns to write.
        """
        write_text(self.path / "log.csv", history_csv(history, columns))

    def write_predictions(self, predictions: dict, taxonomy) -> Path:
        """Test-set probabilities, targets and masks (for plots and later analysis).

        Args:
            predictions: Arrays by name (``probs``, ``targets``, ``known``, ``index``, ...).
            taxonomy: The run's taxonomy (its node ids are stored as ``nodes``).

        Returns:
            The ``test_predictions.npz`` written.
        """
        target = self.path / "test_predictions.npz"
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                # numpy's stub types **kwds like its allow_pickle flag
                np.savez_compressed(handle, nodes=np.array(taxonomy.nodes),
                                    **{k: np.asarray(v) for k, v in predictions.items()})  # type: ignore[arg-type]
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
