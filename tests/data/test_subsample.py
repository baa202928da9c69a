import numpy as np
import pytest
import torch

from seafloorhmc.config import ConfigError, load_config
from seafloorhmc.data.subsample import (
    draw_subset,
    priority_order,
    subsample_seed,
    subset_for_config,
    subset_record,
    subset_size,
)
from seafloorhmc.utils.derived_seeds import derive_seed


def random_targets(rows=200, nodes=12, seed=0):
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.5, 0.01, nodes)  # some nodes rare
    return (rng.random((rows, nodes)) < rates).astype(np.float32)


def test_subset_size_rounds_fractions_and_takes_counts():
    assert subset_size(200, 0.05) == 10
    assert subset_size(10, 0.25) == 3  # 2.5 rounds half up
    assert subset_size(10, 0.01) == 1  # never empty
    assert subset_size(10, 1.0) == 10
    assert subset_size(10, count=4) == 4
    assert subset_size(10) == 10


@pytest.mark.parametrize("fraction, count, message", [
    (0.5, 3, "not both"), (1.5, None, r"fraction must lie in \(0, 1\], got 1.5"), (0.0, None, "got 0.0"),
    (None, 11, "training count 11 must lie between 1 and the 10 rows"), (None, 0, "training count 0"),
])
def test_subset_size_errors_name_the_value(fraction, count, message):
    with pytest.raises(ValueError, match=message):
        subset_size(10, fraction, count)


def test_subsets_of_one_seed_are_nested():
    targets = random_targets()
    sizes = [draw_subset(targets, seed=7, fraction=f).indices for f in (0.05, 0.1, 0.25, 0.5, 1.0)]
    for small, large in zip(sizes, sizes[1:]):
        assert set(small) < set(large)
    assert len(sizes[0]) == 10 and np.array_equal(sizes[-1], np.arange(200))
    # same seed, same subset (every method shares it); another seed, another subset
    assert np.array_equal(draw_subset(targets, seed=7, fraction=0.1).indices, sizes[1])
    assert not np.array_equal(draw_subset(targets, seed=8, fraction=0.1).indices, sizes[1])


def test_plain_order_is_the_seeded_permutation():
    targets = random_targets(rows=30)
    expected = np.random.default_rng(3).permutation(30)
    assert np.array_equal(priority_order(targets, 3), expected)
    assert np.array_equal(draw_subset(targets, 3, count=5).indices, np.sort(expected[:5]))


def test_hierarchy_aware_order_places_the_rarest_nodes_first():
    # nodes: 0 root (4 rows), 1 A (3 rows), 2 B (1 row: row 3), 3 C (never positive)
    targets = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0]], dtype=np.float32)
    permutation = np.random.default_rng(5).permutation(4)
    first_a = next(int(r) for r in permutation if r in (0, 1, 2))
    expected = [3, first_a] + [int(r) for r in permutation if r not in (3, first_a)]
    assert priority_order(targets, 5, hierarchy_aware=True).tolist() == expected
    assert draw_subset(targets, 5, count=1, hierarchy_aware=True).indices.tolist() == [3]  # the rarest node's row


def test_hierarchy_aware_subset_covers_every_node_the_budget_allows():
    targets = random_targets(rows=300, nodes=15, seed=1)
    present = targets.any(0)
    order = priority_order(targets, 0, hierarchy_aware=True)
    k = next(k for k in range(1, 301) if np.array_equal(targets[order[:k]].any(0), present))
    assert k <= int(present.sum())  # one row per node at most
    subset = draw_subset(targets, 0, count=k, hierarchy_aware=True)
    assert subset.info["nodes_present_subset"] == subset.info["nodes_present_pool"] == int(present.sum())
    plain = draw_subset(targets, 0, count=k)
    assert plain.info["nodes_present_subset"] < int(present.sum())  # a random subset of that size misses some
    nested = [set(draw_subset(targets, 0, fraction=f, hierarchy_aware=True).indices) for f in (0.01, 0.1, 0.5)]
    assert nested[0] < nested[1] < nested[2]


def test_torch_targets_are_accepted_and_bad_shapes_refused():
    targets = torch.from_numpy(random_targets(rows=20))
    assert len(draw_subset(targets, 0, fraction=0.5).indices) == 10
    with pytest.raises(ValueError, match=r"targets must be \[rows, nodes\]"):
        draw_subset(np.zeros(5), 0, fraction=0.5)


def test_config_subset_uses_the_named_or_derived_seed():
    targets = random_targets(rows=40)
    config = load_config(None, ["data.train_fraction=0.25", "seed=3"])
    derived = subset_for_config(config.data, targets, config.seed)
    assert derived.seed == subsample_seed(3) == derive_seed(3, "subsample")
    config = load_config(None, ["data.train_fraction=0.25", "data.subsample_seed=11"])
    assert subset_for_config(config.data, targets, 0).seed == 11
    assert subset_for_config(load_config(None, []).data, targets, 0) is None


def test_config_subset_errors_name_the_key():
    with pytest.raises(ConfigError, match="data.train_count: training count 50 must lie between 1 and the 40 rows"):
        subset_for_config(load_config(None, ["data.train_count=50"]).data, random_targets(rows=40), 0)
    with pytest.raises(ConfigError, match="data.train_fraction must lie in"):
        load_config(None, ["data.train_fraction=2"])
    with pytest.raises(ConfigError, match="give one of them, not both"):
        load_config(None, ["data.train_fraction=0.5", "data.train_count=3"])


def test_record_lists_indices_and_sources():
    subset = draw_subset(random_targets(rows=10), 0, count=3)
    record = subset_record(subset, [f"img{i}.png" for i in range(10)])
    assert record["subset"]["indices"] == subset.indices.tolist()
    assert record["subset"]["sources"] == [f"img{i}.png" for i in subset.indices]
    assert record["subset"]["size"] == 3 and record["subset"]["pool"] == 10 and record["lpros"] is None
    assert subset_record(None) is None
