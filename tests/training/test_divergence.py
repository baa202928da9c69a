"""One rule for divergence: non-finite steps, exploding losses and non-finite predictions all stop the run."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from seafloorhmc.cli import main
from seafloorhmc.errors import DivergenceError
from seafloorhmc.training import train
from seafloorhmc.training.divergence import EXPLOSION_FACTOR, DivergenceGuard, NonFiniteLossError, gradient_norm


def _names():
    return "images a.png, b.png"


def test_the_first_finite_step_sets_the_reference():
    guard = DivergenceGuard()
    assert guard.check_step(torch.tensor(0.7), torch.tensor(2.0), 1, 1, _names) == pytest.approx(0.7)
    guard.check_step(torch.tensor(0.2), torch.tensor(1.0), 1, 2, _names)
    assert guard.reference == pytest.approx(0.7)
    restored = DivergenceGuard()
    restored.load_state_dict(guard.state_dict())
    assert restored.reference == guard.reference


@pytest.mark.parametrize("loss, norm, what", [
    (float("nan"), 1.0, r"non-finite loss \(nan\)"),
    (float("inf"), 1.0, r"non-finite loss \(inf\)"),
    (0.5, float("inf"), r"non-finite gradient \(its norm overflowed to inf\) with a finite loss \(0.5\)"),
])
def test_a_non_finite_step_names_epoch_step_batch_and_causes(loss, norm, what):
    with pytest.raises(NonFiniteLossError, match=what + r" at epoch 3, step 7; batch images a.png, b.png — likely "
                                                       r"causes: .*train.lr.*train.grad_clip"):
        DivergenceGuard().check_step(torch.tensor(loss), torch.tensor(norm), 3, 7, _names)


def test_an_epoch_loss_far_above_the_start_is_divergence():
    guard = DivergenceGuard()
    guard.check_step(torch.tensor(0.5), torch.tensor(1.0), 1, 1, _names)
    guard.check_epoch(1, 0.5 * EXPLOSION_FACTOR)  # exactly at the limit: still a run
    with pytest.raises(DivergenceError, match=r"training diverged at epoch 2: mean training loss 5.01 is more than "
                                              r"10× the starting loss 0.5"):
        guard.check_epoch(2, 5.01)
    negative = DivergenceGuard()  # losses with learned weights can start below zero (Kendall's θ)
    negative.check_step(torch.tensor(-1.0), torch.tensor(1.0), 1, 1, _names)
    negative.check_epoch(1, -1.0 + 9.0)
    with pytest.raises(DivergenceError):
        negative.check_epoch(2, 8.5)


def test_gradient_norm_matches_a_hand_computed_norm_and_clips():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])
    assert gradient_norm([a, b]).item() == pytest.approx(5.0)
    assert gradient_norm([a, b], max_norm=1.0).item() == pytest.approx(5.0), "the norm before clipping"
    assert torch.cat([a.grad, b.grad]).norm().item() == pytest.approx(1.0, rel=1e-5)


def test_a_learning_rate_far_too_high_stops_the_run_instead_of_finishing(image_config, tmp_path):
    """lr=1e4 used to finish with a loss 30x the normal one and exit 0."""
    with pytest.raises(DivergenceError, match=r"epoch 1.*likely causes"):
        train(image_config("train.lr=1e4", "train.epochs=2"), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "checkpoints" / "last.json").exists(), "the diverged epoch is not saved"


def test_non_finite_predictions_are_named_not_scored(tmp_path, capsys, hmc_config):
    """A model whose weights hold NaN: evaluation used to fail deep in the metrics with no hint."""
    run = tmp_path / "run"
    train(hmc_config("train.epochs=1"), run)
    weights = load_file(str(run / "model.safetensors"))
    key = next(k for k in weights if k.startswith("head.") and weights[k].is_floating_point())
    weights[key] = torch.full_like(weights[key], float("nan"))
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
    save_file(weights, str(run / "model.safetensors"), metadata=metadata)
    before = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", str(run), "--out", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "non-finite predictions" in err and "rows [" in err and "train.lr" in err
    assert json.loads((run / "metrics.json").read_text()) == before and not (tmp_path / "eval").exists()
