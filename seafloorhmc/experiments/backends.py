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

from collections.abc import Callable

from ..registry import Registry
from .local_backend import (
    LocalBackend,
    cpu_count,
    default_workers,
    run_in_workers,
    visible_gpus,
    worker_threads,
)
from .placement import Backend, BackendOptions, Executor, cell_paths, run_cell_job

__all__ = ["BackendOptions", "Backend", "Executor", "LocalBackend", "BACKENDS", "cpu_count", "default_workers",
           "worker_threads", "visible_gpus", "run_in_workers", "run_cell_job", "cell_paths"]

#: Backend name → factory ``(options) -> Backend``.
BACKENDS: Registry[Callable[..., Backend]] = Registry("backend")


BACKENDS.register("local", LocalBackend)


def _ray(options: BackendOptions | None = None) -> Backend:
    """The Ray backend, imported (with Ray) only when it is used."""
    from .ray_backend import RayBackend

    return RayBackend(options)


BACKENDS.register("ray", _ray)
