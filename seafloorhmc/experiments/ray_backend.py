"""The ``ray`` backend: every sweep cell (or tuning trial) a Ray task with declared CPUs and GPUs.

Ray places the tasks: on one machine with eight GPUs eight cells run at once, one GPU each (Ray
sets each task's ``CUDA_VISIBLE_DEVICES``); on a cluster started with ``ray start`` (SLURM,
Kubernetes) the same command spreads the cells over the nodes. A task whose worker process dies
(killed, out of memory, node lost) is run again, up to ``retries`` times, and the cell resumes from
its last epoch checkpoint, because the task body is the same :func:`.worker.run_cell` the local
backend runs. Run folders must therefore be on a file system every node sees.

Ray is an optional dependency (``pip install "seafloorhmc[ray]"``), imported here only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import require_extra
from ..utils.atomic import write_text
from .placement import Backend, BackendOptions, Executor, cell_paths, run_cell_job

__all__ = ["RayBackend", "RayExecutor", "require_ray"]

log = logging.getLogger(__name__)


def require_ray():
    """Import Ray, or say which extra installs it.

    Returns:
        The ``ray`` module.

    Raises:
        MissingExtraError: If Ray is not installed.
    """
    return require_extra("ray", "ray", "the ray backend")


def _call(fn: Callable, *args):
    """The Ray task body: call a module-level function (pickled by name) with its arguments."""
    return fn(*args)


class RayExecutor(Executor):
    """Jobs as Ray tasks; connects to (or starts) Ray on entry and lets go of it on exit.

    Args:
        options: Address, CPUs and GPUs per task, retries, and an optional cap on tasks in flight.
    """

    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        self.ray = require_ray()
        self.started = False
        self.task: Any = None  # a Ray remote function once started

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"address": self.options.address} if self.options.address else {}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
            self.started = True
        resources = ray.cluster_resources()
        cpus = 1.0 if self.options.cpus is None else float(self.options.cpus)
        gpus = self.options.gpus
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        slots = int(resources.get("CPU", 1) // cpus) if cpus > 0 else 10**6
        if gpus > 0:
            slots = min(slots, int(resources.get("GPU", 0) // gpus))
        if slots < 1:
            raise RuntimeError(f"the Ray cluster ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs) "
                               f"cannot hold one task of {cpus:g} CPUs and {gpus:g} GPUs; lower --cpus/--gpus")
        self.capacity = min(slots, self.options.workers) if self.options.workers else slots
        self.threads = max(1, int(cpus))
        self.task = ray.remote(_call).options(num_cpus=cpus, num_gpus=gpus, max_retries=self.options.retries,
                                              retry_exceptions=False)
        log.info("Ray: %g CPUs, %g GPUs in the cluster; %g CPU(s) and %g GPU(s) per task, up to %d at once",
                 resources.get("CPU", 0), resources.get("GPU", 0), cpus, gpus, self.capacity)
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            self.ray.shutdown()

    def submit(self, fn: Callable, *args) -> object:
        """Start ``fn(*args)`` as a Ray task.

        Args:
            fn: A module-level function.
            *args: Its arguments.

        Returns:
            The task's object reference.
        """
        return self.task.remote(fn, *args)

    def wait(self, handles: Sequence) -> tuple[object, bool, object]:
        """The next task to end.

        Args:
            handles: References of tasks in flight.

        Returns:
            (reference, ok, result or the error).
        """
        ready, _ = self.ray.wait(list(handles), num_returns=1)
        ref = ready[0]
        try:
            return ref, True, self.ray.get(ref)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - a task's error (after its retries) is that job's result
            cause = getattr(err, "cause", None)
            return ref, False, cause if isinstance(cause, Exception) else err


class RayBackend(Backend):
    """Cells and trials as Ray tasks (see the module docstring).

    Args:
        options: Address, CPUs and GPUs per task, retries.
    """

    name = "ray"

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        require_ray()

    def executor(self) -> Executor:
        """A Ray executor (connects on entry).

        Returns:
            The executor.
        """
        return RayExecutor(self.options)

    def run_cells(self, cells: Sequence, out: Path, on_done: Callable[[int, bool, object], None]) -> None:
        """Submit every cell as a Ray task (Ray queues what the cluster cannot hold yet).

        Args:
            cells: The unfinished cells.
            out: The sweep folder (on a shared file system).
            on_done: Called as each cell ends.
        """
        out = Path(out).resolve()
        with self.executor() as executor:
            cap = self.options.workers or len(cells)
            queue = list(enumerate(cells))
            in_flight: dict = {}
            started = time.perf_counter()
            while queue or in_flight:
                while queue and len(in_flight) < cap:
                    index, cell = queue.pop(0)
                    config_path, run_dir, log_path = cell_paths(out, cell.id)
                    write_text(config_path, cell.config.to_yaml())
                    handle = executor.submit(run_cell_job, cell.config.to_yaml(), str(run_dir), str(log_path),
                                             executor.threads)
                    in_flight[handle] = index
                handle, ok, outcome = executor.wait(list(in_flight))
                on_done(in_flight.pop(handle), ok, outcome)
            log.debug("ray: %d cells in %.0f s", len(cells), time.perf_counter() - started)
