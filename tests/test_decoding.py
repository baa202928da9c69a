"""Decoding per-level scores: independent argmax, best valid path, and their metrics."""

import itertools

import numpy as np
import pytest
import torch

from seafloorhmc import Taxonomy
from seafloorhmc.decoding import decode, decode_consistent, decode_independent, evaluate_decodings, level_metrics
from seafloorhmc.levels import TaxonomyLevels
from seafloorhmc.metrics import evaluate


@pytest.fixture
def tax():
    # unbalanced: leaves at depths 1, 2 and 3 (stop slots at levels 2 and 3)
    return Taxonomy.from_paths(["R/A/A1/X", "R/A/A1/Y", "R/A/A2", "R/B", "R/C/C1", "R/C/C2"])


def test_independent_is_the_argmax_of_each_level():
    tax = Taxonomy.from_paths(["R/A/A1", "R/A/A2", "R/B/B1"])
    levels = TaxonomyLevels(tax)
    scores = torch.tensor([[0.1, 0.9, 3.0, 0.0, 0.0],    # level 1: B; level 2: A1
                           [2.0, 1.0, 0.0, 0.5, 0.2]])   # A; A2
    assert decode_independent(scores, levels).tolist() == [[1, 0], [0, 1]]


def brute_force_best_path(scores, levels):
    """Enumerate every combination of one slot per level, keep the valid chains, take the best
    Σ log-softmax (an independent implementation of the consistent decoding)."""
    logp = [torch.log_softmax(s, -1) for s in levels.split(scores)]
    best, best_score = None, -np.inf
    for combo in itertools.product(*[range(n) for n in levels.sizes]):
        if any(int(levels.slot_parent[k][combo[k]]) != combo[k - 1] for k in range(1, len(combo))):
            continue
        score = sum(float(logp[k][c]) for k, c in enumerate(combo))
        if score > best_score:
            best, best_score = list(combo), score
    return best


def test_consistent_decoding_matches_brute_force_enumeration(tax):
    levels = TaxonomyLevels(tax)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(40, levels.num_slots, generator=gen) * 3
    got = decode_consistent(scores, levels)
    expected = [brute_force_best_path(row, levels) for row in scores]
    assert got.tolist() == expected
    assert not levels.violations(got).any()


def test_independent_decoding_can_violate_and_consistent_repairs_it():
    tax = Taxonomy.from_paths(["R/A/A1", "R/A/A2", "R/B/B1"])
    levels = TaxonomyLevels(tax)
    # level 1 narrowly prefers B, level 2 strongly prefers A1 (under A)
    scores = torch.tensor([[0.0, 0.1, 5.0, 0.0, 0.0]])
    assert levels.violations(decode(scores, levels, "independent")).tolist() == [True]
    assert decode(scores, levels, "consistent").tolist() == [[0, 0]]  # A, A1
    with pytest.raises(ValueError, match="decoding must be one of independent, consistent, got 'greedy'"):
        decode(scores, levels, "greedy")


def test_level_metrics_by_hand(tax):
    levels = TaxonomyLevels(tax)
    truth = torch.tensor([[0, 0, 0], [0, 0, -1], [1, 3, 3]])
    choices = torch.tensor([[0, 0, 0], [0, 1, 2], [1, 3, 0]])
    out = level_metrics(choices, truth, levels)
    assert out["accuracy_by_level"] == {"1": 1.0, "2": pytest.approx(2 / 3), "3": 0.5}
    assert out["path_accuracy"] == pytest.approx(1 / 3)
    assert out["hvr_levels"] == pytest.approx(float(levels.violations(choices).float().mean()))


def test_evaluate_decodings_scores_each_decoding_on_its_sets():
    tax = Taxonomy.from_paths(["R/A/A1", "R/A/A2", "R/B/B1"])
    levels = TaxonomyLevels(tax)
    targets, known = tax.encode_batch([["R/A/A1"], ["R/B/B1"]])
    scores = torch.tensor([[0.0, 0.1, 5.0, 0.0, 0.0],   # independent: B + A1 (violates); consistent: A/A1
                           [0.0, 2.0, 0.0, 0.0, 3.0]])  # both: B/B1
    probs = levels.node_probabilities(scores)
    choices = {name: decode(scores, levels, name) for name in ("independent", "consistent")}
    out = evaluate_decodings(probs, targets, tax, choices, known=known, main="independent")
    assert out["decoding"] == "independent"
    assert out["hvr"] == 0.5 and out["hvr_levels"] == 0.5 and out["consistent_hvr"] == 0.0
    assert out["path_accuracy"] == 0.5 and out["consistent_path_accuracy"] == 1.0
    # micro precision from the sets by hand: independent predicts {B, A1} + {B, B1} → 3 of 4 right
    assert out["micro_precision"] == pytest.approx(3 / 4) and out["consistent_micro_precision"] == 1.0
    assert out["au_prc"] == evaluate(probs, targets, tax)["au_prc"]  # probabilities, not sets
    flipped = evaluate_decodings(probs, targets, tax, choices, main="consistent")
    assert flipped["hvr"] == 0.0 and flipped["independent_hvr"] == 0.5
    with pytest.raises(ValueError, match="decoding 'top_down' was not computed"):
        evaluate_decodings(probs, targets, tax, choices, main="top_down")


def test_evaluate_takes_explicit_predicted_sets_instead_of_a_threshold():
    tax = Taxonomy.from_paths(["R/A", "R/B"])
    targets, _ = tax.encode_batch([["R/A"], ["R/B"]])
    probs = torch.tensor([[1.0, 0.4, 0.3], [1.0, 0.2, 0.45]])  # nothing above 0.5
    assert evaluate(probs, targets, tax)["micro_recall"] == 0.0
    predicted = torch.tensor([[1, 1, 0], [1, 0, 1]])
    assert evaluate(probs, targets, tax, predicted=predicted)["micro_recall"] == 1.0
    with pytest.raises(ValueError, match=r"predicted must hold only 0 and 1; predicted\[0, 0\]"):
        evaluate(probs, targets, tax, predicted=predicted * 2)
