import numpy as np
import pytest
import torch

from seafloorhmc import Taxonomy
from seafloorhmc.losses import RareNodeLoss, WeightSchedule, focal_factor, mcloss_elements, node_weights
from seafloorhmc.testing.reference import (
    dense_mcloss,
    dense_node_weights,
    dense_uncertainty,
    random_targets,
    random_taxonomy,
)

CASES = [(13, False), (250, False), (499, False), (120, True), (300, True)]


def dense_rare_node_elements(z, y, tax, w_pos, w_neg, target, mode, k, fmin, known=None):
    """[M, B, N] reference: a · φ · BCE from the spec's equations, masked, in float64."""
    R = tax.descendant_matrix().to(z.dtype)
    bce = torch.stack([dense_mcloss(z[h], y, R) for h in range(z.shape[0])])
    scale = torch.ones_like(y)
    if w_pos is not None:
        on_pos, on_neg = (w_pos, w_neg) if target == "positive" else (w_neg, w_pos)
        scale = y * on_pos + (1 - y) * on_neg
    if mode is not None:
        scale = scale * (fmin + dense_uncertainty(torch.sigmoid(z.detach()), mode) ** k)
    mask = tax.eval_mask.to(z.dtype).expand_as(y)
    if known is not None:
        mask = mask * known
    return bce * scale * mask


