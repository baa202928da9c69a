"""The ``local`` backend: this machine's cores and GPUs, no dependency beyond the package.

Cells run in this process, or in ``workers`` worker processes (``python -m
seafloorhmc.experiments.worker``) with ``OMP_NUM_THREADS = cores // workers``; on a machine with
several GPUs each worker process gets its own (``CUDA_VISIBLE_DEVICES``, round robin when there are
more workers than GPUs). Tuning trials run one after another in this process.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..utils.atomic import write_text
from .placement import Backend, Executor, cell_paths

__all__ = ["LocalBackend", "cpu_count", "default_workers", "worker_threads", "visible_gpus", "run_in_workers",
           "WorkerProcesses"]

log = logging.getLogger(__name__)


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask on Linux).

    Returns:
        The number of cores.
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(cores: int | None = None) -> int:
    """One worker on ≤ 2 cores; otherwise one per 2 cores, at most 8 (each keeps ≥ 2 threads).

    Args:
        cores: The cores to share (default :func:`cpu_count`).

    Returns:
        The number of workers.
    """
    cores = cpu_count() if cores is None else cores
    return 1 if cores <= 2 else max(1, min(8, cores // 2))


def worker_threads(workers: int, cores: int | None = None, environ: dict | None = None) -> int:
    """Threads per worker process: ``cores // workers``, capped by an ``OMP_NUM_THREADS`` already set.

    The cap lets a busy machine keep a sweep's workers at one thread each (other jobs hold the
    remaining cores; oversubscribed torch threads make small ops many times slower).

    Args:
        workers: Worker processes sharing the cores.
        cores: The cores (default :func:`cpu_count`).
        environ: The environment (default ``os.environ``).

    Returns:
        Threads per worker (at least 1).
    """
    cores = cpu_count() if cores is None else cores
    threads = max(1, cores // max(1, workers))
    preset = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "")
    return min(threads, int(preset)) if preset.strip().isdigit() and int(preset) > 0 else threads


def visible_gpus(environ: Mapping[str, str] | None = None, count: Callable[[], int] | None = None) -> list[str]:
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

    One worker runs the jobs in order in this thread. A job's exception is its result (ok=False),
    the others go on; ``KeyboardInterrupt`` stops everything.

    Args:
        jobs: The jobs.
        run_one: Runs one job, returns its result.
        workers: Jobs at once (threads).
        on_done: ``on_done(index, ok, result)``, called (serialised) as each job ends.

    Returns:
        Job index → (ok, result or exception).
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


class WorkerProcesses:
    """Worker processes for cells, each with its share of threads and its GPU; terminated together.

    Args:
        out: The sweep folder.
        threads: Threads per worker process.
        gpus: GPU ids to hand out (``CUDA_VISIBLE_DEVICES`` entries); empty: none.
        workers: Worker processes at once (GPU slots are handed out round robin over them).
    """

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
        """Train one cell in a worker process (holding a GPU slot, when there are GPUs).

        Args:
            cell: The cell (:class:`~.grid.Cell`).

        Returns:
            Its status, the last word of the worker's log.

        Raises:
            RuntimeError: If the worker process exits with an error.
        """
        config_path, run_dir, log_path = cell_paths(self.out, cell.id)
        write_text(config_path, cell.config.to_yaml())
        log_path.parent.mkdir(parents=True, exist_ok=True)
        gpu = self.gpus.get() if self.gpus is not None else None
        try:
            command = [sys.executable, "-m", "seafloorhmc.experiments.worker", str(config_path), str(run_dir)]
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
            if gpu is not None and self.gpus is not None:  # a GPU slot comes from the queue
                self.gpus.put(gpu)
        if code != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"worker exited with status {code}: {' | '.join(tail)} (full log: {log_path})")
        last = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1]
        return last.rsplit(": ", 1)[-1]

    def terminate(self) -> None:
        """Stop every running worker process (the sweep was interrupted)."""
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
                config_path, run_dir, _ = cell_paths(out, cell.id)
                write_text(config_path, cell.config.to_yaml())
                return run_cell(cell.config, run_dir)

            run_in_workers(cells, runner, workers, on_done=on_done)
            return
        threads = worker_threads(workers)
        gpus = visible_gpus()
        subprocesses = WorkerProcesses(out, threads, gpus, workers)
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
