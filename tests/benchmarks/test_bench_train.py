import pytest

from seafloorhmc.benchmarks.train_step import StepTimes, markdown, run
from seafloorhmc.training.optim import build_optimizer


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


def head_parameters(members: int, d_in: int, hidden: int, nodes: int, layers: int = 3) -> int:
    """Weights and biases of ``members`` independent MLPs d_in → hidden → … → nodes."""
    dims = [d_in] + [hidden] * (layers - 1) + [nodes]
    return members * sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def test_each_timed_function_runs_the_head_its_row_names(monkeypatch):
    """Run every timed function once (no timing) and record what it did: the loss sees [M, B, N] logits of
    the row's member count, the full step (and only it) steps the optimiser, the encoder row has no head."""
    import seafloorhmc.benchmarks.train_step as bench
    from seafloorhmc.data.synthetic.hierarchy import synthetic_taxonomy

    seen: list = []

    class Recording(bench.RareNodeLoss):
        def forward(self, logits, *args, **kwargs):
            seen.append(("loss", tuple(logits.shape)))
            return super().forward(logits, *args, **kwargs)

    def optimizer(*args, **kwargs):
        opt = build_optimizer(*args, **kwargs)
        step = opt.step
        opt.step = lambda *a, **k: (seen.append(("step",)), step(*a, **k))[1]
        return opt

    done: dict = {}

    def run_once(fns, **kwargs):
        for name, fn in fns.items():
            seen.clear()
            fn()
            done[name] = list(seen)
        return {name: 1e-3 for name in fns}

    monkeypatch.setattr(bench, "RareNodeLoss", Recording)
    monkeypatch.setattr(bench, "build_optimizer", optimizer)
    monkeypatch.setattr(bench, "time_interleaved", run_once)
    monkeypatch.setattr(bench, "peak_memory_bytes", lambda fn, device=None: None)
    result = run("test_resnet", size=32, batch=2, members=(1, 3), hidden=[None, 8], rounds=1)
    nodes = len(synthetic_taxonomy())
    features = result.rows[0]["hidden"]
    assert [(r["member_type"], r["members"], r["hidden"]) for r in result.rows] == [
        ("ensemble", 1, features), ("ensemble", 3, features), ("mc_dropout", 3, features),
        ("ensemble", 1, 8), ("ensemble", 3, 8), ("mc_dropout", 3, 8)]
    assert done["encoder"] == []
    for r in result.rows:
        key = f"{r['member_type']}-{r['members']}-h{r['hidden']}"
        shape = ("loss", (r["members"], 2, nodes))
        assert done[f"fb:{key}"] == [shape], key
        assert done[f"step:{key}"] == [shape, ("step",)], key
        sets = r["members"] if r["member_type"] == "ensemble" else 1  # MC-dropout: one set of weights
        assert r["head_params"] == head_parameters(sets, features, r["hidden"], nodes), key


@pytest.mark.slow
def test_runs_tiny_and_measures_every_head():
    result = run("test_resnet", size=32, batch=2, members=(1, 3), hidden=[None, 8], rounds=1)
    assert len(result.rows) == 6 and result.encoder_ms > 0
    assert all(r["step_ms"] > 0 and r["fwd_bwd_ms"] > 0 for r in result.rows)
    assert all(r["step_peak_mib"] is None or r["step_peak_mib"] >= 0 for r in result.rows)
