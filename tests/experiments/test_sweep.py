import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from seafloorhmc.cli import main
from seafloorhmc.experiments import SweepError, expand, load_sweep, restrict, run_sweep, sweep_from_dict
from seafloorhmc.experiments.results import timing_columns
from seafloorhmc.experiments.sweep import default_workers, run_in_workers, worker_threads
from seafloorhmc.training import train
from seafloorhmc.utils.tables import read_table


def test_default_workers_leave_small_machines_alone():
    assert default_workers(1) == 1 and default_workers(2) == 1
    assert default_workers(8) == 4 and default_workers(64) == 8


def test_worker_threads_split_the_cores_and_respect_a_lower_preset():
    assert worker_threads(2, cores=2, environ={}) == 1 and worker_threads(1, cores=8, environ={}) == 8
    assert worker_threads(1, cores=2, environ={"OMP_NUM_THREADS": "1"}) == 1  # a busy machine's cap wins
    assert worker_threads(2, cores=8, environ={"OMP_NUM_THREADS": "16"}) == 4  # never more than the share
    assert worker_threads(3, cores=2, environ={"OMP_NUM_THREADS": "x"}) == 1


def test_jobs_run_in_order_and_a_failure_does_not_stop_the_others():
    seen, done = [], []

    def run(job):
        seen.append(job)
        if job == "bad":
            raise ValueError("broken cell")
        return job.upper()

    outcomes = run_in_workers(["a", "bad", "c"], run, workers=1, on_done=lambda i, ok, r: done.append((i, ok)))
    assert seen == ["a", "bad", "c"] and done == [(0, True), (1, False), (2, True)]
    assert outcomes[2] == (True, "C") and isinstance(outcomes[1][1], ValueError)


def test_workers_run_jobs_concurrently_up_to_their_number():
    running, peak, lock = [0], [0], threading.Lock()

    def run(job):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return job

    outcomes = run_in_workers(list(range(6)), run, workers=2)
    assert peak[0] == 2 and sorted(outcomes) == list(range(6)) and all(ok for ok, _ in outcomes.values())


def test_sweep_runs_every_cell_once_and_resumes_by_skipping(hmc_sweep, no_run_reports, tmp_path):
    spec = sweep_from_dict(hmc_sweep())
    cells = expand(spec)
    result = run_sweep(spec, cells, tmp_path / "out", workers=1)
    assert result.failed == {} and set(result.statuses.values()) == {"trained"}
    rows = read_table(tmp_path / "out" / "results.csv")
    assert [r["cell"] for r in rows] == [c.id for c in cells]
    assert [r["method"] for r in rows] == ["baseline", "baseline", "weighted", "weighted"]
    assert [r["data.subset.size"] for r in rows] == [30, 60, 30, 60]
    assert rows[0]["config.data.subsample_seed"] == rows[2]["config.data.subsample_seed"]
    for cell in cells:
        subset = json.loads((tmp_path / "out" / "runs" / cell.id / "train_subset.json").read_text())["subset"]
        assert subset["size"] == (30 if cell.values["train_fraction"] == 0.5 else 60)
    same = [json.loads((tmp_path / "out" / "runs" / c.id / "train_subset.json").read_text())["subset"]["indices"]
            for c in cells if c.values["train_fraction"] == 0.5]
    assert same[0] == same[1], "both methods train on the same subset"
    assert (tmp_path / "out" / "summary.md").is_file() and (tmp_path / "out" / "cells.csv").is_file()
    table = (tmp_path / "out" / "results.csv").read_text()
    again = run_sweep(spec, cells, tmp_path / "out", workers=1)
    assert again.statuses == {} and len(again.finished) == 4
    assert (tmp_path / "out" / "results.csv").read_text() == table


def test_a_finished_cell_with_another_config_is_refused(hmc_sweep, no_run_reports, tmp_path):
    spec = restrict(sweep_from_dict(hmc_sweep()), only=["method=baseline", "train_fraction=0.5"])
    run_sweep(spec, expand(spec), tmp_path, stats=False)
    changed = restrict(spec, overrides=["train.lr=0.5"])
    with pytest.raises(SweepError, match=r"cell method-baseline__train_fraction-0.5__seed-0 in .* was finished with a "
                                         r"different configuration \(train.lr\); use another --out"):
        run_sweep(changed, expand(changed), tmp_path)


def test_a_finished_cell_saved_before_a_new_config_key_still_counts(hmc_sweep, no_run_reports, tmp_path):
    spec = restrict(sweep_from_dict(hmc_sweep()), only=["method=baseline", "train_fraction=0.5"])
    cells = expand(spec)
    run_sweep(spec, cells, tmp_path, stats=False)
    metrics_path = tmp_path / "runs" / cells[0].id / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    del metrics["config"]["train"]["report"]  # as written by a version without that key (default: true)
    metrics_path.write_text(json.dumps(metrics))
    again = run_sweep(spec, cells, tmp_path, stats=False)
    assert again.statuses == {} and again.finished == [cells[0].id]
    metrics["config"]["train"]["lr"] = 0.5  # a real difference is still refused
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(SweepError, match=r"different configuration \(train.lr\)"):
        run_sweep(spec, cells, tmp_path)