@pytest.mark.parametrize("n, dag", CASES)
def test_mcloss_matches_dense_reference(n, dag, gen):
    tax = random_taxonomy(n, seed=n, dag=dag)
    y = random_targets(tax, 24, seed=n).double()
    z = torch.randn(3, 24, n, generator=gen, dtype=torch.float64)
    R = tax.descendant_matrix().double()
    expected = torch.stack([dense_mcloss(z[h], y, R) for h in range(3)])
    torch.testing.assert_close(mcloss_elements(z, y, tax), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n, dag", CASES)
@pytest.mark.parametrize("mode", ["class-wise", "binary"])
@pytest.mark.parametrize("omega", [0.25, 1.0])
def test_node_weights_match_dense_reference(n, dag, mode, omega):
    tax = random_taxonomy(n, seed=n, dag=dag)
    y = random_targets(tax, 200, seed=1, labels_per_row=1)
    w_pos, w_neg = node_weights(y, tax, mode=mode, omega=omega, dtype=torch.float64)
    expected = dense_node_weights(y, tax.descendant_matrix(), mode, omega)
    torch.testing.assert_close(w_pos, expected, rtol=1e-12, atol=1e-9)
    assert torch.equal(w_neg, torch.ones_like(w_neg))
    assert w_pos.min() == pytest.approx(omega)


def test_node_weights_hand_computed():
    # root -> a -> b ; root -> c ; 4 rows: [b], [a], [c], [c]  (ancestor-closed)
    tax = Taxonomy.from_edges([("root", "a"), ("a", "b"), ("root", "c")])
    rows = [tax.encode([label], complete=True)[0] for label in ["b", "a", "c", "c"]]
    y = torch.stack(rows)
    i = tax.index
    # counts n: root 4, a 2, b 1, c 2 ; aggregated f: root 4+2+1+2=9, a 2+1=3, b 1, c 2
    f = {"root": 9, "a": 3, "b": 1, "c": 2}
    raw = {k: 4 / (4 * v) for k, v in f.items()}  # K = 4 nodes (class-wise)
    lo, hi = min(raw.values()), max(raw.values())
    expected = {k: 0.25 + hi * (v - lo) / (hi - lo) for k, v in raw.items()}
    w_pos, _ = node_weights(y, tax, "class-wise", 0.25, dtype=torch.float64)
    for name, value in expected.items():
        assert w_pos[i[name]].item() == pytest.approx(value)
    assert w_pos[i["b"]].item() == pytest.approx(0.25 + 1.0)  # the rarest node gets ω + w_max


def test_node_weight_edge_cases():
    tax = Taxonomy.from_edges([("root", "a"), ("root", "never")])
    y = torch.stack([tax.encode(["a"], complete=True)[0]] * 3)
    w_pos, _ = node_weights(y, tax, "class-wise", 0.25, dtype=torch.float64)
    # f(never) = 0 -> raw 1; f(a) = 3 = N (always on) -> raw 1; f(root) = 6 -> raw 3/(3*6)
    raw_root = 3 / (3 * 6)
    assert w_pos[tax.index["never"]].item() == pytest.approx(0.25 + 1.0)
    assert w_pos[tax.index["a"]].item() == pytest.approx(0.25 + 1.0)
    assert w_pos[tax.index["root"]].item() == pytest.approx(0.25)
    assert raw_root < 1
    w_pos, _ = node_weights(torch.zeros(5, len(tax)), tax)
    assert torch.equal(w_pos, torch.ones(len(tax))), "equal raw weights leave nothing to rescale"


def test_negative_weight_options():
    tax = random_taxonomy(40, seed=0)
    y = random_targets(tax, 50, seed=0)
    w_pos, w_common = node_weights(y, tax, negative="common")
    assert torch.equal(w_pos, w_common)
    _, w_inv = node_weights(y, tax, negative="inverse", dtype=torch.float64)
    counts = (y > 0.5).double().sum(0)
    inverse_freq = tax.descendant_matrix().double() @ (50 - counts)
    raw = torch.where((inverse_freq == 0) | (inverse_freq == 50), torch.ones_like(inverse_freq),
                      50 / (40 * inverse_freq))
    expected = 0.25 + raw.max() * (raw - raw.min()) / (raw.max() - raw.min())
    torch.testing.assert_close(w_inv, expected)
    with pytest.raises(ValueError, match="unknown node weight mode 'inverse-freq'"):
        node_weights(y, tax, mode="inverse-freq")


def test_weight_selection_example_from_spec():
    """Spec §3.3: w+ = (10, 20, 30), w- = 1, labels [[1,0,1],[0,1,0]]."""
    tax = Taxonomy(["a", "b", "c"], [], exclude_from_eval=[])
    w = (torch.tensor([10.0, 20.0, 30.0]), torch.ones(3))
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    z = torch.zeros(1, 2, 3)
    released = RareNodeLoss(tax, w, weight_target="negative").cell_weights(z, y)
    assert torch.equal(released, torch.tensor([[1.0, 20.0, 1.0], [10.0, 1.0, 30.0]]))
    described = RareNodeLoss(tax, w, weight_target="positive").cell_weights(z, y)
    assert torch.equal(described, torch.tensor([[10.0, 1.0, 30.0], [1.0, 20.0, 1.0]]))


@pytest.mark.parametrize("n, dag", CASES)
@pytest.mark.parametrize("target", ["positive", "negative"])
@pytest.mark.parametrize("mode", [None, "bma", "predictive", "aleatoric", "epistemic_js", "epistemic_kl", "gmu"])
def test_rare_node_loss_elementwise_matches_dense(n, dag, target, mode, gen):
    tax = random_taxonomy(n, seed=n, dag=dag)
    y = random_targets(tax, 10, seed=n + 1).double()
    z = 2 * torch.randn(4, 10, n, generator=gen, dtype=torch.float64)
    w_pos, w_neg = node_weights(random_targets(tax, 100, seed=3), tax, dtype=torch.float64)
    fn = RareNodeLoss(tax, (w_pos, w_neg), weight_target=target, uncertainty=mode, focal_k=2.0,
                      focal_min=0.25, reduction="none")
    expected = dense_rare_node_elements(z, y, tax, w_pos, w_neg, target, mode, 2.0, 0.25)
    # epistemic_kl is unbounded, so large cells get a relative tolerance too: the dense reference
    # computes log(1 - σ(z)) and loses ~1e-8 relative precision near saturation.
    torch.testing.assert_close(fn(z, y), expected, rtol=1e-7, atol=1e-6)


def test_reductions_and_masks(gen):
    tax = random_taxonomy(60, seed=1)
    y = random_targets(tax, 8, seed=1)
    known = torch.rand(8, 60, generator=gen) > 0.2
    z = torch.randn(5, 8, 60, generator=gen, dtype=torch.float64)
    weights = node_weights(y, tax, dtype=torch.float64)
    kwargs = dict(weights=weights, uncertainty="gmu")
    none = RareNodeLoss(tax, reduction="none", **kwargs)(z, y, known)
    assert (none[:, ~(known & tax.eval_mask)] == 0).all()
    total = RareNodeLoss(tax, reduction="sum", **kwargs)(z, y, known)
    mean = RareNodeLoss(tax, reduction="mean", **kwargs)(z, y, known)
    torch.testing.assert_close(total, none.sum())
    cells = (known & tax.eval_mask).sum() * 5
    torch.testing.assert_close(mean, none.sum() / cells)


@pytest.mark.parametrize("dag", [False, True])
def test_gradient_matches_dense_autograd(dag, gen):
    tax = random_taxonomy(150, seed=2, dag=dag)
    y = random_targets(tax, 12, seed=2).double()
    weights = node_weights(random_targets(tax, 80, seed=5), tax, dtype=torch.float64)
    z = torch.randn(3, 12, 150, generator=gen, dtype=torch.float64)
    fast = z.clone().requires_grad_(True)
    RareNodeLoss(tax, weights, uncertainty="bma", reduction="sum")(fast, y).backward()
    dense = z.clone().requires_grad_(True)
    dense_rare_node_elements(dense, y, tax, *weights, "positive", "bma", 1.0, 0.25).sum().backward()
    torch.testing.assert_close(fast.grad, dense.grad, rtol=1e-6, atol=1e-9)


def test_float32_loss_and_gradient_track_float64(gen):
    tax = random_taxonomy(499, seed=7)
    y = random_targets(tax, 32, seed=7)
    z = torch.randn(4, 32, 499, generator=gen)
    weights = node_weights(y, tax)
    fn = RareNodeLoss(tax, weights, uncertainty="bma")
    z32 = z.clone().requires_grad_(True)
    fn(z32, y).backward()
    z64 = z.double().requires_grad_(True)
    fn(z64, y.double()).backward()
    torch.testing.assert_close(z32.grad.double(), z64.grad, rtol=1e-4, atol=1e-9)


def test_focal_factor():
    u = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(focal_factor(u, 1.0, 0.25), torch.tensor([0.25, 0.75, 1.25]))
    assert torch.allclose(focal_factor(u, 2.0, 0.1), torch.tensor([0.1, 0.35, 1.1]))
    with pytest.raises(ValueError):
        focal_factor(u, 0)


@pytest.mark.parametrize(
    "kind, per, expected",
    [
        ("linear", "epoch", [0.0, 1 / 3, 2 / 3, 1.0]),
        ("exponential", "epoch", [0.0, (1 / 3) ** 3, (2 / 3) ** 3, 1.0]),
        ("alternating", "epoch", [0.0, 1.0, 0.0, 1.0]),
        ("none", "run", [0.0, 0.0, 0.0, 0.0]),
    ],
)
def test_schedule_factors(kind, per, expected):
    schedule = WeightSchedule(kind, k=3.0, per=per)
    assert [schedule.factor(i, 4) for i in range(4)] == pytest.approx(expected)


def test_schedule_moves_weights_to_uniform_omega(gen):
    tax = random_taxonomy(40, seed=3)
    y = random_targets(tax, 6, seed=3)
    z = torch.randn(2, 6, 40, generator=gen, dtype=torch.float64)
    weights = node_weights(y, tax, omega=0.3, dtype=torch.float64)
    fn = RareNodeLoss(tax, weights, schedule=WeightSchedule("linear"), omega=0.3, reduction="sum")
    fn.set_progress(9, 10)  # end of the ramp: every weight is ω
    plain = RareNodeLoss(tax, reduction="sum")(z, y)
    torch.testing.assert_close(fn(z, y), 0.3 * plain)
    fn.set_progress(0, 10)
    torch.testing.assert_close(fn(z, y), RareNodeLoss(tax, weights, reduction="sum")(z, y))


def test_mixed_loss_blends_weighted_and_plain(gen):
    tax = random_taxonomy(40, seed=4)
    y = random_targets(tax, 6, seed=4)
    z = torch.randn(3, 6, 40, generator=gen, dtype=torch.float64)
    weights = node_weights(y, tax, dtype=torch.float64)
    weighted = RareNodeLoss(tax, weights, uncertainty="bma")(z, y)
    plain = RareNodeLoss(tax)(z, y)
    mixed = RareNodeLoss(tax, weights, uncertainty="bma", mixed_lambda=0.3)(z, y)
    torch.testing.assert_close(mixed, 0.3 * weighted + 0.7 * plain)


def test_bad_arguments_are_named():
    tax = random_taxonomy(5, seed=0)
    with pytest.raises(ValueError, match="weight_target"):
        RareNodeLoss(tax, weight_target="both")
    with pytest.raises(ValueError, match="unknown uncertainty mode 'variance'"):
        RareNodeLoss(tax, uncertainty="variance")
    with pytest.raises(ValueError, match=r"w_pos must have shape \[5\]"):
        RareNodeLoss(tax, weights=(torch.ones(4), torch.ones(4)))
    with pytest.raises(ValueError, match="expected member logits"):
        RareNodeLoss(tax)(torch.zeros(2, 3, 5), torch.zeros(4, 5))


def test_saturated_logits_stay_finite():
    tax = random_taxonomy(20, seed=1)
    y = random_targets(tax, 4, seed=1)
    z = (torch.where(y > 0, -200.0, 200.0)).expand(3, 4, 20).clone().requires_grad_(True)
    loss = RareNodeLoss(tax)(z, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert np.isclose(loss.item(), -np.log(1e-38), rtol=1e-3)
