import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seafloorhmc.benchmarks.gpu import DataRow, StepRow, bench_steps, data_table, steps_table

ROOT = Path(__file__).resolve().parents[2]


def test_tables_relate_every_step_to_the_bare_encoder():
    rows = [StepRow("bare encoder fwd+bwd", 200.0, 5.0), StepRow("full step, 20 ensemble", 160.0, 6.25, 1024.0)]
    table = steps_table(rows)
    assert "| full step, 20 ensemble | 160.0 | 6.2 | 1.25 | 1024 |" in table  # 200 / 160 = 1.25× the time
    assert "| bare encoder fwd+bwd | 200.0 | 5.0 | 1.00 | – |" in table
    assert "| 4.00× |" in data_table(DataRow(workers=8, images=512, images_per_s=640.0, source=448), 160.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_by_name():
    with pytest.raises(RuntimeError, match="--device cuda: CUDA is not available"):
        bench_steps("test_resnet", size=32, batch=2, device="cuda")


@pytest.mark.slow
def test_the_script_runs_tiny_on_cpu():
    """The smoke test of scripts/bench_gpu.py (tiny encoder and head so it stays fast on 2 cores)."""
    command = [sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), "--device", "cpu", "--size", "64", "--batch",
               "8", "--steps", "2", "--encoder", "test_resnet", "--hidden", "16", "--workers", "1", "--images", "16"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = re.findall(r"^\| (bare encoder [^|]+|full step[^|]+|decode JPEG[^|]+)\|(.*)$", result.stdout, re.M)
    names = [name.strip() for name, _ in rows]
    assert names == ["bare encoder fwd+bwd", "bare encoder step", "full step, 1 ensemble", "full step, 20 ensemble",
                     "full step, 1 mc-dropout", "full step, 20 mc-dropout", "decode JPEG + train augmentation"]
    steps = [[float(v) for v in rest.split("|")[:3]] for name, rest in rows[:-1]]
    bare_rate = steps[0][0]

    def ratio_tolerance(a, b):  # a / b from values printed to 0.1, the ratio itself to 0.01
        return 0.0051 + (a / b) * (0.05 / a + 0.05 / b)

    for (name, _), (rate, ms, times_bare) in zip(rows, steps):
        # the columns describe one measurement: 8 images per step, the ratio to the bare encoder's rate
        assert rate * ms / 1000 == pytest.approx(8, rel=0.02), name
        assert times_bare == pytest.approx(bare_rate / rate, abs=ratio_tolerance(bare_rate, rate)), name
    workers, source, rate, vs_slowest = (v.strip() for v in rows[-1][1].split("|")[:4])
    assert (workers, source) == ("1", "128") and float(rate) > 0  # JPEGs of 2 × --size decoded
    slowest = min(rate for rate, _, _ in steps[2:])
    assert float(vs_slowest.rstrip("×")) == pytest.approx(float(rate) / slowest,
                                                          abs=ratio_tolerance(float(rate), slowest))
