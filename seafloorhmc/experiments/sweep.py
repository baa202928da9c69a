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
checkpoint cannot continue). With one worker the cells run in this process; with more, each
cell is a ``python -m seafloorhmc.experiments.worker`` process with ``OMP_NUM_THREADS = cores //
workers`` (several torch processes with all cores each are pathologically slow on small machines),
or fewer when ``OMP_NUM_THREADS`` is already set lower in the sweep's environment.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config import config_changes
from ..utils.atomic import write_text
from ..utils.tables import write_table
from .grid import Cell, SweepSpec, format_value
from .results import collect_rows
from .summary import write_sweep_summary
from .worker import run_cell

log = logging.getLogger(__name__)

__all__ = ["SweepError", "SweepResult", "run_sweep", "default_workers", "cpu_count", "check_finished_cells",
           "run_in_workers", "worker_threads"]


class SweepError(RuntimeError):
    """A sweep that cannot go on as asked; the message names the cell and what to do."""

@dataclass
class SweepResult:
    out: Path
    table: Path
    cells: int
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # cell id → error text
    statuses: dict[str, str] = field(default_factory=dict)
    summary: Path | None = None


def cpu_count() -> int:
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


def _cells_csv(cells: Sequence[Cell]) -> str:
    columns = list(dict.fromkeys(k for c in cells for k in c.values))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "cell", *columns])
    for c in cells:
        writer.writerow([c.index, c.id, *(format_value(c.values[k]) if k in c.values else "" for k in columns)])
    return buffer.getvalue()


def check_finished_cells(cells: Sequence[Cell], runs: Path) -> None:
    """Refuse finished cells that were trained with another configuration than the plan's."""
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


class _Subprocesses:
    """Worker processes for cells; terminated together when the sweep is interrupted."""
    def __init__(self, out: Path, threads: int) -> None:
        self.out, self.threads = out, threads
        self.running: set[subprocess.Popen] = set()
        self.lock = threading.Lock()

    def __call__(self, cell: Cell) -> str:
        config_path = self.out / "configs" / f"{cell.id}.yaml"
        write_text(config_path, cell.config.to_yaml())
        log_path = self.out / "logs" / f"{cell.id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        command = [sys.executable, "-m", "seafloorhmc.experiments.worker", str(config_path),
                   str(self.out / "runs" / cell.id)]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            with self.lock:
                self.running.add(process)
            try:
                code = process.wait()
            finally:
                with self.lock:
                    self.running.discard(process)
        if code != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise SweepError(f"worker exited with status {code}: {' | '.join(tail)} (full log: {log_path})")
        last = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1]
        return last.rsplit(": ", 1)[-1]

    def terminate(self) -> None:
        with self.lock:
            for process in self.running:
                process.terminate()


def _in_process(out: Path) -> Callable[[Cell], str]:

    def run(cell: Cell) -> str:
        write_text(out / "configs" / f"{cell.id}.yaml", cell.config.to_yaml())
        return run_cell(cell.config, out / "runs" / cell.id)

    return run


def run_sweep(spec: SweepSpec, cells: Sequence[Cell], out: str | Path, workers: int | None = None,
              processes: bool | None = None, stats: bool = True, command: str | None = None) -> SweepResult:
    """Run every unfinished cell of ``cells`` into ``out`` and write the results table (and statistics).

    ``workers``: cells at a time (default :func:`default_workers`). ``processes``: run cells in
    worker processes (default: only when ``workers > 1``). ``command`` is the command line that
    regenerates the statistics, quoted in ``summary.md``.
    """
    out = Path(out)
    runs = out / "runs"
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    processes = workers > 1 if processes is None else processes
    check_finished_cells(cells, runs)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "sweep.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True))
    write_text(out / "cells.csv", _cells_csv(cells))
    result = SweepResult(out=out, table=out / "results.csv", cells=len(cells))
    todo = [c for c in cells if not (runs / c.id / "metrics.json").is_file()]
    result.finished = [c.id for c in cells if c.id not in {t.id for t in todo}]
    if result.finished:
        log.info(f"{len(result.finished)} of {len(cells)} cells already finished; {len(todo)} to run")
    threads = worker_threads(workers)
    runner = _Subprocesses(out, threads) if processes else _in_process(out)
    if processes:
        log.info(f"{workers} worker process(es), OMP_NUM_THREADS={threads} each")
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

    try:
        run_in_workers(todo, runner, workers, on_done=done)
    except KeyboardInterrupt:
        if isinstance(runner, _Subprocesses):
            runner.terminate()
        raise
    rows = collect_rows(cells, runs)
    write_table(rows, result.table)
    if stats and rows:

        result.summary = write_sweep_summary(rows, out, spec, command=command)
    return result
