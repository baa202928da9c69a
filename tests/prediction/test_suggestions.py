import pytest
import torch

from seafloorhmc import Taxonomy, max_constraint
from seafloorhmc.prediction.suggestions import (
    child_max,
    confidence_percent,
    decision_frontier,
    deepest_label_scores,
    deepest_predicted,
    path_max,
    row_uncertainty,
    top_k_suggestions,
)
from seafloorhmc.testing.reference import random_taxonomy

# A > {B > {C, D}, E > F}; canonical order: A, A/B, A/E, A/B/C, A/B/D, A/E/F
TREE = Taxonomy.from_paths(["A/B/C", "A/B/D", "A/E/F"])
# exactly representable values, so the ties below are exact
PROBS = {"A": 1.0, "A/B": 0.75, "A/E": 0.25, "A/B/C": 0.5, "A/B/D": 0.125, "A/E/F": 0.0625}


def _row(values: dict, tax: Taxonomy = TREE) -> torch.Tensor:
    return torch.tensor([[values[n] for n in tax.nodes]])


def test_deepest_label_scores_by_hand():
    scores = deepest_label_scores(_row(PROBS), TREE)[0]
    expected = {"A": 1.0 - 0.75, "A/B": 0.75 - 0.5, "A/E": 0.25 - 0.0625, "A/B/C": 0.5, "A/B/D": 0.125,
                "A/E/F": 0.0625}
    assert scores.tolist() == [expected[n] for n in TREE.nodes]
    # along the path A > B > C the "stop here" chances telescope to p(A)
    path = [TREE.index[n] for n in ("A", "A/B", "A/B/C")]
    assert scores[path].sum().item() == pytest.approx(1.0)


def test_top_k_orders_by_score_then_node_order_and_rounds_confidences():
    values = {**PROBS, "A/E": 0.3125, "A/E/F": 0.0625}  # s(A) = s(B) = 0.25 = s(E): a three-way tie
    nodes, scores = top_k_suggestions(_row(values), TREE, k=5)
    names = [TREE.nodes[i] for i in nodes[0].tolist()]
    assert names == ["A/B/C", "A", "A/B", "A/E", "A/B/D"]
    assert scores[0].tolist() == [0.5, 0.25, 0.25, 0.25, 0.125]
    assert confidence_percent(scores)[0].tolist() == [50, 25, 25, 25, 12]  # 12.5 rounds half to even


def test_top_k_larger_than_the_taxonomy_returns_every_node():
    nodes, scores = top_k_suggestions(_row(PROBS), TREE, k=50)
    assert nodes.shape == (1, len(TREE)) and sorted(nodes[0].tolist()) == list(range(len(TREE)))
    with pytest.raises(ValueError, match="k >= 1"):
        top_k_suggestions(_row(PROBS), TREE, k=0)


def test_confidence_percent_is_clamped_to_0_100():
    assert confidence_percent(torch.tensor([-0.2, 0.004, 0.995, 1.3])).tolist() == [0, 0, 100, 100]


