import json

import pytest

from seafloorhmc.config import load_config
from seafloorhmc.experiments.grid import Cell
from seafloorhmc.experiments.results import cell_row, collect_rows, timing_columns
from seafloorhmc.utils.tables import read_table, write_table


def fake_run(folder, au_prc, seconds=(1.5, 2.25)):
    folder.mkdir(parents=True)
    metrics = {"au_prc": au_prc, "recall_by_depth": {"1": 0.5, "2": 0.25}, "per_node": [{"node": "a"}],
               "rare_nodes": ["a"], "split": "test", "data": {"train": 30, "subset": {"size": 30, "seed": 7}},
               "config": {"seed": 0, "loss": {"omega": 0.25, "mixed_lambda": None}}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    lines = "".join(f"{i + 1},0.5,{s}\n" for i, s in enumerate(seconds))
    (folder / "log.csv").write_text("epoch,train_loss,seconds\n" + lines)


def cells():
    config = load_config(None, [])
    return [Cell(index=i, id=f"c{i}", values={"method": m, "train_fraction": f}, config=config)
            for i, (m, f) in enumerate([("a", 0.5), ("a", 1.0), ("b", 0.5)])]


def test_rows_flatten_metrics_info_timing_and_config(tmp_path):
    fake_run(tmp_path / "c0", 0.25)
    row = cell_row(cells()[0], tmp_path / "c0")
    assert list(row)[:5] == ["cell", "index", "method", "train_fraction", "au_prc"]
    assert row["recall_by_depth.2"] == 0.25 and row["split"] == "test"
    assert row["data.subset.size"] == 30 and row["train_seconds"] == 3.75
    assert row["config.loss.omega"] == 0.25 and row["config.loss.mixed_lambda"] is None
    assert not any(k.startswith(("per_node", "rare_nodes")) for k in row)
    assert timing_columns(row) == ["train_seconds"]
    assert cell_row(cells()[1], tmp_path / "missing") is None


def test_unfinished_cells_are_left_out_and_order_is_the_grid(tmp_path):
    fake_run(tmp_path / "c2", 0.5)
    fake_run(tmp_path / "c0", 0.25)
    (tmp_path / "c1").mkdir()  # started, not finished
    rows = collect_rows(list(reversed(cells())), tmp_path)
    assert [r["cell"] for r in rows] == ["c0", "c2"]


def test_table_round_trip(tmp_path):
    rows = [{"cell": "x", "seed": 3, "au_prc": 0.1 + 0.2, "ok": True, "note": None, "name": "a,b"},
            {"cell": "y", "seed": 4, "au_prc": 1.0, "extra": "only here"}]
    write_table(rows, tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv")
    assert back[0] == {"cell": "x", "seed": 3, "au_prc": 0.1 + 0.2, "ok": True, "note": None, "name": "a,b",
                       "extra": None}
    assert back[1]["au_prc"] == 1.0 and isinstance(back[1]["au_prc"], float) and back[1]["extra"] == "only here"
    with pytest.raises(FileNotFoundError, match="results table .*nothing.csv does not exist"):
        read_table(tmp_path / "nothing.csv")


def test_corrupt_metrics_are_named(tmp_path):
    (tmp_path / "c0").mkdir()
    (tmp_path / "c0" / "metrics.json").write_text("{")
    with pytest.raises(ValueError, match=r"c0/metrics.json: not valid JSON .*delete the cell folder"):
        cell_row(cells()[0], tmp_path / "c0")


def test_validation_columns_are_the_selected_epochs_scores(tmp_path):
    """val_* columns: the selected epoch's validation metrics (metrics.json's ``validation``), else the
    log's val_* entries of that epoch; never another epoch's, never the test split's."""
    fake_run(tmp_path / "c0", 0.25)
    metrics = json.loads((tmp_path / "c0" / "metrics.json").read_text())
    metrics.update(selected_epoch=2, validation={"f1": 0.4, "au_prc": 0.7, "recall_by_depth": {"4": 0.125}})
    (tmp_path / "c0" / "metrics.json").write_text(json.dumps(metrics))
    row = cell_row(cells()[0], tmp_path / "c0")
    assert (row["val_f1"], row["val_au_prc"], row["val_recall_by_depth.4"]) == (0.4, 0.7, 0.125)
    assert row["au_prc"] == 0.25, "test columns unchanged"
    # an older run: no validation block, so the log row of the selected epoch (epoch 2, not the last)
    fake_run(tmp_path / "c1", 0.5)
    (tmp_path / "c1" / "log.csv").write_text("epoch,train_loss,val_f1,val_au_prc,seconds\n1,0.5,0.1,0.6,1\n"
                                             "2,0.4,0.3,0.8,1\n3,0.3,0.2,0.7,1\n")
    older = json.loads((tmp_path / "c1" / "metrics.json").read_text())
    (tmp_path / "c1" / "metrics.json").write_text(json.dumps({**older, "selected_epoch": 2}))
    row = cell_row(cells()[1], tmp_path / "c1")
    assert (row["val_f1"], row["val_au_prc"]) == (0.3, 0.8)
    assert "val_train_loss" not in row and not any(k.startswith("validation") for k in row)
