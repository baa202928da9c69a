"""Training batches never end with a batch of one; everything else batches as before."""

from __future__ import annotations

import pytest

from seafloorhmc.data.loaders import EpochLoader, FoldingBatchSampler, batch_count


@pytest.mark.parametrize("n, batch, sizes", [
    (24, 23, [24]),           # 24 % 23 == 1: the lone image joins the batch before it
    (26, 5, [5, 5, 5, 5, 6]),
    (25, 8, [8, 8, 9]),
    (24, 8, [8, 8, 8]),       # nothing to fold
    (23, 8, [8, 8, 7]),
    (1, 8, [1]),              # a split of one image has nothing to join
    (9, 4, [4, 5]),
])
def test_a_last_batch_of_one_joins_the_batch_before_it(n, batch, sizes):
    batches = list(FoldingBatchSampler(list(range(n)), batch))
    assert [len(b) for b in batches] == sizes
    assert [i for b in batches for i in b] == list(range(n)), "every example once, in order"
    assert len(FoldingBatchSampler(list(range(n)), batch)) == len(sizes) == batch_count(n, batch, fold_single=True)


def test_the_training_loader_folds_and_the_evaluation_loader_does_not():
    data = [{"x": i} for i in range(25)]
    train = EpochLoader(data, 8, shuffle=True, seed=0, fold_single=True)
    evaluate = EpochLoader(data, 8, shuffle=False, seed=0)
    assert [len(b["x"]) for b in train] == [8, 8, 9] and len(train) == 3
    assert [len(b["x"]) for b in evaluate] == [8, 8, 8, 1] and len(evaluate) == 4
    train.set_epoch(1)
    assert sorted(int(i) for b in train for i in b["x"]) == list(range(25))
