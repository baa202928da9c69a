"""One owner per run folder, with real processes: two trainings started together, kill -9, resume, sweeps.

Two trainings into one ``--out`` used to both exit 0 and leave a folder mixing them; ``--resume``
on a run still training did the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import PROCESS_TIMEOUT, wait_for

from seafloorhmc.config import load_config
from seafloorhmc.experiments.worker import CELL_TRAINED, run_cell


def _config(folder: Path, hmc_root: Path, epochs: int) -> Path:
    path = folder / f"config-{epochs}.yaml"
    path.write_text(f"data: {{format: hmc, root: '{hmc_root}', dataset: toy_FUN}}\n"
                    f"model: {{hidden: 8}}\n"
                    f"train: {{epochs: {epochs}, batch_size: 4, progress: false, report: false}}\n")
    return path


def _start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seafloorhmc.cli", "train", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _last_epoch(run: Path) -> int:
    try:
        return json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate()


@pytest.mark.slow
def test_one_folder_one_training_and_a_killed_holder_is_replaced(tmp_path, hmc_root):
    run = tmp_path / "run"
    long = _config(tmp_path, hmc_root, epochs=5000)
    first, second = _start(long, "--out", run), _start(long, "--out", run)
    processes = [first, second]
    try:
        wait_for(lambda: any(p.poll() is not None for p in processes), "one of the two trainings to stop")
        loser = next(p for p in processes if p.poll() is not None)
        winner = next(p for p in processes if p is not loser)
        _, err = loser.communicate()
        assert loser.returncode == 2 and winner.poll() is None, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert f"is in use by another seafloorhmc process: pid {winner.pid} on " in err and "train" in err

        wait_for(lambda: _last_epoch(run) >= 1, "the winner's first checkpoint")
        os.kill(winner.pid, signal.SIGKILL)
        winner.communicate()
        killed_at = _last_epoch(run)
        (run / ".metrics.json.x7k2.tmp").write_text("{")  # as an interrupted write would leave it

        resumed = _start(long, "--out", run, "--resume")
        processes.append(resumed)
        wait_for(lambda: _last_epoch(run) > killed_at or resumed.poll() is not None, "the resumed run to go on")
        assert resumed.poll() is None, resumed.communicate()[1]
        assert not (run / ".metrics.json.x7k2.tmp").exists(), "the resumed run cleaned up the interrupted write"
        os.kill(resumed.pid, signal.SIGKILL)
        _, err = resumed.communicate()
        assert "taking over the lock" in err and f"pid {winner.pid}" in err and "resuming" in err

        fresh = _start(_config(tmp_path, hmc_root, epochs=1), "--out", run, "--overwrite")
        processes.append(fresh)
        _, err = fresh.communicate(timeout=PROCESS_TIMEOUT)
        assert fresh.returncode == 0, err
        assert json.loads((run / "metrics.json").read_text())["epochs"] == 1
    finally:
        for process in processes:
            _kill(process)


@pytest.mark.slow
def test_a_sweep_cell_waits_for_a_training_on_its_folder(tmp_path, hmc_root):
    """The sweep's cell lock and the run lock are one lock: a cell never trains beside another writer."""
    cell = tmp_path / "runs" / "cell"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom seafloorhmc.utils.locks import RunLock\n"
                               "lock = RunLock(sys.argv[1]).acquire()\nprint('locked', flush=True)\ntime.sleep(2)\n",
                               str(cell)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        config = load_config(_config(tmp_path, hmc_root, epochs=1))
        assert run_cell(config, cell) == CELL_TRAINED
        assert holder.wait(timeout=PROCESS_TIMEOUT) == 0, "the cell started only after the holder had finished"
    finally:
        _kill(holder)
    assert (cell / "metrics.json").is_file()
