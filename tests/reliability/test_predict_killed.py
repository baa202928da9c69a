"""``predict`` killed with SIGKILL mid-run: its helper processes end, nothing looks finished, a rerun completes.

predict forks decoding workers and a row-writing process; a parent killed without a word must not
leave them running (they hold the temporary file's lock), and must not leave a file that passes for
a finished result.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import PROCESS_TIMEOUT, wait_for

from seafloorhmc.benchmarks.predict import build_random_checkpoint
from seafloorhmc.data.synthetic.survey import write_survey_dataset
from seafloorhmc.taxonomy import Taxonomy


def _processes_naming(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (forked helpers keep their parent's command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:  # ended while we looked
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists() or not hasattr(os, "fork"), reason="Linux /proc, fork")
def test_a_killed_predict_leaves_no_process_and_no_finished_looking_file(tmp_path):
    folder = tmp_path / "survey"
    annotations = write_survey_dataset(folder, n_images=6, width=640, height=480, points=(150, 150), seed=3)
    with open(folder / "label_map.csv", newline="") as handle:
        taxonomy = Taxonomy.from_paths([row["path"] for row in csv.DictReader(handle)], sep=" > ")
    checkpoint = build_random_checkpoint(folder / "model.safetensors", taxonomy, "resnet10t", 64, members=1,
                                         hidden=16, batch_size=8)
    out = tmp_path / "results" / "killed-predictions.csv"
    out.parent.mkdir()
    command = [sys.executable, "-m", "seafloorhmc.cli", "predict", str(checkpoint), str(annotations), "--format",
               "coralnet", "--out", str(out), "--workers", "2", "--batch-size", "8", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # no pipes: a helper left running would hold them open, and waiting for their end would hang the test
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        def rows_flowing() -> bool:  # the writer has written rows: workers and writer are all running
            assert process.poll() is None, "predict finished before it could be killed: give it more points"
            return any(p.name.startswith(f".{out.name}") and p.stat().st_size > 4096 for p in out.parent.iterdir())

        wait_for(rows_flowing, "rows in the temporary file")
        assert len(_processes_naming(str(out))) >= 4, "predict, two decoding workers and the row writer"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        wait_for(lambda: not _processes_naming(str(out)), "the helpers of the killed predict to end")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in _processes_naming(str(out)):  # a failed check must not leave helpers behind
            os.kill(pid, signal.SIGKILL)
    assert not out.exists(), "no file that looks finished"
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out, newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 900
    assert not [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")], "the stale temporary removed"
