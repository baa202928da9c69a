import math

import pytest
import torch

from seafloorhmc.testing.reference import dense_uncertainty
from seafloorhmc.uncertainty import MODES, node_uncertainty


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("members", [1, 2, 5, 20])
def test_matches_dense_reference(mode, members, gen):
    probs = torch.rand(members, 16, 37, generator=gen, dtype=torch.float64)
    probs[:, 0, :5] = torch.tensor([0.0, 1.0, 0.5, 1e-12, 1 - 1e-12], dtype=torch.float64)
    got = node_uncertainty(probs, mode)
    assert got.shape == (16, 37)
    torch.testing.assert_close(got, dense_uncertainty(probs, mode), rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", [m for m in MODES if m != "epistemic_kl"])
def test_bounded_modes_stay_in_unit_interval(mode, gen):
    probs = torch.rand(8, 64, 50, generator=gen) ** 3
    u = node_uncertainty(probs, mode)
    assert u.min() >= 0 and u.max() <= 1 + 1e-6


def test_hand_computed_values():
    probs = torch.tensor([[[0.9]], [[0.5]]], dtype=torch.float64)  # two members, one cell
    mean = 0.7
    assert node_uncertainty(probs, "bma").item() == pytest.approx(1 - abs(2 * mean - 1))
    h = lambda p: -(p * math.log2(p) + (1 - p) * math.log2(1 - p))  # noqa: E731
    assert node_uncertainty(probs, "predictive").item() == pytest.approx(h(0.7), abs=1e-8)
    assert node_uncertainty(probs, "aleatoric").item() == pytest.approx((h(0.9) + h(0.5)) / 2, abs=1e-8)
    js = h(0.7) - (h(0.9) + h(0.5)) / 2
    assert node_uncertainty(probs, "epistemic_js").item() == pytest.approx(js, abs=1e-8)
    std = math.sqrt(((0.9 - mean) ** 2 + (0.5 - mean) ** 2) / 1)
    gate = 1 - math.exp(-0.4 / (2 * std))
    assert node_uncertainty(probs, "gmu").item() == pytest.approx(1 - gate * 0.4, abs=1e-6)


def test_one_member_degenerate_cases(gen):
    probs = torch.rand(1, 10, 7, generator=gen, dtype=torch.float64)
    assert torch.equal(node_uncertainty(probs, "epistemic_js"), torch.zeros(10, 7, dtype=torch.float64))
    assert torch.equal(node_uncertainty(probs, "epistemic_kl"), torch.zeros(10, 7, dtype=torch.float64))
    torch.testing.assert_close(node_uncertainty(probs, "gmu"), node_uncertainty(probs, "bma"))


def test_agreeing_members_make_gmu_equal_bma(gen):
    probs = torch.rand(1, 10, 7, generator=gen).expand(6, 10, 7)
    torch.testing.assert_close(node_uncertainty(probs, "gmu"), node_uncertainty(probs, "bma"))


def test_no_gradient_and_code_aliases(gen):
    probs = torch.rand(3, 4, 5, generator=gen, requires_grad=True)
    assert not node_uncertainty(probs, "bma").requires_grad
    torch.testing.assert_close(node_uncertainty(probs, "mean"), node_uncertainty(probs, "bma"))
    torch.testing.assert_close(node_uncertainty(probs, "pcs"), node_uncertainty(probs, "gmu"))
    with pytest.raises(ValueError, match="unknown uncertainty mode 'entropy'.*bma"):
        node_uncertainty(probs, "entropy")
