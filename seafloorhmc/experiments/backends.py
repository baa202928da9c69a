"""Where sweep cells and tuning trials run: the backend registry (``local``, ``ray``).

A backend does two things: run a sweep's unfinished cells (:meth:`Backend.run_cells`, calling
``on_done`` as each ends) and give the tuner an :class:`Executor` (submit a job, wait for the next
one to end). Both backends run the same cell code (:func:`.worker.run_cell`: skip a finished cell,
resume an interrupted one from its last checkpoint), so a sweep folder may be started on one and
finished on the other.

* ``local`` (the default, no extra dependency): cells in this process, or in ``workers`` worker
  processes (``python -m seafloorhmc.experiments.worker``) with ``OMP_NUM_THREADS = cores //
  workers``; on a machine with several GPUs each worker process gets its own
  (``CUDA_VISIBLE_DEVICES``, round robin when there are more workers than GPUs). Trials run one
  after another in this process.
* ``ray`` (``pip install "seafloorhmc[ray]"``, :mod:`.ray_backend`): every cell or trial a Ray task
  with declared CPUs and GPUs, retried when its worker dies; on one multi-GPU machine each task gets
  its own GPU, on a cluster the tasks spread over the nodes. Run folders must be on a file system
  every node sees.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..registry import Registry
from ..utils.atomic import write_json, write_text

__all__ = ["BackendOptions", "Backend", "Executor", "LocalBackend", "BACKENDS", "cpu_count", "default_workers",
           "worker_threads", "visible_gpus", "run_in_workers", "run_cell_job", "cell_paths"]

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


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(cores: int | None = None) -> int:
    """One worker on ≤ 2 cores; otherwise one per 2 cores, at most 8 (each keeps ≥ 2 threads)."""
    cores = cpu_count() if cores is None else cores
    return 1 if cores <= 2 else max(1, min(8, cores // 2))


def worker_threads(workers: int, cores: int | None = None, environ: dict | None = None) -> int:
    """Threads per worker process: ``cores // workers``, capped by an ``OMP_NUM_THREADS`` already set.

    The cap lets a busy machine keep a sweep's workers at one thread each (other jobs hold the
    remaining cores; oversubscribed torch threads make small ops many times slower).
    """
    cores = cpu_count() if cores is None else cores
    threads = max(1, cores // max(1, workers))
    preset = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "")
    return min(threads, int(preset)) if preset.strip().isdigit() and int(preset) > 0 else threads


def visible_gpus(environ: dict | None = None, count: Callable[[], int] | None = None) -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries.

    Args:
        environ: The environment (default ``os.environ``): a set ``CUDA_VISIBLE_DEVICES`` is the list.
        count: Counts the GPUs when it is not set (default ``torch.cuda.device_count``).

    Returns:
        Device ids (``["0", "1"]``, or UUIDs as given); empty without GPUs.
    """
    environ = os.environ if environ is None else environ
    given = environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [d.strip() for d in given.split(",") if d.strip() and d.strip() != "-1"]
    if count is None:
        import torch

        count = torch.cuda.device_count
    return [str(i) for i in range(count())]


def run_in_workers(jobs: Sequence, run_one: Callable, workers: int, on_done: Callable | None = None) -> dict:
    """Call ``run_one(job)`` for every job, ``workers`` at a time; ``{job index: (ok, result)}``.

    ``on_done(index, ok, result)`` is called (serialised) as each job ends. One worker runs the jobs
    in order in this thread. A job's exception is its result (ok=False), the others go on;
    ``KeyboardInterrupt`` stops everything.
    """
    outcomes: dict[int, tuple[bool, object]] = {}
    lock = threading.Lock()

    def one(index_job):
        index, job = index_job
        try:
            outcome = (True, run_one(job))
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - reported per cell, the sweep goes on
            outcome = (False, err)
        with lock:
            outcomes[index] = outcome
            if on_done is not None:
                on_done(index, *outcome)
        return outcome

    if workers <= 1:
        for item in enumerate(jobs):
            one(item)
        return outcomes
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one, item) for item in enumerate(jobs)]:
            future.result()
    return outcomes


def cell_paths(out: Path, cell_id: str) -> tuple[Path, Path, Path, Path]:
    """Where a sweep cell's files are.

    Args:
        out: The sweep folder.
        cell_id: The cell's id.

    Returns:
        (config YAML, run folder, lock file, log file).
    """
    return (out / "configs" / f"{cell_id}.yaml", out / "runs" / cell_id, out / ".locks" / f"{cell_id}.lock",
            out / "logs" / f"{cell_id}.log")


def run_cell_job(config_yaml: str, run_dir: str, lock_path: str, log_path: str, threads: int | None = None) -> str:
    """Run one sweep cell in this (worker) process and say how: the body of a Ray cell task.

    Writes ``<log>.where.json`` (host, pid) first, so an operator sees where each cell runs, and
    appends the cell's log records to ``log_path``.

    Args:
        config_yaml: The cell's resolved config as YAML text.
        run_dir: The cell's run folder.
        lock_path: Its lock file (held while it trains).
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
        status = run_cell(config, run_dir, lock_path)
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
        """
        raise NotImplementedError

    def wait(self, handles: Sequence) -> tuple[object, bool, object]:
        """Block until one of ``handles`` ends.

        Args:
            handles: Handles of jobs in flight.

        Returns:
            (handle, ok, result or the exception it raised).
        """
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        return None


