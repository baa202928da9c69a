import json
import shutil
from pathlib import Path

import pytest

from seafloorhmc.cli import format_metrics, main
from seafloorhmc.testing import write_tiny_hmc

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = write_tiny_hmc(tmp_path_factory.mktemp("hmc"))
    out = tmp_path_factory.mktemp("runs") / "run"
    code = main(["train", str(CONFIGS / "chmcnn" / "cellcycle_FUN.yaml"), "--set", f"data.root={root}", "--set",
                 "data.dataset=toy_FUN", "--set", "train.epochs=2", "--set", "model.hidden=16", "--out", str(out)])
    assert code == 0
    return root, out


def test_train_prints_a_metrics_table(trained_run, capsys):
    root, out = trained_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["train"]["epochs"] == 2 and metrics["config"]["model"]["hidden"] == 16
    table = format_metrics(metrics)
    assert "au_prc" in table and "depth" in table


def test_evaluate_reproduces_the_test_metrics(trained_run, tmp_path, capsys):
    _, out = trained_run
    assert main(["evaluate", str(out), "--out", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "metrics.json").read_text())
    original = json.loads((out / "metrics.json").read_text())
    assert again["au_prc"] == pytest.approx(original["au_prc"])
    assert "au_prc" in capsys.readouterr().out


def test_evaluate_refuses_data_with_another_taxonomy(trained_run, tmp_path, capsys):
    root, out = trained_run
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
    _, out = trained_run
    broken = tmp_path / "broken.safetensors"
    data = (out / "model.safetensors").read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    assert main(["evaluate", str(broken)]) == 2
    assert "broken.safetensors" in capsys.readouterr().err


def test_config_errors_exit_cleanly(capsys):
    assert main(["train", str(CONFIGS / "demo.yaml"), "--set", "loss.focal_kk=2"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'loss.focal_kk'" in err and "focal_k" in err


def test_keys_lists_the_loss_options(capsys):
    assert main(["keys"]) == 0
    assert "loss.weight_target" in capsys.readouterr().out


def test_synth_writes_the_dataset(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s"), "--n", "12", "--size", "48"]) == 0
    assert (tmp_path / "s" / "manifest.csv").is_file() and (tmp_path / "s" / "labels.csv").is_file()
    shutil.rmtree(tmp_path / "s")
