import sys

import pytest
import yaml

from seafloorhmc.cli import main
from seafloorhmc.errors import MissingExtraError
from seafloorhmc.experiments.backends import BACKENDS, BackendOptions, LocalBackend, visible_gpus
from seafloorhmc.experiments.local_backend import WorkerProcesses
from seafloorhmc.experiments.tune import require_optuna


def test_the_registry_holds_local_and_ray():
    assert BACKENDS.names() == ("local", "ray")
    assert isinstance(BACKENDS.get("local")(BackendOptions()), LocalBackend)


def test_visible_gpus_follow_cuda_visible_devices_or_the_count():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 5"}) == ["2", "5"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == [] and visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert visible_gpus({}, count=lambda: 3) == ["0", "1", "2"]
    assert visible_gpus({}, count=lambda: 0) == []


def test_local_worker_processes_get_a_gpu_each_round_robin(tmp_path):
    processes = WorkerProcesses(tmp_path, threads=2, gpus=["0", "1"], workers=3)
    slots = [processes.gpus.get() for _ in range(3)]
    assert slots == ["0", "1", "0"] and processes.gpus.empty()  # three workers, two GPUs: 0, 1, 0
    env = processes.environment(slots[1])
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["OMP_NUM_THREADS"] == "2"
    assert WorkerProcesses(tmp_path, 1).gpus is None  # no GPU: the environment is left as it is


def test_missing_extras_are_named(monkeypatch, hmc_sweep, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(RuntimeError, match=r'pip install "seafloorhmc\[ray\]"'):
        BACKENDS.get("ray")(BackendOptions())
    with pytest.raises(MissingExtraError, match=r'pip install "seafloorhmc\[tune\]"'):
        require_optuna()
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(hmc_sweep()))
    assert main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--backend", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'seafloorhmc[ray]' in err[0]


def test_a_sweep_declares_per_cell_resources(hmc_sweep):
    from seafloorhmc.experiments import SweepSpecError, sweep_from_dict

    spec = sweep_from_dict(hmc_sweep(resources={"cpus": 2, "gpus": 1}))
    assert spec.resources == {"cpus": 2.0, "gpus": 1.0} and spec.to_dict()["resources"] == spec.resources
    for bad in ({"gpu": 1}, {"cpus": -1}, [2]):
        with pytest.raises(SweepSpecError, match="resources"):
            sweep_from_dict(hmc_sweep(resources=bad))
