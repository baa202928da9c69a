"""The shipped SLURM script for multi-node training, run on this machine as two "nodes".

``scontrol`` and ``srun`` are stand-ins: ``srun`` starts the script's torchrun line once per node
(here: two agents on localhost), exactly as SLURM starts one task per node; the agents meet through
torch's c10d rendezvous at the endpoint the script builds and train one run with gloo. The result
must match one process trained with the same global batch.
"""

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from seafloorhmc.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm" / "train_multinode.sbatch"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.slow
@pytest.mark.dist
def test_the_slurm_script_trains_one_run_over_two_nodes(tmp_path):
    from seafloorhmc.testing import write_tiny_hmc
    from seafloorhmc.training import train

    root = write_tiny_hmc(tmp_path / "data", rows=(64, 20, 30))
    overrides = [f"data.root={root}", "data.format=hmc", "data.dataset=toy_FUN", "model.hidden=16",
                 "model.dropout=0", "train.epochs=2", "train.batch_size=16", "train.progress=false",
                 "train.report=false", "train.device=cpu"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "scontrol", "#!/bin/bash\necho localhost\necho localhost\n")  # 2 nodes, both here
    _executable(bin_dir / "srun", '#!/bin/bash\nfor n in $(seq "$SLURM_JOB_NUM_NODES"); do "$@" & done\nwait -n\n'
                                  "wait -n\n")  # one task per node, like srun; fail if either fails
    _executable(bin_dir / "torchrun", f'#!/bin/bash\nexec "{sys.executable}" -m torch.distributed.run "$@"\n')
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_NODELIST": "node[1-2]",
           "SLURM_JOB_NUM_NODES": "2", "SLURM_GPUS_ON_NODE": "1", "SLURM_JOB_ID": "42", "OMP_NUM_THREADS": "1",
           "RDZV_PORT": str(_free_port()), "PYTHONPATH": python_path}
    (tmp_path / "config.yaml").write_text("name: multinode\n")
    sets = [arg for o in overrides for arg in ("--set", o)]
    result = subprocess.run(["bash", str(SCRIPT), "config.yaml", "two-nodes", *sets], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.count("test metrics") == 1, "only rank 0 of the two nodes prints"
    two = json.loads((tmp_path / "two-nodes" / "metrics.json").read_text())
    one = train(load_config(None, overrides), tmp_path / "one")
    for key in ("au_prc", "f1", "loss"):  # the same global batches; only the order of float sums differs
        assert two[key] == pytest.approx(one[key], rel=1e-3, abs=1e-4), key
