"""What every backend shares: placement options, the executor and backend interfaces, a cell's files.

The backends themselves: :mod:`.local_backend` (this machine) and :mod:`.ray_backend` (Ray tasks),
registered by name in :mod:`.backends`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..utils.atomic import write_json

__all__ = ["BackendOptions", "Executor", "Backend", "cell_paths", "run_cell_job"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendOptions:
    """How cells or trials are placed.

    Args:
        workers: Cells (trials) at once. Local: worker processes (default :func:`default_workers`);
            Ray: a cap on tasks in flight (default: as many as the cluster's resources hold).
        processes: Local: run cells in worker processes even with one worker.
        address: Ray: ``auto`` (the cluster ``ray start`` made on this node), ``HOST:PORT`` or
            ``ray://HOST:PORT``; None starts a Ray instance on this machine for the call.
        cpus: Ray: CPUs per cell (default 1).
        gpus: Ray: GPUs per cell (default: 1 when the cluster has GPUs, else 0).
        retries: Ray: how often a cell whose worker process died is run again (it resumes).
    """

    workers: int | None = None
    processes: bool | None = None
    address: str | None = None
    cpus: float | None = None
    gpus: float | None = None
    retries: int = 3


def cell_paths(out: Path, cell_id: str) -> tuple[Path, Path, Path]:
    """Where a sweep cell's files are.

    Args:
        out: The sweep folder.
        cell_id: The cell's id.

    Returns:
        (config YAML, run folder, log file). The run folder's own lock keeps a cell to one process.
    """
    return out / "configs" / f"{cell_id}.yaml", out / "runs" / cell_id, out / "logs" / f"{cell_id}.log"


def run_cell_job(config_yaml: str, run_dir: str, log_path: str, threads: int | None = None) -> str:
    """Run one sweep cell in this (worker) process and say how: the body of a Ray cell task.

    Writes ``<log>.where.json`` (host, pid) first, so an operator sees where each cell runs, and
    appends the cell's log records to ``log_path``.

    Args:
        config_yaml: The cell's resolved config as YAML text.
        run_dir: The cell's run folder.
        log_path: Its log file.
        threads: Torch threads (the task's CPUs), or None to keep the process's.

    Returns:
        The cell status (:data:`.worker.CELL_TRAINED`, ``resumed``, ...).
    """
    import socket

    import yaml

    from ..config import config_from_dict
    from .worker import run_cell

    log_file = Path(log_path)
    write_json(log_file.with_suffix(".where.json"), {"host": socket.gethostname(), "pid": os.getpid()})
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    package = logging.getLogger("seafloorhmc")
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        config = config_from_dict(yaml.safe_load(config_yaml))
        status = run_cell(config, run_dir)
        log.info("cell %s: %s", Path(run_dir).name, status)
        return status
    finally:
        package.removeHandler(handler)
        handler.close()


class Executor:
    """Runs jobs (a module-level function and its arguments) and hands back each as it ends.

    ``capacity`` jobs may be in flight; ``threads`` is what a job should give torch (None: keep).
    """

    capacity: int = 1
    threads: int | None = None

    def submit(self, fn: Callable, *args) -> object:
        """Start ``fn(*args)``.

        Args:
            fn: A module-level function (a Ray task pickles it by name).
            *args: Its arguments.

        Returns:
            A handle for :meth:`wait`.

        Raises:
            NotImplementedError: In this base class.
        """
        raise NotImplementedError

    def wait(self, handles: Sequence) -> tuple[object, bool, object]:
        """Block until one of ``handles`` ends.

        Args:
            handles: Handles of jobs in flight.

        Returns:
            (handle, ok, result or the exception it raised).

        Raises:
            NotImplementedError: In this base class.
        """
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        return None


class Backend:
    """Where cells and trials run; registered in :data:`BACKENDS` under its name.

    Args:
        options: Placement settings.
    """

    name = "backend"

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()

    def run_cells(self, cells: Sequence, out: Path, on_done: Callable[[int, bool, object], None]) -> None:
        """Bring every cell to ``metrics.json``; ``on_done(index, ok, status or error)`` as each ends.

        Args:
            cells: The unfinished cells (:class:`~.grid.Cell`).
            out: The sweep folder.
            on_done: Called once per cell, serialised.

        Raises:
            NotImplementedError: In this base class.
        """
        raise NotImplementedError

    def executor(self) -> Executor:
        """An executor for tuning trials (a context manager).

        Returns:
            The executor.

        Raises:
            NotImplementedError: In this base class.
        """
        raise NotImplementedError
