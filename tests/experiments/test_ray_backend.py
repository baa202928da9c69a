"""The Ray backend on a local Ray instance with 2 CPUs (started here): same table as the local backend,
and a cell whose worker is killed mid-run is retried and resumes to the same numbers."""

import json
import os
import signal
import threading
import time

import pytest

from seafloorhmc.experiments import expand, restrict, run_sweep, sweep_from_dict
from seafloorhmc.experiments.backends import BackendOptions
from seafloorhmc.experiments.results import timing_columns
from seafloorhmc.utils.tables import read_table

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _without_timing(rows):
    drop = set(timing_columns(rows[0]))
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _spec(hmc_sweep, *overrides):
    data = hmc_sweep(set=["train.report=false", *overrides])
    return restrict(sweep_from_dict(data), only=["train_fraction=1"])  # 2 cells: baseline and weighted


def test_ray_gives_the_local_table(hmc_sweep, no_run_reports, local_ray, tmp_path):
    spec = _spec(hmc_sweep, "train.epochs=2")
    cells = expand(spec)
    run_sweep(spec, cells, tmp_path / "local", workers=1, stats=False)
    result = run_sweep(spec, cells, tmp_path / "ray", backend="ray", options=BackendOptions(cpus=1))
    assert result.failed == {} and set(result.statuses.values()) == {"trained"}
    local, remote = read_table(tmp_path / "local" / "results.csv"), read_table(tmp_path / "ray" / "results.csv")
    assert [r["cell"] for r in remote] == [c.id for c in cells]
    assert _without_timing(remote) == _without_timing(local)
    assert (tmp_path / "ray" / "summary.md").is_file()
    where = json.loads((tmp_path / "ray" / "logs" / f"{cells[0].id}.where.json").read_text())
    assert where["pid"] != os.getpid()  # trained in a Ray worker, not here
    again = run_sweep(spec, cells, tmp_path / "ray", backend="ray", stats=False)  # resumable as the local backend
    assert again.statuses == {} and len(again.finished) == 2


def test_a_killed_ray_worker_is_retried_and_resumes_to_the_same_table(hmc_sweep, no_run_reports, local_ray,
                                                                      tmp_path):
    spec = _spec(hmc_sweep, "train.epochs=30", "train.batch_size=4")
    cells = expand(spec)
    run_sweep(spec, cells, tmp_path / "local", workers=1, stats=False)

    out = tmp_path / "ray"
    outcome = {}
    sweep = threading.Thread(target=lambda: outcome.update(result=run_sweep(
        spec, cells, out, backend="ray", options=BackendOptions(cpus=1, retries=2), stats=False)))
    sweep.start()
    victim = out / "runs" / cells[1].id
    where = out / "logs" / f"{cells[1].id}.where.json"
    deadline = time.time() + 300
    while not ((victim / "checkpoints" / "last.json").is_file() and where.is_file()):
        assert sweep.is_alive() and time.time() < deadline, "the sweep ended before a worker could be killed"
        time.sleep(0.01)
    pid = json.loads(where.read_text())["pid"]
    assert not (victim / "metrics.json").is_file()
    os.kill(pid, signal.SIGKILL)  # the Ray worker training the cell, mid-run
    sweep.join(timeout=600)
    result = outcome["result"]
    assert result.failed == {}
    assert result.statuses[cells[1].id] == "resumed"  # the retried task continued from the last checkpoint
    assert json.loads(where.read_text())["pid"] != pid
    local, remote = read_table(tmp_path / "local" / "results.csv"), read_table(out / "results.csv")
    assert len(remote) == 2 and _without_timing(remote) == _without_timing(local)


def test_tune_trials_run_as_ray_tasks_and_report_through_the_journal(sweep_hmc, local_ray, tmp_path):
    pytest.importorskip("optuna")
    from seafloorhmc.experiments.tune import run_tune, tune_from_dict

    spec = tune_from_dict({
        "name": "tiny-ray", "trials": 3,
        "base": {"data": {"format": "hmc", "root": str(sweep_hmc), "dataset": "toy_FUN"}, "model": {"hidden": 8},
                 "train": {"epochs": 3, "batch_size": 16, "progress": False, "report": False}},
        "space": {"loss.node_weights": ["none", "class-wise"], "train.lr": {"factor": 10, "log": True}}})
    result = run_tune(spec, tmp_path / "study", backend="ray", options=BackendOptions(cpus=1))
    rows = read_table(tmp_path / "study" / "trials.csv")
    assert [r["trial"] for r in rows] == [0, 1, 2] and {r["state"] for r in rows} <= {"complete", "pruned"}
    for row in rows:  # every epoch's validation value reached the study from the Ray worker that trained it
        curve = json.loads(row["curve"])
        assert len(curve) == 3 if row["state"] == "complete" else 1 <= len(curve) < 3
    assert result.test is not None and (tmp_path / "study" / result.test["run"] / "metrics.json").is_file()
