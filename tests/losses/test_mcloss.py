"""MCLoss in float32 against a float64 softplus reference over the whole logit range, both labels:
exact in the middle, and exactly what the module docstring says past its two ends."""

import math

import pytest
import torch

from seafloorhmc import Taxonomy
from seafloorhmc.losses.mcloss import mcloss_elements, weighted_mcloss_sum

TAX = Taxonomy.from_edges([("root", "a")])  # node a: a leaf whose ỹ is its own logit
CAP = -math.log(1e-38)  # 87.498


def losses_and_grads(z: torch.Tensor, label: float):
    """Node a's loss per logit (element path), the training path's total, and both paths' gradients."""
    logits = torch.stack([z, z], -1).unsqueeze(0)  # [1 member, B, 2]; the root equals a, so ỹ_a = z
    targets = torch.full((len(z), 2), label)
    weights = torch.tensor([0.0, 1.0]).expand(len(z), 2)  # count node a only
    fast = logits.clone().requires_grad_(True)
    total = weighted_mcloss_sum(fast, targets, weights, TAX)
    total.backward()
    element = logits.clone().requires_grad_(True)
    values = mcloss_elements(element, targets, TAX)[0, :, 1]
    values.sum().backward()
    assert total.item() == pytest.approx(values.sum().item(), rel=1e-6), "one formula, two gradients"
    return values.detach(), fast.grad[0, :, 1], element.grad[0, :, 1]


@pytest.mark.parametrize("label", [1.0, 0.0])
def test_mcloss_against_a_float64_reference(label):
    z = torch.linspace(-120, 120, 4801)
    sign = 2 * label - 1
    exact = z.double().neg().mul(sign).requires_grad_(True)
    reference = torch.nn.functional.softplus(exact)  # −log σ(s·z), s = 2y − 1
    reference.sum().backward()
    reference, ref_grad = reference.detach(), -sign * exact.grad  # d/dz
    loss, fast_grad, element_grad = losses_and_grads(z, label)
    margin = sign * z  # s·ỹ: positive = confidently right
    middle = (margin > -87.3) & (margin < 16.6)
    torch.testing.assert_close(loss[middle].double(), reference[middle], rtol=1e-6, atol=1e-7)
    for grad in (fast_grad, element_grad):
        torch.testing.assert_close(grad[middle].double(), ref_grad[middle], rtol=1e-6, atol=1e-7)
    right = margin > 16.7
    assert (loss[right] == 0).all() and (fast_grad[right] == 0).all() and (element_grad[right] == 0).all()
    assert (reference[right] < 6e-8).all(), "what the exact zero leaves out"
    wrong = margin < -87.6
    assert torch.allclose(loss[wrong].double(), torch.tensor(CAP, dtype=torch.float64), rtol=1e-6)
    assert (reference[wrong] > CAP).all() and reference[wrong].max() == pytest.approx(120)
    torch.testing.assert_close(fast_grad[wrong].double(), ref_grad[wrong])  # closed form: the true ∓1
    assert (element_grad[wrong] == 0).all(), "autograd through the clamp"


def test_pytorch_bce_on_probabilities_is_not_what_mcloss_does():
    """The docstring's contrast: BCE on σ(z) jumps to 100 for a negative target once σ rounds to 1."""
    z = torch.tensor([16.0, 17.0, 40.0])
    bce = torch.nn.functional.binary_cross_entropy(torch.sigmoid(z), torch.zeros(3), reduction="none")
    assert bce[0] == pytest.approx(16.0, abs=0.1) and (bce[1:] == 100).all()
    loss, _, _ = losses_and_grads(z, 0.0)
    torch.testing.assert_close(loss, z, rtol=1e-6, atol=0)
