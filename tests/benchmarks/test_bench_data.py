import re
import subprocess
import sys
from pathlib import Path

import pytest

from seafloorhmc.benchmarks.data import DataBenchResult, DataBenchSettings, format_table

ROOT = Path(__file__).resolve().parents[2]


def test_table_relates_every_rate_to_its_limit():
    settings = DataBenchSettings(photos=2, width=400, height=300, epochs=3, uncached_steps=1, batch_size=10)
    result = DataBenchResult(settings, points=100, cores=2, threads=1, predict_workers=2,
                             decode_full=[1.0], decode_shrunk=[0.25], input_points=[4.0], input_whole=[0.5],
                             encoder_forward=[2.0], train_step=[5.0], cache_build=1.0, photos_decoded=2,
                             cached_epochs=[7.0, 6.0, 6.0], precut_epochs=[5.5, 5.0, 5.0], uncached_items=10,
                             uncached_seconds=4.0, losses_equal=True, predict_points=[3.5], predict_whole=[1.0])
    table = format_table(result)
    assert "| training step on pre-made tensors | 100 patches | 5.00 | 20.0 | – | – |" in table
    assert "| train, image cache, epochs 2-3 (median) | 100 patches | 6.00 | 16.7 | 20.0 | 0.83 |" in table
    assert "later epochs, image cache / pre-cut patches: 1.20x (meets" in table  # 6 / 5
    # bound on points: max(encoder 2, (input 4 + 1 thread x 2) / 2 cores) = 3 s → 3 / 3.5
    assert "= 3.00 s): 0.86 (MISSES the >= 0.9 target)" in table
    assert "| predict on points, end to end | 100 rows | 3.50 | 28.6 | 33.3 | 0.86 |" in table
    # whole photos: encoder 2 s / 100 points x 2 photos = 0.04 s; (0.5 + 0.04) / 2 = 0.27 s
    assert "predict on whole photos / its bound (0.27 s): 0.27" in table
    assert "photos decoded to build the cache: 2 for 2 photos (each once)" in table


@pytest.mark.slow
def test_the_script_runs_tiny_and_reports_the_checks(tmp_path):
    """The smoke test of scripts/bench_data.py (the real run is 48 photos of 4000 x 3000)."""
    env = {"SEAFLOORHMC_DATA": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, str(ROOT / "scripts" / "bench_data.py"), "--photos", "2", "--width", "320",
               "--height", "240", "--points", "4-6", "--encoder", "test_resnet", "--image-size", "64",
               "--patch-size", "48", "--batch-size", "4", "--epochs", "2", "--uncached-steps", "1",
               "--predict-workers", "0", "--train-workers", "0", "--rounds", "1", "--work", str(tmp_path / "work")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "photos decoded to build the cache: 2 for 2 photos (each once)" in out
    assert "training loss per epoch, image cache vs pre-cut patches: identical" in out
    rows = re.findall(r"^\| (.+?) \| (\d+) (photos|patches|rows) \| ([\d.]+) \|", out, re.M)
    assert len(rows) == 12, out