class _InProcess(Executor):
    """One job at a time, run in this process when it is waited for."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[Callable, tuple]] = {}
        self.counter = 0

    def submit(self, fn: Callable, *args) -> object:
        self.counter += 1
        self.pending[self.counter] = (fn, args)
        return self.counter

    def wait(self, handles: Sequence) -> tuple[object, bool, object]:
        handle = handles[0]
        fn, args = self.pending.pop(handle)
        try:
            return handle, True, fn(*args)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - the caller reports it per job
            return handle, False, err


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
        """
        raise NotImplementedError

    def executor(self) -> Executor:
        """An executor for tuning trials (a context manager).

        Returns:
            The executor.
        """
        raise NotImplementedError


#: Backend name → factory ``(options) -> Backend``.
BACKENDS: Registry[Callable[..., Backend]] = Registry("backend")


class _Subprocesses:
    """Worker processes for cells, each with its share of threads and its GPU; terminated together."""

    def __init__(self, out: Path, threads: int, gpus: Sequence[str] = (), workers: int = 1) -> None:
        self.out, self.threads = out, threads
        self.running: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.gpus: queue.Queue | None = None
        if gpus:
            self.gpus = queue.Queue()
            for slot in range(max(workers, len(gpus))):  # round robin: worker k gets GPU k mod G
                self.gpus.put(gpus[slot % len(gpus)])

    def environment(self, gpu: str | None) -> dict:
        """The worker's environment: its thread count and, on a multi-GPU machine, its GPU.

        Args:
            gpu: The ``CUDA_VISIBLE_DEVICES`` entry to give it, or None.

        Returns:
            The environment mapping.
        """
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        return env

    def __call__(self, cell) -> str:
        config_path, run_dir, lock_path, log_path = cell_paths(self.out, cell.id)
        write_text(config_path, cell.config.to_yaml())
        log_path.parent.mkdir(parents=True, exist_ok=True)
        gpu = self.gpus.get() if self.gpus is not None else None
        try:
            command = [sys.executable, "-m", "seafloorhmc.experiments.worker", str(config_path), str(run_dir),
                       str(lock_path)]
            with open(log_path, "ab") as log_handle:
                process = subprocess.Popen(command, stdout=log_handle, stderr=subprocess.STDOUT,
                                           env=self.environment(gpu))
                with self.lock:
                    self.running.add(process)
                try:
                    code = process.wait()
                finally:
                    with self.lock:
                        self.running.discard(process)
        finally:
            if gpu is not None:
                self.gpus.put(gpu)
        if code != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"worker exited with status {code}: {' | '.join(tail)} (full log: {log_path})")
        last = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1]
        return last.rsplit(": ", 1)[-1]

    def terminate(self) -> None:
        with self.lock:
            for process in self.running:
                process.terminate()


class LocalBackend(Backend):
    """This machine: cells in this process or in worker processes (one GPU each), trials in this process."""

    name = "local"

    def run_cells(self, cells: Sequence, out: Path, on_done: Callable[[int, bool, object], None]) -> None:
        """Run the cells here (see :class:`Backend`).

        Args:
            cells: The unfinished cells.
            out: The sweep folder.
            on_done: Called as each cell ends.
        """
        from .worker import run_cell  # torch: only when cells train in this process

        workers = default_workers() if self.options.workers is None else int(self.options.workers)
        processes = workers > 1 if self.options.processes is None else self.options.processes
        if not processes:
            def runner(cell) -> str:
                config_path, run_dir, lock_path, _ = cell_paths(out, cell.id)
                write_text(config_path, cell.config.to_yaml())
                return run_cell(cell.config, run_dir, lock_path)

            run_in_workers(cells, runner, workers, on_done=on_done)
            return
        threads = worker_threads(workers)
        gpus = visible_gpus()
        subprocesses = _Subprocesses(out, threads, gpus, workers)
        log.info("%d worker process(es), OMP_NUM_THREADS=%d each%s", workers, threads,
                 f", GPUs {', '.join(gpus)} shared round robin" if gpus else "")
        try:
            run_in_workers(cells, subprocesses, workers, on_done=on_done)
        except KeyboardInterrupt:
            subprocesses.terminate()
            raise

    def executor(self) -> Executor:
        """Trials one after another in this process.

        Returns:
            The executor.
        """
        return _InProcess()


BACKENDS.register("local", LocalBackend)


def _ray(options: BackendOptions | None = None) -> Backend:
    """The Ray backend, imported (with Ray) only when it is used."""
    from .ray_backend import RayBackend

    return RayBackend(options)


BACKENDS.register("ray", _ray)
