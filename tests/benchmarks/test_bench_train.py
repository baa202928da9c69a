import pytest

from seafloorhmc.benchmarks.train_step import StepTimes, markdown, run


def test_table_relates_steps_to_one_member_and_to_the_bare_encoder():
    def row(members, hidden, step_ms, peak=None):
        return {"member_type": "ensemble", "members": members, "hidden": hidden, "head_params": 10 * members,
                "fwd_bwd_ms": step_ms - 1.0, "step_ms": step_ms, "step_peak_mib": peak}

    rows = [row(1, 64, 12.0, 5.0), row(20, 64, 15.0), row(1, 32, 10.5), row(20, 32, 14.0)]
    table = markdown(StepTimes(10.0, rows, 4.0), "enc", 64, 8)
    assert "| ensemble | 1 | 64 | 10 | 11.0 | +10.0% | 12.0 | 1.00× | 5 |" in table
    assert "| ensemble | 20 | 64 | 200 | 14.0 | +40.0% | 15.0 | 1.25× | n/a |" in table  # 15 / 12
    assert "| ensemble | 20 | 32 | 200 | 13.0 | +30.0% | 14.0 | 1.33× | n/a |" in table  # 14 / 10.5: same width
    assert "peak 4 MiB" in table


@pytest.mark.slow
def test_runs_tiny_and_measures_every_head():
    result = run("test_resnet", size=32, batch=2, members=(1, 3), hidden=[None, 8], rounds=1)
    features = result.rows[0]["hidden"]
    assert [(r["member_type"], r["members"], r["hidden"]) for r in result.rows] == [
        ("ensemble", 1, features), ("ensemble", 3, features), ("mc_dropout", 3, features),
        ("ensemble", 1, 8), ("ensemble", 3, 8), ("mc_dropout", 3, 8)]
    assert result.encoder_ms > 0 and all(r["step_ms"] > 0 and r["fwd_bwd_ms"] > 0 for r in result.rows)
    assert all(r["step_peak_mib"] is None or r["step_peak_mib"] >= 0 for r in result.rows)
