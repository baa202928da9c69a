import re
import subprocess
import sys
from pathlib import Path

import pytest

from seafloorhmc.benchmarks.feature_cache import SweepResult, markdown_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_script_prints_speed_up_and_encoder_work(tmp_path):
    """The smoke test of scripts/bench_feature_cache.py with tiny settings (the real run is 20 runs)."""
    command = [sys.executable, str(ROOT / "scripts" / "bench_feature_cache.py"), "--runs", "2", "--images", "12",
               "--size", "32", "--encoder", "test_resnet", "--epochs", "1", "--batch", "8", "--work", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = dict(re.findall(r"^\| (cache|re-encode) \| (.*)$", result.stdout, re.M))
    cache, again = (rows[mode].split(" | ") for mode in ("cache", "re-encode"))
    assert cache[0] == again[0] == "2", "runs"
    assert again[2] == again[4] == "1.0×", "re-encoding is the reference"
    for seconds, speed_up in ((1, 2), (3, 4)):  # end to end, then epoch loops: speed-up = re-encode / cache time
        slow, fast = float(again[seconds]), float(cache[seconds])  # both printed to 0.1 s
        low = (slow - 0.05) / (fast + 0.05)
        high = (slow + 0.05) / (fast - 0.05) if fast > 0.05 else float("inf")
        assert low - 0.05 <= float(cache[speed_up].rstrip("×")) <= high + 0.05, (cache, again)
    assert (cache[-2], cache[-1].rstrip(" |")) == ("12", "1.00"), "each of the 12 images encoded once"
    # re-encoding: per run one epoch over 8 train images, then 2 validation images, the 2 validation images again
    # to calibrate the review flag, and 2 test images (scored once, the flag with them): 14 per run, 28 for 12 images
    assert (again[-2], again[-1].rstrip(" |")) == ("28", "2.33"), "re-encoded by each of the 2 runs"
    assert re.search(r"AU\(PRC\) difference .*: 0\.00e\+00", result.stdout), "the cache changes no result"


def test_table_reports_speed_up_and_encoder_work():
    slow = SweepResult("re-encode", 20, 100.0, 6000, 100, [0.5] * 20, 80.0)
    fast = SweepResult("cache", 20, 25.0, 100, 100, [0.5] * 20, 10.0)
    table = markdown_table(fast, slow)
    assert "| cache | 20 | 25.0 | 4.0× | 10.0 | 8.0× | 100 | 1.00 |" in table
    assert "| re-encode | 20 | 100.0 | 1.0× | 80.0 | 1.0× | 6000 | 60.00 |" in table
