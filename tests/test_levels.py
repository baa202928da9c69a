"""TaxonomyLevels: levels, stop slots, per-level labels, decided node sets, violations."""

import pytest
import torch

from seafloorhmc import Taxonomy
from seafloorhmc.data.records import Sample
from seafloorhmc.levels import LevelsError, TaxonomyLevels, keep_single_path, single_path_mask


@pytest.fixture
def unbalanced():
    # R > {A > {A1, A2}, B}: B is a leaf one level up
    return Taxonomy.from_paths(["R/A/A1", "R/A/A2", "R/B"])


def names(tax, levels, k):
    return [tax.names[n] + ("*" if stop else "") for n, stop in
            zip(levels.slot_node[k].tolist(), levels.slot_is_stop[k].tolist())]


def test_levels_skip_a_single_root_and_add_stop_slots_for_short_leaves(unbalanced):
    levels = TaxonomyLevels(unbalanced)
    assert levels.depths == [1, 2] and levels.sizes == [2, 3] and levels.num_slots == 5
    assert names(unbalanced, levels, 0) == ["A", "B"]
    assert names(unbalanced, levels, 1) == ["A1", "A2", "B*"]
    assert levels.slot_parent[1].tolist() == [0, 0, 1]  # A1, A2 under A; B's stop slot continues B
    assert levels.leaf_paths.tolist() == [[0, 0], [0, 1], [1, 2]]


def test_balanced_tree_has_no_stop_slots():
    tax = Taxonomy.from_paths(["R/A/A1", "R/A/A2", "R/B/B1"])
    levels = TaxonomyLevels(tax)
    assert not any(bool(s.any()) for s in levels.slot_is_stop)
    assert levels.num_slots == len(tax) - 1


def test_a_forest_classifies_its_roots_first():
    tax = Taxonomy.from_paths(["A/A1", "B/B1", "B/B2"])
    levels = TaxonomyLevels(tax)
    assert levels.depths == [0, 1]
    assert names(tax, levels, 0) == ["A", "B"]


def test_encode_full_short_partial_and_unlabelled_rows(unbalanced):
    levels = TaxonomyLevels(unbalanced)
    targets, _ = unbalanced.encode_batch([["R/A/A2"], ["R/B"], ["R/A"], ["R"]])
    assert levels.encode(targets).tolist() == [[0, 1], [1, 2], [0, -1], [-1, -1]]


def test_multi_path_row_is_an_error_naming_it_and_its_paths(unbalanced):
    levels = TaxonomyLevels(unbalanced)
    targets, _ = unbalanced.encode_batch([["R/A/A1"], ["R/A/A1", "R/B"]])
    with pytest.raises(LevelsError, match=r"img_7\.png has 2 label paths \('R/B', 'R/A/A1'\).*data.single_path=true"):
        levels.encode(targets, describe=lambda row: f"img_{row + 6}.png")
    with pytest.raises(LevelsError, match=r"^row 1 has 2 label paths"):
        levels.encode(targets)


def test_a_dag_is_refused_naming_the_node_with_two_parents():
    tax = Taxonomy.from_edges([("R", "A"), ("R", "B"), ("A", "C"), ("B", "C")])
    with pytest.raises(LevelsError, match=r"node 'C' has several parents \(A, B\)"):
        TaxonomyLevels(tax)


def test_multi_hot_and_violations_by_hand(unbalanced):
    levels = TaxonomyLevels(unbalanced)
    idx = unbalanced.index
    choices = torch.tensor([[0, 1],    # A, A2: consistent
                            [1, 0],    # B, A1: A1 is not under B
                            [0, 2],    # A, stop(B): the path jumps to B
                            [1, 2]])   # B, stop(B): consistent
    assert levels.violations(choices).tolist() == [False, True, True, False]
    hot = levels.multi_hot(choices)
    expected = [{"R", "R/A", "R/A/A2"}, {"R", "R/B", "R/A/A1"}, {"R", "R/A", "R/B"}, {"R", "R/B"}]
    for row, nodes in zip(hot, expected):
        assert set(torch.nonzero(row).flatten().tolist()) == {idx[n] for n in nodes}


def test_node_probabilities_are_softmax_within_each_level(unbalanced):
    levels = TaxonomyLevels(unbalanced)
    scores = torch.tensor([[1.0, 3.0, 0.0, 2.0, 1.0]])
    probs = levels.node_probabilities(scores)[0]
    idx = unbalanced.index
    e = torch.tensor([1.0, 3.0]).exp()
    f = torch.tensor([0.0, 2.0, 1.0]).exp()
    assert probs[idx["R"]] == 1.0
    assert probs[idx["R/A"]] == pytest.approx(float(e[0] / e.sum()))
    assert probs[idx["R/B"]] == pytest.approx(float(e[1] / e.sum()))
    assert probs[idx["R/A/A2"]] == pytest.approx(float(f[1] / f.sum()))


def test_single_path_filters(unbalanced):
    targets, _ = unbalanced.encode_batch([["R/A/A1"], ["R/A/A1", "R/B"], ["R/A", "R/A/A2"], []])
    assert single_path_mask(targets, unbalanced).tolist() == [True, False, True, True]
    samples = [Sample("a.png", ("R/A/A1",), (False,)), Sample("b.png", ("R/A/A1", "R/B"), (False, False)),
               Sample("c.png", ("R/A", "R/A/A2"), (False, False))]
    kept, dropped = keep_single_path(samples, unbalanced)
    assert [s.image for s in kept] == ["a.png", "c.png"] and dropped == 1
