import math

import pytest
import torch

from seafloorhmc.models.heads import EnsembleMLPHead, MCDropoutHead, head_dropout


def loop_reference(head, features, member):
    """One member's MLP written as plain per-layer matmuls (eval mode: no dropout)."""
    x = features
    layers = len(head.mlp.weights)
    for i in range(layers):
        single = head.mlp.biases[i].shape[0] == 1
        w = head.mlp.member_weight(i, 0 if single else member)
        b = head.mlp.biases[i][0 if single else member]
        x = x @ w + b
        if i < layers - 1:
            x = torch.relu(x)
    return x


def test_ensemble_members_equal_independent_mlps(gen):
    head = EnsembleMLPHead(12, 9, members=5, hidden=7).eval()
    features = torch.randn(6, 12, generator=gen)
    out = head(features)
    assert out.shape == (5, 6, 9)
    for m in range(5):
        torch.testing.assert_close(out[m], loop_reference(head, features, m))
    assert not torch.allclose(out[0], out[1]), "members are initialised independently"


def test_ensemble_dropout_only_in_training(gen):
    head = EnsembleMLPHead(12, 9, members=3, hidden=16, dropout=0.5)
    x = torch.randn(4, 12, generator=gen)
    head.train()
    assert not torch.equal(head(x), head(x))
    head.eval()
    assert torch.equal(head(x), head(x))


def test_mc_dropout_samples_in_one_batched_pass(gen):
    head = MCDropoutHead(12, 9, samples=6, hidden=16, dropout=0.5).eval()
    x = torch.randn(4, 12, generator=gen)
    a = head(x)
    assert a.shape == (6, 4, 9)
    assert not torch.equal(a[0], a[1]), "samples draw different masks"
    head.mc_inference = False
    deterministic = head(x)
    assert deterministic.shape == (1, 4, 9)
    torch.testing.assert_close(deterministic[0], loop_reference(head, x, 0))
    # the mean of many samples approaches the deterministic pass (inverted dropout keeps the scale)
    head.mc_inference, head.members = True, 4000
    torch.testing.assert_close(head(x).mean(0), deterministic[0], atol=0.15, rtol=0.1)


def test_gradients_reach_every_member(gen):
    head = EnsembleMLPHead(5, 3, members=4, hidden=6, dropout=0.0)
    head(torch.randn(2, 5, generator=gen)).sum().backward()
    for i in range(len(head.mlp.weights)):
        for m in range(4):
            assert head.mlp.weights[i].grad is not None
            grad = head.mlp.weights[i].grad
            member_grad = grad[:, m] if i == 0 else grad[m]
            assert member_grad.abs().sum() > 0


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_head_dropout_keeps_with_probability_one_minus_p_and_rescales(p):
    torch.manual_seed(0)
    x = torch.rand(200, 500) + 0.5  # strictly positive, so a zero output means "dropped"
    x.requires_grad_(True)
    y = head_dropout(x, p, training=True)
    kept = y != 0
    n = kept.numel()
    # binomial: the kept share lies within 5 standard deviations of 1 - p
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    y.sum().backward()  # the gradient is the same mask and scale as the forward pass
    torch.testing.assert_close(x.grad, kept.float() / (1 - p))


def test_head_dropout_is_the_identity_in_eval_and_zero_at_p_one():
    x = torch.randn(3, 4)
    assert head_dropout(x, 0.7, training=False) is x
    assert head_dropout(x, 0.0, training=True) is x
    assert torch.equal(head_dropout(x, 1.0, training=True), torch.zeros_like(x))
