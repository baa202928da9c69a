"""Run one sweep cell: skip it when finished, resume it when interrupted, restart it when it cannot resume.

Used in the sweep process itself (one worker) and as ``python -m seafloorhmc.experiments.worker
CONFIG RUN_DIR LOCK`` in worker processes, whose thread count the sweep sets through
``OMP_NUM_THREADS`` before the interpreter starts (the only moment it reliably takes effect).

A cell holds an exclusive ``flock`` on its lock file while it runs. A worker orphaned by a killed
sweep therefore finishes (or dies) before a restarted sweep touches the same cell, and two sweeps
on one folder never train a cell twice at once. A worker also exits when its parent sweep dies,
so a killed sweep does not leave training processes behind.
"""

from __future__ import annotations

import contextlib
import fcntl
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

__all__ = ["run_cell", "cell_lock", "CELL_FINISHED", "CELL_TRAINED", "CELL_RESUMED", "CELL_RESTARTED"]

log = logging.getLogger(__name__)

CELL_FINISHED, CELL_TRAINED, CELL_RESUMED, CELL_RESTARTED = "finished", "trained", "resumed", "restarted"


@contextlib.contextmanager
def cell_lock(path: str | Path):
    """Hold an exclusive lock on ``path`` (waiting for another holder); released when the process dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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


def run_cell(config, run_dir: str | Path, lock_path: str | Path) -> str:
    """Bring one cell to ``metrics.json`` and say how: finished (already), trained, resumed or restarted."""
    run_dir = Path(run_dir)
    with cell_lock(lock_path):
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
    """Entry point of a worker process: ``python -m seafloorhmc.experiments.worker CONFIG RUN_DIR LOCK``.

    Args:
        argv: The three arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        log.error("usage: python -m seafloorhmc.experiments.worker CONFIG RUN_DIR LOCK")
        return 2
    _exit_with_parent(os.getppid())
    status = run_cell(load_config(args[0]), args[1], args[2])
    log.info("cell %s: %s", Path(args[1]).name, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
