import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from seafloorhmc import Taxonomy, max_constraint
from seafloorhmc.constraint import gather_winners, winner_index
from seafloorhmc.testing.reference import dense_max_constraint, random_taxonomy

CASES = [(13, False), (120, False), (400, False), (150, True), (350, True)]


@pytest.mark.parametrize("n, dag", CASES)
@pytest.mark.parametrize("space", ["probabilities", "logits"])
def test_matches_dense_definition_float64(n, dag, space, gen):
    tax = random_taxonomy(n, seed=n, dag=dag)
    R = tax.descendant_matrix()
    x = torch.randn(7, 5, n, generator=gen, dtype=torch.float64)
    if space == "probabilities":
        x = torch.sigmoid(x)
    out = max_constraint(x, tax)
    assert out.shape == x.shape
    torch.testing.assert_close(out, dense_max_constraint(x, R), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n, dag", CASES)
def test_float32_and_bfloat16_are_exact(n, dag, gen):
    tax = random_taxonomy(n, seed=n + 1, dag=dag)
    R = tax.descendant_matrix()
    x = torch.randn(33, n, generator=gen)
    x.requires_grad_(True)
    assert torch.equal(max_constraint(x, tax), dense_max_constraint(x.detach(), R))
    xb = x.detach().bfloat16()
    assert torch.equal(max_constraint(xb, tax), dense_max_constraint(xb, R))


def test_handles_infinities_and_negative_values(gen):
    tax = random_taxonomy(90, seed=2, dag=True)
    R = tax.descendant_matrix()
    x = torch.randn(16, 90, generator=gen)
    x[torch.rand(16, 90, generator=gen) < 0.5] = float("-inf")
    x[0, 5] = float("inf")
    for grad in (False, True):
        xi = x.clone().requires_grad_(grad)
        assert torch.equal(max_constraint(xi, tax), dense_max_constraint(x, R))


@pytest.mark.parametrize("n, dag", CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gradient_matches_dense_autograd(n, dag, dtype, gen):
    tax = random_taxonomy(n, seed=n + 2, dag=dag)
    R = tax.descendant_matrix()
    x = torch.randn(6, n, generator=gen, dtype=dtype)
    upstream = torch.randn(6, n, generator=gen, dtype=dtype)
    fast = x.clone().requires_grad_(True)
    (max_constraint(fast, tax) * upstream).sum().backward()
    dense = x.clone().requires_grad_(True)
    (dense_max_constraint(dense, R) * upstream).sum().backward()
    torch.testing.assert_close(fast.grad, dense.grad, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_gradcheck_float64():
    tax = random_taxonomy(25, seed=9, dag=True)
    x = torch.randn(3, 25, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: max_constraint(t, tax), (x,))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tiered_winners_give_h_and_h_plus(dtype, gen):
    """Positive nodes take the max over positive descendants, negative nodes over all."""
    tax = random_taxonomy(200, seed=4, dag=True)
    R = tax.descendant_matrix()
    picks = torch.randint(0, 200, (12, 3), generator=gen)
    targets = torch.stack([tax.encode(row.tolist(), complete=True)[0] for row in picks]).to(dtype)
    x = torch.randn(4, 12, 200, generator=gen, dtype=dtype)
    h = dense_max_constraint(x, R)
    h_pos = dense_max_constraint(torch.where(targets > 0, x, torch.tensor(float("-inf"), dtype=dtype)), R)
    expected = torch.where(targets > 0, h_pos, h)
    got = gather_winners(x, winner_index(x, tax, targets > 0))
    assert torch.equal(got, expected)


class ShapeRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_dense_batch_by_nodes_by_nodes_tensor(dtype):
    """Every intermediate tensor stays O(B·(N+E)); a B×N×N broadcast would be 400× larger."""
    n, batch = 800, 8
    tax = random_taxonomy(n, seed=1, dag=True)
    x = torch.randn(batch, n, dtype=dtype, requires_grad=True)
    targets = (torch.rand(batch, n) < 0.1)
    recorder = ShapeRecorder()
    with recorder:
        out = max_constraint(x, tax)
        out.sum().backward()
        gather_winners(x, winner_index(x, tax, targets)).sum().backward()
    budget = 4 * batch * (n + tax.num_edges)
    assert recorder.largest <= budget < batch * n * n


def test_rejects_wrong_width():
    tax = Taxonomy.from_paths(["a/b"])
    with pytest.raises(ValueError, match="3 != 2"):
        max_constraint(torch.zeros(4, 3), tax)
