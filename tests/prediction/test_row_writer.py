"""The predictions file written in a child process: the same bytes, errors raised, no process left."""

import numpy as np
import pytest

from seafloorhmc.prediction.items import PredictionItem
from seafloorhmc.prediction.row_writer import BackgroundRowWriter, RowBatch, RowWriter, open_row_writer
from seafloorhmc.prediction.table import PredictionTable
from seafloorhmc.taxonomy import Taxonomy

TAXONOMY = Taxonomy.from_paths(["Biota > Echinoderms > Urchins", "Biota > Sponges"], sep=" > ")
ITEMS = [PredictionItem(f"img{i}.jpg", f"img{i}.jpg") for i in range(7)]


def _batch(indices, errors=()):
    """Decisions for ``indices`` made up from their numbers, so every row differs."""
    n, nodes = len(indices), len(TAXONOMY)
    rng = np.random.default_rng(sum(indices) + 1)
    probs = rng.random((n, nodes)).astype(np.float32)
    return RowBatch(list(indices), list(errors), probs, probs > 0.5, rng.random(n).astype(np.float32),
                    rng.random(n) > 0.5, np.argsort(-probs, axis=1)[:, :2], (probs.max(1, keepdims=True) * 100).astype(
                        np.int64).repeat(2, 1), probs > 0.7)


BATCHES = [_batch([2, 3], [(4, "image img4.jpg: unreadable")]), _batch([0, 1]), _batch([5, 6])]  # out of order


def _write(writer, review):
    for batch in BATCHES:
        writer.add(batch)
    return writer.finish(review)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="forks a process")
def test_the_background_writer_writes_the_bytes_of_the_inline_one(tmp_path):
    table = PredictionTable(TAXONOMY, ITEMS, top_k=2)
    inline = _write(RowWriter(tmp_path / "a.csv", table, ITEMS), tmp_path / "a-review.csv")
    background = BackgroundRowWriter(tmp_path / "b.csv", table, ITEMS)
    assert _write(background, tmp_path / "b-review.csv") == inline == 7
    background.close()
    assert (tmp_path / "b.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()
    assert (tmp_path / "b-review.csv").read_bytes() == (tmp_path / "a-review.csv").read_bytes()
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [item.name for item in ITEMS], "input order"
    assert (tmp_path / "a-review.csv").read_text().splitlines()[-1].startswith("img4.jpg"), "errors last"
    assert not background._process.is_alive()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="forks a process")
def test_an_error_in_the_child_is_raised_by_finish(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise ValueError("cannot format row")

    monkeypatch.setattr(PredictionTable, "rows", broken)  # the fork inherits it
    writer = BackgroundRowWriter(tmp_path / "b.csv", PredictionTable(TAXONOMY, ITEMS), ITEMS)
    for batch in BATCHES:
        writer.add(batch)  # the child keeps reading after the error: nothing blocks
    with pytest.raises(ValueError, match="cannot format row"):
        writer.finish(None)
    writer.close()
    assert not writer._process.is_alive()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="forks a process")
def test_close_without_finish_stops_the_child(tmp_path):
    writer = open_row_writer(tmp_path / "b.csv", PredictionTable(TAXONOMY, ITEMS), ITEMS, background=True)
    assert isinstance(writer, BackgroundRowWriter)
    writer.add(BATCHES[0])
    writer.close()
    assert not writer._process.is_alive()
    inline = open_row_writer(tmp_path / "c.csv", PredictionTable(TAXONOMY, ITEMS), ITEMS, background=False)
    assert isinstance(inline, RowWriter)
    inline.close()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="forks a process")
def test_the_child_ends_when_the_parent_is_gone(tmp_path):
    """A parent killed without a word closes its end of the pipe: the child stops instead of waiting forever."""
    writer = BackgroundRowWriter(tmp_path / "b.csv", PredictionTable(TAXONOMY, ITEMS), ITEMS)
    writer.add(BATCHES[0])
    writer._connection.close()  # what the parent's death does to the pipe
    writer._process.join(10)
    assert writer._process.exitcode == 0, "ended quietly"