def _consistent(tax: Taxonomy, batch: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return max_constraint(torch.rand(batch, len(tax), generator=gen, dtype=torch.float64) ** 2, tax)


@pytest.mark.parametrize("dag", [False, True])
def test_batch_functions_match_naive_loops(dag):
    tax = random_taxonomy(40, seed=3, dag=dag)
    probs = _consistent(tax, 16, seed=4)
    for b in range(probs.shape[0]):
        p = probs[b].tolist()
        naive_child_max = [max((p[c] for c in tax.children[i]), default=0.0) for i in range(len(tax))]
        assert child_max(probs, tax)[b].tolist() == naive_child_max
        assert deepest_label_scores(probs, tax)[b].tolist() == [max(p[i] - m, 0.0) for i, m in
                                                                 zip(range(len(tax)), naive_child_max)]
        mask = deepest_predicted(probs, tax, 0.3)[b]
        assert [tax.nodes[i] for i in torch.nonzero(mask).flatten().tolist()] == tax.decode(probs[b], 0.3)


def test_scores_along_any_tree_path_sum_to_at_most_one():
    tax = random_taxonomy(60, seed=5)
    scores = deepest_label_scores(_consistent(tax, 32, seed=6), tax)
    for leaf in tax.leaves:
        path = torch.from_numpy(tax.ancestors(leaf))
        assert (scores[:, path].sum(1) <= 1 + 1e-12).all()


def test_decision_frontier_by_hand():
    # A predicted (not evaluated: a root), B predicted, E not: C and D are open, F is decided by E.
    frontier = decision_frontier(_row(PROBS), TREE, threshold=0.5)[0]
    assert [TREE.nodes[i] for i in torch.nonzero(frontier).flatten().tolist()] == ["A/B", "A/E", "A/B/C", "A/B/D"]
    # nothing predicted: only the top evaluated level (B and E) is open
    none = decision_frontier(torch.zeros(1, len(TREE)), TREE, threshold=0.5)[0]
    assert [TREE.nodes[i] for i in torch.nonzero(none).flatten().tolist()] == ["A/B", "A/E"]


def test_row_uncertainty_is_that_of_what_the_row_predicts():
    u = _row({"A": 0.99, "A/B": 0.1, "A/E": 0.2, "A/B/C": 0.4, "A/B/D": 0.3, "A/E/F": 0.95})
    got = row_uncertainty(_row(PROBS), u, TREE, threshold=0.5)
    assert got.tolist() == pytest.approx([0.1])  # only B is predicted and evaluated (A is a root, C sits at 0.5)
    got = row_uncertainty(_row(PROBS), u, TREE, threshold=0.4)
    assert got.tolist() == pytest.approx([0.4])  # B and C predicted
    nothing = row_uncertainty(torch.zeros(1, len(TREE)), u, TREE, threshold=0.5)
    assert nothing.tolist() == pytest.approx([0.2])  # predicts none: its top-level "absent" decisions B, E
    with pytest.raises(ValueError, match="same shape"):
        row_uncertainty(_row(PROBS), u[:, :3], TREE)


def test_dag_child_with_an_unpredicted_parent_is_decided():
    tax = Taxonomy.from_edges([("R", "P"), ("R", "Q"), ("P", "X"), ("Q", "X")])
    probs = _row({"R": 1.0, "P": 0.9, "Q": 0.2, "X": 0.2}, tax)
    frontier = decision_frontier(probs, tax, 0.5)[0]
    assert [tax.nodes[i] for i in torch.nonzero(frontier).flatten().tolist()] == ["P", "Q"]


def test_wrong_width_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"\[B, 6\]"):
        child_max(torch.zeros(2, 5), TREE)


def test_a_head_decided_node_set_replaces_the_threshold():
    # the head decided A > E > F although no probability is above 0.5 there
    decided = _row({"A": 1, "A/B": 0, "A/E": 1, "A/B/C": 0, "A/B/D": 0, "A/E/F": 1}).bool()
    deepest = deepest_predicted(_row(PROBS), TREE, 0.5, predicted=decided)[0]
    assert [TREE.nodes[i] for i in torch.nonzero(deepest).flatten().tolist()] == ["A/E/F"]
    frontier = decision_frontier(_row(PROBS), TREE, 0.5, predicted=decided)[0]
    assert [TREE.nodes[i] for i in torch.nonzero(frontier).flatten().tolist()] == ["A/B", "A/E", "A/E/F"]
    with pytest.raises(ValueError, match="predicted .* same shape"):
        deepest_predicted(_row(PROBS), TREE, predicted=decided[:, :2])


def test_path_max_by_hand_and_against_ancestor_lists():
    u = _row({"A": 0.99, "A/B": 0.1, "A/E": 0.7, "A/B/C": 0.4, "A/B/D": 0.05, "A/E/F": 0.2})
    got = path_max(u, TREE)[0]
    expected = {"A": 0.0, "A/B": 0.1, "A/E": 0.7, "A/B/C": 0.4, "A/B/D": 0.1, "A/E/F": 0.7}  # the root is not evaluated
    assert got.tolist() == pytest.approx([expected[n] for n in TREE.nodes])
    for dag in (False, True):
        tax = random_taxonomy(30, seed=3, dag=dag)
        values = torch.rand(4, len(tax), generator=torch.Generator().manual_seed(0))
        reference = torch.stack([values[:, tax.ancestors(i)].amax(1) for i in range(len(tax))], dim=1)
        assert torch.equal(path_max(values, tax, evaluated_only=False), reference)
