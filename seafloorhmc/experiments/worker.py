"""Run one sweep cell: skip it when finished, resume it when interrupted, restart it when it cannot resume.

Used in the sweep process itself (one worker) and as ``python -m seafloorhmc.experiments.worker
CONFIG RUN_DIR`` in worker processes, whose thread count the sweep sets through
``OMP_NUM_THREADS`` before the interpreter starts (the only moment it reliably takes effect).

A cell holds its run folder's lock (:class:`~seafloorhmc.utils.locks.RunLock`, the one every
training holds) from the moment it looks at the folder until its training ends, *waiting* for
another holder rather than failing. A worker orphaned by a killed sweep therefore finishes (or
dies) before a restarted sweep touches the same cell, two sweeps on one folder never train a cell
twice at once, and neither does a ``seafloorhmc train --resume`` started by hand on a cell's folder.
A worker also exits when its parent sweep dies, so a killed sweep does not leave training
processes behind.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from ..config import config_changes, load_config
from ..models.persistence import CheckpointError
from ..training import train
from ..training.checkpoints import CheckpointStore
from ..utils.locks import RunLock

__all__ = ["run_cell", "cell_lock", "CELL_FINISHED", "CELL_TRAINED", "CELL_RESUMED", "CELL_RESTARTED"]

log = logging.getLogger(__name__)

CELL_FINISHED, CELL_TRAINED, CELL_RESUMED, CELL_RESTARTED = "finished", "trained", "resumed", "restarted"


def cell_lock(run_dir: str | Path) -> RunLock:
    """The lock a cell holds on its run folder: the run lock, waiting for another holder.

    Args:
        run_dir: The cell's run folder.

    Returns:
        A :class:`~seafloorhmc.utils.locks.RunLock` to use in a ``with`` block (released when the
        process dies, however it dies).
    """
    return RunLock(run_dir, wait=True)


def _resumable(config, run_dir: Path) -> bool:
    """Whether the cell's last checkpoint can continue with ``config`` (same settings, readable state)."""
    store = CheckpointStore(run_dir / "checkpoints")
    try:
        last = store.last()
        if last is None:
            return True  # nothing saved yet: train(resume=True) starts from scratch in place
        state = store.load_state(last)
    except (CheckpointError, OSError, ValueError, RuntimeError):
        return False
    return not config_changes(state.get("config", {}), config)


def run_cell(config, run_dir: str | Path) -> str:
    """Bring one cell to ``metrics.json`` and say how.

    Args:
        config: The cell's configuration.
        run_dir: The cell's run folder.

    Returns:
        ``finished`` (already), ``trained``, ``resumed`` or ``restarted`` (an interrupted cell
        whose checkpoint cannot continue).
    """
    run_dir = Path(run_dir)
    with cell_lock(run_dir):
        if (run_dir / "metrics.json").is_file():
            return CELL_FINISHED
        has_checkpoint = (run_dir / "checkpoints" / "last.json").is_file()
        if _resumable(config, run_dir):
            train(config, run_dir, resume=True)
            return CELL_RESUMED if has_checkpoint else CELL_TRAINED
        train(config, run_dir, overwrite=True)  # an interrupted cell whose checkpoint cannot continue
        return CELL_RESTARTED


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Daemon thread: end this worker when the sweep that started it is gone."""
    def watch():
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process: ``python -m seafloorhmc.experiments.worker CONFIG RUN_DIR``.

    Args:
        argv: The two arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        log.error("usage: python -m seafloorhmc.experiments.worker CONFIG RUN_DIR")
        return 2
    _exit_with_parent(os.getppid())
    status = run_cell(load_config(args[0]), args[1])
    log.info("cell %s: %s", Path(args[1]).name, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
