"""The load benchmark's logic at tiny sizes: it measures what it claims to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seafloorhmc.benchmarks.load import (
    PredictMemory,
    format_predict_memory,
    format_reader_table,
    run_reader_bench,
    write_coralnet_export,
)
from seafloorhmc.data.readers import read_coralnet

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_reads_the_same_records(tmp_path):
    from seafloorhmc.benchmarks.load import _reference_tables

    export, label_map = write_coralnet_export(tmp_path, 120)
    streamed = read_coralnet(export, label_map)
    with _reference_tables():
        whole = read_coralnet(export, label_map)
    assert streamed == whole and len(streamed) == 120


def test_streaming_keeps_no_per_row_memory_beyond_the_records(tmp_path):
    result = run_reader_bench(tmp_path, sizes=(250, 1000), reference_sizes=(250, 1000), rate_rows=250, rounds=1,
                              log=lambda _: None)
    by = {(m.format, m.rows): m for m in result["memory"]}
    for fmt in ("coralnet", "squidle"):
        stream_big = by[(fmt, 1000)]
        whole_small, whole_big = by[(f"{fmt} (whole file)", 250)], by[(f"{fmt} (whole file)", 1000)]
        assert whole_big.transient_bytes > 3 * whole_small.transient_bytes, "the reference grows with the rows"
        assert stream_big.transient_bytes < whole_small.transient_bytes / 4, "streaming does not"
        assert stream_big.kept_bytes == pytest.approx(whole_big.kept_bytes, rel=0.05), "the same records"
    assert "| coralnet | 1,000 |" in format_reader_table(result)


def test_the_predict_table_compares_with_the_first_count():
    mib = 2**20
    small = PredictMemory(2000, 10.0, 100 * mib, [(1.0, 300 * mib), (9.0, 200 * mib)])
    big = PredictMemory(20000, 100.0, 100 * mib, [(10.0, 250 * mib), (60.0, 320 * mib), (90.0, 310 * mib)])
    assert big.peak_above_baseline == 220 * mib and big.quarter_peak(2) == 0
    assert (big.quarter_peak(1), big.quarter_peak(3), big.quarter_peak(4)) == (150 * mib, 220 * mib, 210 * mib)
    table = format_predict_memory([small, big]).splitlines()
    assert table[2] == "| 2,000 | 10 | 200 | 200 | 1.00× | 200, 0, 0, 100 |"
    assert table[3] == "| 20,000 | 100 | 200 | 220 | 1.10× | 150, 0, 220, 210 |"


@pytest.mark.slow
def test_the_script_runs(tmp_path):
    command = [sys.executable, str(ROOT / "scripts" / "bench_load.py"), "--data", str(tmp_path), "--sizes", "300",
               "--reference-sizes", "300", "--rate-rows", "300", "--rounds", "1", "--counts", "20", "60",
               "--workers", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| squidle (whole file) | 300 |" in result.stdout and "| 60 |" in result.stdout