def test_interrupted_cells_resume_or_restart(hmc_sweep, no_run_reports, tmp_path):
    spec = restrict(sweep_from_dict(hmc_sweep()), only=["train_fraction=0.5"], overrides=["train.epochs=2"])
    cells = expand(spec)
    runs = tmp_path / "runs"
    train(cells[0].config, runs / cells[0].id, stop_after_epoch=0)  # interrupted with the planned config
    other = restrict(spec, overrides=["train.lr=0.5"])
    train(expand(other)[1].config, runs / cells[1].id, stop_after_epoch=0)  # interrupted, another config
    result = run_sweep(spec, cells, tmp_path, stats=False)
    assert result.statuses == {cells[0].id: "resumed", cells[1].id: "restarted"}
    straight = train(cells[1].config, tmp_path / "straight")
    assert read_table(tmp_path / "results.csv")[1]["au_prc"] == straight["au_prc"]


def test_a_failing_cell_is_reported_and_the_rest_go_on(hmc_sweep, no_run_reports, tmp_path):
    data = hmc_sweep(set=["train.optimizer=sgd"], grid={"train.lr": [1e30, 0.01]})
    spec = restrict(sweep_from_dict(data), only=["method=baseline"])
    result = run_sweep(spec, expand(spec), tmp_path, stats=False)
    assert list(result.failed) == ["method-baseline__lr-1e+30"]
    assert "NonFiniteLossError: non-finite loss" in result.failed["method-baseline__lr-1e+30"]
    assert [r["cell"] for r in read_table(tmp_path / "results.csv")] == ["method-baseline__lr-0.01"]


@pytest.mark.slow
def test_worker_processes_run_cells(hmc_sweep, tmp_path):
    spec = restrict(sweep_from_dict(hmc_sweep()), only=["method=weighted", "train_fraction=1"])
    result = run_sweep(spec, expand(spec), tmp_path, workers=1, processes=True, stats=False)
    assert result.statuses == {"method-weighted__train_fraction-1__seed-0": "trained"}
    assert "trained" in (tmp_path / "logs" / "method-weighted__train_fraction-1__seed-0.log").read_text()
    assert len(read_table(tmp_path / "results.csv")) == 1


def test_cli_dry_run_and_stats_only(hmc_sweep, tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(hmc_sweep()))
    assert main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--dry-run",
                 "--only", "method=weighted"]) == 0
    out = capsys.readouterr().out
    assert "method-weighted__train_fraction-0.5__seed-0" in out and "2 cells" in out and "baseline" not in out
    assert main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--stats-only"]) == 2
    assert "none of the 4 cells has finished; run the sweep first" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "s.yaml"), "--only", "method=nobody"]) == 2
    assert "'nobody' is not a value of axis method" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "worker-processes"])
def test_a_killed_sweep_restarts_to_the_same_table(hmc_sweep, no_run_reports, tmp_path, processes):
    data = hmc_sweep(set=["train.epochs=4", "train.batch_size=4"], grid={"data.train_fraction": [0.5, 1.0, 0.75]})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    spec = restrict(load_sweep(tmp_path / "s.yaml"), only=["method=baseline"])
    cells = expand(spec)
    run_sweep(spec, cells, tmp_path / "straight", stats=False)

    out = tmp_path / "killed"
    script = ("import sys, seafloorhmc.report as report; report.try_write_run_report = lambda *a, **k: None; "
              "from seafloorhmc.cli import main; sys.exit(main(sys.argv[1:]))")
    command = [sys.executable, "-c", script, "sweep", str(tmp_path / "s.yaml"), "--out", str(out),
               "--only", "method=baseline", "--no-stats", *(["--processes"] if processes else [])]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, second = (out / "runs" / c.id for c in cells[:2])
    deadline = time.time() + 300  # a loaded machine starts three interpreters (torch) slowly
    while not ((first / "metrics.json").is_file() and (second / "checkpoints" / "last.json").is_file()):
        assert process.poll() is None and time.time() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)  # mid-cell: the second cell has an epoch checkpoint, no metrics
    process.wait()
    if processes:  # the orphaned worker notices its parent is gone and exits (it may finish its cell first)
        time.sleep(2.5)
    else:
        assert not (second / "metrics.json").is_file()
    assert not (out / "runs" / cells[2].id).exists()

    result = run_sweep(spec, cells, out, stats=False)
    assert result.statuses[cells[2].id] == "trained" and result.finished[0] == cells[0].id
    assert result.statuses.get(cells[1].id, "finished") in (("resumed", "finished") if processes else ("resumed",))
    straight, restarted = read_table(tmp_path / "straight" / "results.csv"), read_table(out / "results.csv")
    drop = set(timing_columns(straight[0]))
    assert len(restarted) == 3
    assert [{k: v for k, v in r.items() if k not in drop} for r in restarted] == \
           [{k: v for k, v in r.items() if k not in drop} for r in straight]
