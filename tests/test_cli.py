import contextlib
import csv
import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from seafloorhmc.cli import SUMMARY_KEYS, main
from seafloorhmc.config import Config
from seafloorhmc.testing import write_tiny_hmc

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = write_tiny_hmc(tmp_path_factory.mktemp("hmc"))
    out = tmp_path_factory.mktemp("runs") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["train", str(CONFIGS / "chmcnn" / "cellcycle_FUN.yaml"), "--set", f"data.root={root}", "--set",
                     "data.dataset=toy_FUN", "--set", "train.epochs=2", "--set", "model.hidden=16", "--out", str(out)])
    assert code == 0
    return root, out, printed.getvalue()


def printed_table(text: str) -> tuple[dict, dict]:
    """The metric lines and depth rows of :func:`format_metrics`'s table, read back as numbers."""
    metrics, depths = {}, {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in SUMMARY_KEYS:
            metrics[parts[0]] = float(parts[1])
        elif len(parts) == 3 and parts[0].isdigit():
            depths[parts[0]] = (float(parts[1]), float(parts[2]))
    return metrics, depths


def assert_table_shows(text: str, metrics: dict) -> None:
    """Every headline metric and every depth of ``metrics`` is printed, to 4 decimals."""
    shown, depths = printed_table(text)
    expected = {k: metrics[k] for k in SUMMARY_KEYS if isinstance(metrics.get(k), (int, float))}
    assert set(shown) == set(expected) and len(expected) >= 5
    for key, value in expected.items():
        assert shown[key] == pytest.approx(value, abs=5e-5), key
    assert sorted(depths, key=int) == sorted(metrics["recall_by_depth"], key=int)
    for depth, (recall, f1) in depths.items():
        assert (recall, f1) == pytest.approx((metrics["recall_by_depth"][depth], metrics["f1_by_depth"][depth]),
                                             abs=5e-5)


def test_train_runs_the_config_with_its_overrides_and_prints_the_test_metrics(trained_run):
    _, out, printed = trained_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["train"]["epochs"] == 2 and metrics["config"]["model"]["hidden"] == 16
    assert metrics["config"]["train"]["batch_size"] == 4 and metrics["data"]["dataset"] == "toy_FUN"  # the config's
    assert len((out / "log.csv").read_text().splitlines()) == 1 + 2, "one log row per epoch"
    assert f"test metrics (epoch 2, last epoch) -> {out}" in printed, "C-HMCNN's protocol keeps the last epoch"
    assert_table_shows(printed, metrics)


def test_evaluate_reproduces_the_test_metrics(trained_run, tmp_path, capsys):
    _, out, _ = trained_run
    assert main(["evaluate", str(out), "--out", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "metrics.json").read_text())
    original = json.loads((out / "metrics.json").read_text())
    # review_* entries describe the review flag calibrated at the end of training, not a test metric
    scalars = [k for k, v in original.items() if isinstance(v, float) and not k.startswith("review_")]
    assert len(scalars) >= 10
    for key in scalars:
        assert again[key] == pytest.approx(original[key], abs=1e-6), key
    assert again["recall_by_depth"] == pytest.approx(original["recall_by_depth"])
    assert_table_shows(capsys.readouterr().out, original)


def test_evaluate_refuses_data_with_another_taxonomy(trained_run, tmp_path, capsys):
    root, out, _ = trained_run
    other = write_tiny_hmc(tmp_path / "other", name="other_FUN")
    arff = other / "datasets_FUN" / "other_FUN" / "other_FUN.test.arff"
    arff.write_text(arff.read_text().replace("hierarchical 01,", "hierarchical 03,01,"))
    for split in ("train", "valid"):
        f = other / "datasets_FUN" / "other_FUN" / f"other_FUN.{split}.arff"
        f.write_text(f.read_text().replace("hierarchical 01,", "hierarchical 03,01,"))
    code = main(["evaluate", str(out), "--set", f"data.root={other}", "--set", "data.dataset=other_FUN"])
    assert code == 2
    assert "different taxonomy" in capsys.readouterr().err


def test_corrupt_checkpoint_is_named(trained_run, tmp_path, capsys):
    _, out, _ = trained_run
    broken = tmp_path / "broken.safetensors"
    data = (out / "model.safetensors").read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    assert main(["evaluate", str(broken)]) == 2
    assert "broken.safetensors" in capsys.readouterr().err


def test_config_errors_exit_cleanly(capsys):
    assert main(["train", str(CONFIGS / "demo.yaml"), "--set", "loss.focal_kk=2"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'loss.focal_kk'" in err and "focal_k" in err


def test_keys_lists_every_key_with_its_default(capsys):
    assert main(["keys"]) == 0
    printed = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines() if line.strip()}

    def leaves(data, prefix=""):
        for key, value in data.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield prefix + key, value

    defaults = dict(leaves(dataclasses.asdict(Config())))
    assert set(printed) == set(defaults), "every key of the schema, nothing else"
    for key, value in defaults.items():
        assert printed[key] == repr(value).split()[0], key


def test_synth_writes_the_dataset(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s"), "--n", "12", "--size", "48"]) == 0
    folder = tmp_path / "s"
    with open(folder / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(folder / "labels.csv", newline="") as handle:
        tree = {row["id"]: row for row in csv.DictReader(handle)}

    def path_of(node_id):
        row = tree[node_id]
        return (path_of(row["parent_id"]) + " > " if row["parent_id"] else "") + row["name"]

    known = {path_of(i) for i in tree}
    assert len(rows) == 12 and {r["split"] for r in rows} <= {"train", "val", "test"}
    for row in rows:
        with Image.open(folder / row["image"]) as image:
            assert image.size == (48, 48)
        labels = row["labels"].split(";")
        assert labels and set(labels) <= known, f"{row['image']}: labels outside the label tree"
    shutil.rmtree(folder)
