"""One label per point: best valid path (hand-computed and brute force), stopped at the threshold."""

from __future__ import annotations

import math

import pytest
import torch

from seafloorhmc.constraint import max_constraint
from seafloorhmc.levels import TaxonomyLevels
from seafloorhmc.prediction.single_label import SingleLabeller, single_labels
from seafloorhmc.taxonomy import Taxonomy

FOREST = ["Biota/Echinoderms/Sea stars", "Biota/Echinoderms/Sea urchins", "Biota/Sponges", "Substrate/Sand"]


@pytest.fixture
def forest() -> Taxonomy:
    return Taxonomy.from_paths(FOREST)


def _probs(taxonomy: Taxonomy, values: dict[str, float]) -> torch.Tensor:
    return torch.tensor([[values[node] for node in taxonomy.nodes]])


def test_hand_computed_best_path_and_threshold(forest):
    p = _probs(forest, {"Biota": 0.9, "Substrate": 0.3, "Biota/Echinoderms": 0.8, "Biota/Sponges": 0.4,
                        "Substrate/Sand": 0.2, "Biota/Echinoderms/Sea stars": 0.3,
                        "Biota/Echinoderms/Sea urchins": 0.6})
    # level shares: roots .9/1.2, .3/1.2; depth 1: .8, .4, .2 over 1.4; depth 2: stars .3, urchins .6, and the
    # leaves that ended (Sponges .4, Sand .2), over 1.5. Urchins: .75 * .8/1.4 * .6/1.5 = .171 beats stars .086,
    # Sponges .75 * .4/1.4 * .4/1.5 = .057 and Sand .25 * .2/1.4 * .2/1.5 = .005.
    label = lambda t: forest.nodes[int(single_labels(p, forest, t)[0])]  # noqa: E731
    assert label(0.5) == "Biota/Echinoderms/Sea urchins"
    assert label(0.65) == "Biota/Echinoderms"
    assert label(0.85) == "Biota"
    assert int(single_labels(p, forest, 0.95)[0]) == -1  # two roots, neither above: no label


def test_a_shallow_leaf_can_win(forest):
    p = _probs(forest, {"Biota": 0.95, "Substrate": 0.1, "Biota/Echinoderms": 0.45, "Biota/Sponges": 0.7,
                        "Substrate/Sand": 0.05, "Biota/Echinoderms/Sea stars": 0.44,
                        "Biota/Echinoderms/Sea urchins": 0.01})
    assert forest.nodes[int(single_labels(p, forest, 0.5)[0])] == "Biota/Sponges"


def _brute_force(probs: torch.Tensor, taxonomy: Taxonomy, threshold: float) -> list[int]:
    """Every root-to-leaf path scored level by level, written out independently of TaxonomyLevels."""
    depth = [int(d) for d in taxonomy.depth]
    leaves = [i for i in range(len(taxonomy)) if not taxonomy.children[i]]
    single_root = len(taxonomy.roots) == 1
    levels = range(1 if single_root else 0, max(depth) + 1)
    out = []
    for p in probs.tolist():
        best, best_score = None, -math.inf
        for leaf in leaves:
            chain = {depth[a]: int(a) for a in taxonomy.ancestors(leaf)}
            score = 0.0
            for d in levels:
                candidates = [i for i in range(len(taxonomy)) if depth[i] == d] + [
                    i for i in leaves if depth[i] < d]
                node = chain.get(d, leaf)
                score += math.log(max(p[node], 1e-12)) - math.log(sum(max(p[c], 1e-12) for c in candidates))
            if score > best_score:
                best, best_score = leaf, score
        path = [chain_node for _, chain_node in sorted({depth[a]: int(a) for a in taxonomy.ancestors(best)}.items())]
        kept = -1
        for node in path:
            if p[node] > threshold:
                kept = node
            else:
                break
        if single_root and kept == -1 and p[taxonomy.roots[0]] > threshold:
            kept = taxonomy.roots[0]
        out.append(kept)
    return out


@pytest.mark.parametrize("paths", [FOREST, ["Biota/A/A1", "Biota/A/A2/x", "Biota/B", "Biota/C/C1"]])
def test_matches_a_brute_force_search(paths):
    taxonomy = Taxonomy.from_paths(paths)
    gen = torch.Generator().manual_seed(0)
    probs = max_constraint(torch.rand(200, len(taxonomy), generator=gen), taxonomy)  # p(child) <= p(parent)
    for threshold in (0.3, 0.5, 0.7):
        assert single_labels(probs, taxonomy, threshold).tolist() == _brute_force(probs, taxonomy, threshold)


def test_single_root_is_the_label_when_nothing_below_clears():
    taxonomy = Taxonomy.from_paths(["Biota/A", "Biota/B"])
    p = _probs(taxonomy, {"Biota": 0.8, "Biota/A": 0.3, "Biota/B": 0.2})
    assert taxonomy.nodes[int(single_labels(p, taxonomy, 0.5)[0])] == "Biota"
    assert int(single_labels(p * 0.5, taxonomy, 0.5)[0]) == -1


def test_a_heads_own_consistent_decoding_is_followed(forest):
    levels = TaxonomyLevels(forest)
    p = torch.full((1, len(forest)), 0.9)
    sand = [int(levels.endpoint_slots[forest.resolve("Substrate/Sand"), k]) for k in range(len(levels))]
    choice = torch.tensor([sand])
    assert forest.nodes[int(SingleLabeller(forest)(p, 0.5, choice)[0])] == "Substrate/Sand"


def test_a_dag_is_refused():
    dag = Taxonomy.from_edges([("A", "C"), ("B", "C")])
    with pytest.raises(ValueError, match="needs a tree taxonomy"):
        SingleLabeller(dag)
