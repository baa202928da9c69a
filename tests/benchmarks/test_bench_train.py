import pytest

from seafloorhmc.benchmarks.train_step import StepTimes, markdown, run


def test_table_relates_steps_to_one_member_and_to_the_bare_encoder():
    rows = [{"member_type": "ensemble", "members": 1, "head_params": 10, "fwd_bwd_ms": 11.0, "step_ms": 12.0,
             "step_peak_mib": 5.0},
            {"member_type": "ensemble", "members": 20, "head_params": 200, "fwd_bwd_ms": 13.0, "step_ms": 15.0,
             "step_peak_mib": None}]
    table = markdown(StepTimes(10.0, rows, 4.0), "enc", 64, 8)
    assert "| ensemble | 1 | 10 | 11.0 | +10.0% | 12.0 | 1.00× | 5 |" in table
    assert "| ensemble | 20 | 200 | 13.0 | +30.0% | 15.0 | 1.25× | n/a |" in table  # 15 / 12
    assert "peak 4 MiB" in table


@pytest.mark.slow
def test_runs_tiny_and_measures_every_head():
    result = run("test_resnet", size=32, batch=2, members=(1, 3), rounds=1)
    assert [(r["member_type"], r["members"]) for r in result.rows] == [
        ("ensemble", 1), ("ensemble", 3), ("mc_dropout", 3)]
    assert result.encoder_ms > 0 and all(r["step_ms"] > 0 and r["fwd_bwd_ms"] > 0 for r in result.rows)
    assert all(r["step_peak_mib"] is None or r["step_peak_mib"] >= 0 for r in result.rows)
