"""Run a sweep: every cell a normal training run, resumable, optionally in parallel worker processes.

Folder layout (``OUT``)::

    sweep.yaml         the resolved spec (after command-line changes), for the record
    cells.csv          the plan: index, cell id, axis values
    runs/<cell>/       one normal run folder per cell (metrics.json, log.csv, checkpoints, ...)
    configs/<cell>.yaml  the cell's resolved config (what a worker process trains)
    logs/<cell>.log    a worker process's output (each cell locks its run folder while it runs, see :mod:`.worker`)
    results.csv        the tidy table (:mod:`.results`), rewritten after every cell
    summary.md, plots/ statistics and figures (:mod:`.statistics`)

A cell is finished iff ``runs/<cell>/metrics.json`` exists (the engine writes it last, atomically).
A finished cell whose saved configuration differs from the plan is an error, never silently
reused; an unfinished one resumes from its last epoch checkpoint (or restarts when that
checkpoint cannot continue). Where cells run is the backend's business (:mod:`.backends`): with
the local backend and one worker the cells run in this process; with more, each
cell is a ``python -m seafloorhmc.experiments.worker`` process with ``OMP_NUM_THREADS = cores //
workers`` (several torch processes with all cores each are pathologically slow on small machines),
or fewer when ``OMP_NUM_THREADS`` is already set lower in the sweep's environment, and its own GPU
when there are several. With ``--backend ray`` every cell is a Ray task (:mod:`.ray_backend`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..config import config_changes
from ..utils.atomic import write_text
from ..utils.tables import write_table
from .backends import BACKENDS, BackendOptions, cpu_count, default_workers, run_in_workers, worker_threads
from .grid import Cell, SweepSpec, format_value
from .results import collect_rows
from .summary import write_sweep_summary

log = logging.getLogger(__name__)

__all__ = ["SweepError", "SweepResult", "run_sweep", "default_workers", "cpu_count", "check_finished_cells",
           "run_in_workers", "worker_threads"]


class SweepError(RuntimeError):
    """A sweep that cannot go on as asked; the message names the cell and what to do."""


@dataclass
class SweepResult:
    """What a sweep call left: the table, and which cells finished or failed (with their status or error)."""

    out: Path
    table: Path
    cells: int
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # cell id → error text
    statuses: dict[str, str] = field(default_factory=dict)
    summary: Path | None = None


def _cells_csv(cells: Sequence[Cell]) -> str:
    columns = list(dict.fromkeys(k for c in cells for k in c.values))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "cell", *columns])
    for c in cells:
        writer.writerow([c.index, c.id, *(format_value(c.values[k]) if k in c.values else "" for k in columns)])
    return buffer.getvalue()


def check_finished_cells(cells: Sequence[Cell], runs: Path) -> None:
    """Refuse finished cells that were trained with another configuration than the plan's.

    Args:
        cells: The planned cells.
        runs: The folder holding one run folder per cell id.

    Raises:
        SweepError: A finished cell's ``metrics.json`` is unreadable or its config differs (names the keys).
    """
    for cell in cells:
        path = runs / cell.id / "metrics.json"
        if not path.is_file():
            continue
        try:
            saved = json.loads(path.read_text(encoding="utf-8")).get("config", {})
        except json.JSONDecodeError as err:
            raise SweepError(f"cell {cell.id}: {path} is not valid JSON ({err}); "
                             f"delete {path.parent} to rerun it") from None
        diff = config_changes(saved, cell.config)
        if diff:
            shown = ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")
            raise SweepError(f"cell {cell.id} in {path.parent} was finished with a different configuration "
                             f"({shown}); use another --out for the changed sweep, or delete that cell's folder "
                             "to run it again")


def run_sweep(spec: SweepSpec, cells: Sequence[Cell], out: str | Path, workers: int | None = None,
              processes: bool | None = None, stats: bool = True, command: str | None = None,
              backend: str = "local", options: BackendOptions | None = None) -> SweepResult:
    """Run every unfinished cell of ``cells`` into ``out`` and write the results table (and statistics).

    Args:
        spec: The sweep (its ``resources`` are the Ray backend's CPUs and GPUs per cell unless
            ``options`` sets them).
        cells: The cells to bring to ``metrics.json`` (:func:`~.grid.expand`).
        out: The sweep folder.
        workers: Cells at a time (local default :func:`default_workers`; Ray: what the cluster holds).
        processes: Local: run cells in worker processes (default: only when ``workers > 1``).
        stats: Also write ``summary.md`` and the figures.
        command: The command line that regenerates the statistics, quoted in ``summary.md``.
        backend: ``local`` or ``ray`` (:data:`~.backends.BACKENDS`).
        options: Further placement settings (Ray address, CPUs/GPUs per cell, retries).

    Returns:
        The table's path and which cells finished or failed.

    Raises:
        SweepError: If ``workers`` < 1 or a finished cell has another configuration than the plan.
    """
    out = Path(out)
    runs = out / "runs"
    if workers is not None and int(workers) < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    resources = spec.resources or {}
    options = options or BackendOptions()
    options = replace(options, workers=workers if workers is not None else options.workers,
                      processes=processes if processes is not None else options.processes,
                      cpus=options.cpus if options.cpus is not None else resources.get("cpus"),
                      gpus=options.gpus if options.gpus is not None else resources.get("gpus"))
    runner = BACKENDS.get(backend)(options)
    check_finished_cells(cells, runs)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "sweep.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True))
    write_text(out / "cells.csv", _cells_csv(cells))
    result = SweepResult(out=out, table=out / "results.csv", cells=len(cells))
    todo = [c for c in cells if not (runs / c.id / "metrics.json").is_file()]
    result.finished = [c.id for c in cells if c.id not in {t.id for t in todo}]
    if result.finished:
        log.info(f"{len(result.finished)} of {len(cells)} cells already finished; {len(todo)} to run")
    started = time.perf_counter()

    def done(index: int, ok: bool, outcome) -> None:
        cell = todo[index]
        if ok:
            result.finished.append(cell.id)
            result.statuses[cell.id] = str(outcome)
            write_table(collect_rows(cells, runs), result.table)
        else:
            result.failed[cell.id] = f"{type(outcome).__name__}: {outcome}"
        n = len(result.finished) + len(result.failed)
        state = result.statuses.get(cell.id) if ok else f"FAILED ({result.failed[cell.id]})"
        log.info(f"[{n}/{len(cells)}] {cell.id}: {state}  ({time.perf_counter() - started:.0f} s)")

    if todo:
        runner.run_cells(todo, out, done)
    rows = collect_rows(cells, runs)
    write_table(rows, result.table)
    if stats and rows:
        result.summary = write_sweep_summary(rows, out, spec, command=command)
    return result
