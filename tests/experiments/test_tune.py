import json
from pathlib import Path

import pytest
import yaml

from seafloorhmc.config import load_config
from seafloorhmc.experiments.search_space import (
    DEFAULT_SPACE,
    SearchSpaceError,
    default_params,
    parse_space,
    suggest_params,
)
from seafloorhmc.experiments.tune import TuneSpecError, load_tune, trial_config, tune_from_dict
from seafloorhmc.utils.tables import read_table

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
optuna = pytest.importorskip("optuna")


def test_the_default_space_holds_every_shipped_config_and_draws_only_what_applies():
    base = load_config(CONFIGS / "demo.yaml").to_dict()
    params = parse_space(None, base)
    assert [p.key for p in params] == list(DEFAULT_SPACE)
    lr = next(p for p in params if p.key == "train.lr")
    assert (lr.low, lr.high, lr.log) == pytest.approx((0.0002, 0.02, True))  # factor 10 around the base 0.002
    default = default_params(params, base)
    assert default == {"loss.node_weights": "binary", "loss.omega": 1.0, "loss.weight_target": "positive",
                       "loss.negative_weights": "ones", "loss.uncertainty": "bma", "loss.focal_k": 1.0,
                       "model.members": 8, "train.lr": 0.002}
    drawn = suggest_params(optuna.trial.FixedTrial({"loss.node_weights": "none", "loss.uncertainty": "none",
                                                    "model.members": 2, "train.lr": 0.001}), params, base)
    assert drawn == {"loss.node_weights": "none", "loss.uncertainty": "none", "model.members": 2, "train.lr": 0.001}
    chmcnn = load_config(CONFIGS / "chmcnn" / "cellcycle_FUN.yaml", ["data.root=/x"]).to_dict()
    assert default_params(parse_space(None, chmcnn), chmcnn) == {
        "loss.node_weights": "none", "loss.uncertainty": "none", "model.members": 1, "train.lr": 0.0001}


def test_bad_spaces_are_refused_with_the_key_named():
    base = load_config(CONFIGS / "demo.yaml").to_dict()
    cases = [({"loss.omga": [1.0]}, "loss.omga"), ({"loss.omega": {"low": 2, "high": 1}}, "below"),
             ({"loss.omega": {"low": 0, "high": 1, "log": True}}, "log range"),
             ({"loss.omega": {"low": 0.1, "high": 2, "when": {"loss.node_weights": ["binary"]}},
               "loss.node_weights": ["none", "binary"]}, "listed after"),
             ({"loss.omega": {"lo": 1}}, "unknown setting")]
    for space, message in cases:
        with pytest.raises(SearchSpaceError, match=message):
            parse_space(space, base)
    with pytest.raises(SearchSpaceError, match="not in the space"):  # the base (omega 1.0) must be a point of it
        default_params(parse_space({"loss.omega": {"low": 0.05, "high": 0.5}}, base), base)
    with pytest.raises(TuneSpecError, match="thresholds"):
        tune_from_dict({"base": str(CONFIGS / "demo.yaml"), "thresholds": "node"})
    with pytest.raises(TuneSpecError, match="resources"):
        tune_from_dict({"base": str(CONFIGS / "demo.yaml"), "resources": {"gpu": 1}})
    assert tune_from_dict({"base": str(CONFIGS / "demo.yaml"), "resources": {"gpus": 1}}).resources == {"gpus": 1.0}
    with pytest.raises(TuneSpecError, match="unknown key 'trails'"):
        tune_from_dict({"base": str(CONFIGS / "demo.yaml"), "trails": 3})


def test_a_trial_trains_on_the_training_split_only():
    spec = load_tune(CONFIGS / "studies" / "tune_cellcycle_FUN.yaml", overrides=["data.root=/x"])
    assert spec.base_config().data.train_on_val  # the protocol's final fit
    config = trial_config(spec, {"loss.node_weights": "class-wise", "loss.omega": 0.3})
    assert not config.data.train_on_val and config.loss.omega == 0.3 and not config.train.report


class _CountingLoader:
    """Wraps a split's loader and counts passes over it (the test split's spy)."""

    passes = 0

    def __init__(self, loader):
        self._loader = loader

    def __iter__(self):
        type(self).passes += 1
        return iter(self._loader)

    def __len__(self):
        return len(self._loader)

    def __getattr__(self, name):
        return getattr(self._loader, name)


@pytest.fixture
def test_split_spy(monkeypatch):
    import seafloorhmc.datamodule as datamodule

    original = datamodule.Loaders

    def spying(train, val, test):
        return original(train, val, None if test is None else _CountingLoader(test))

    _CountingLoader.passes = 0
    monkeypatch.setattr(datamodule, "Loaders", spying)
    return _CountingLoader


def _demo_study(tmp_path, trials):
    tiny = {"data": {"synthetic_images": 160, "synthetic_size": 32, "image_size": 32, "root": str(tmp_path / "synth")},
            "model": {"encoder": "test_resnet", "members": 2, "hidden": 32},
            "train": {"epochs": 4, "batch_size": 16, "progress": False, "report": False}}
    base = yaml.safe_load((CONFIGS / "demo.yaml").read_text())
    for section, values in tiny.items():
        base[section].update(values)
    return tune_from_dict({
        "name": "demo-small", "base": base, "trials": trials, "seed": 0,
        "pruner": {"startup_trials": 4, "warmup_epochs": 2},
        "space": {"loss.node_weights": ["none", "class-wise", "binary"],
                  "loss.omega": {"low": 0.05, "high": 2.0, "log": True,
                                 "when": {"loss.node_weights": ["class-wise", "binary"]}},
                  "loss.negative_weights": {"choices": ["ones", "inverse"],
                                            "when": {"loss.node_weights": ["class-wise", "binary"]}},
                  "loss.uncertainty": ["none", "bma"], "train.lr": {"factor": 5, "log": True}}})


@pytest.mark.slow
def test_tune_on_demo_data_beats_the_default_tests_once_and_resumes(tmp_path, test_split_spy):
    from seafloorhmc.experiments.tune import run_tune

    out = tmp_path / "study"
    first = run_tune(_demo_study(tmp_path, 4), out, command="seafloorhmc tune ...")
    assert test_split_spy.passes == 1  # the final run's test score, nothing else
    rows = read_table(out / "trials.csv")
    assert [r["trial"] for r in rows] == [0, 1, 2, 3] and rows[0]["default"] is True
    default, best = first.default, first.best
    assert best["value"] > default["val_f1_at_config_threshold"]  # tuned beats the shipped default at its 0.5
    assert best["value"] >= default["value"]
    best_config = load_config(out / "best.yaml")
    assert best_config.eval.threshold == pytest.approx(best["threshold"])
    for key in ("loss.node_weights", "loss.uncertainty", "train.lr"):
        section, name = key.split(".")
        assert getattr(getattr(best_config, section), name) == best[key]
    test = json.loads((out / "test.json").read_text())
    assert test["trial"] == best["trial"] and 0 <= test["f1"] <= 1
    for figure in ("optimisation_history.png", "validation_curves.png"):
        assert (out / "plots" / figure).stat().st_size > 0
    assert "optimisation_history.png" in (out / "report.html").read_text()
    trained = {p.name: (p / "log.csv").stat().st_mtime_ns for p in (out / "trials").iterdir()}

    second = run_tune(_demo_study(tmp_path, 6), out)  # continues: trials 4 and 5 only
    rows = read_table(out / "trials.csv")
    assert [r["trial"] for r in rows] == list(range(6))
    assert {k: v for k, v in ((p.name, (p / "log.csv").stat().st_mtime_ns) for p in (out / "trials").iterdir())
            if k in trained} == trained, "finished trials are not trained again"
    assert second.default["value"] == default["value"]
    assert test_split_spy.passes == 1 + (second.best["trial"] != best["trial"])  # a new best is tested once


def test_cli_tune_on_tiny_data_writes_the_study_and_continues_it(sweep_hmc, tmp_path, capsys):
    from seafloorhmc.cli import main

    study = {"name": "tiny", "trials": 2, "thresholds": "depth",
             "base": {"data": {"format": "hmc", "root": str(sweep_hmc), "dataset": "toy_FUN"}, "model": {"hidden": 8},
                      "train": {"epochs": 2, "batch_size": 16, "progress": False, "report": False}},
             "space": {"loss.node_weights": ["none", "class-wise"], "train.lr": {"factor": 10, "log": True}}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    out = tmp_path / "out"
    assert main(["tune", str(tmp_path / "study.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "default (trial 0)" in printed and "test (read once" in printed
    thresholds = json.loads((out / "thresholds.json").read_text())
    assert thresholds["mode"] == "depth" and set(thresholds["by_depth"]) == {"1", "2", "3"}  # the root is not evaluated
    test = json.loads((out / "test.json").read_text())
    final = json.loads((out / test["run"] / "metrics.json").read_text())
    assert test["au_prc"] == final["au_prc"]  # per-depth cut-offs only change the thresholded metrics
    assert main(["tune", str(tmp_path / "study.yaml"), "--out", str(out), "--trials", "3"]) == 0
    assert [r["trial"] for r in read_table(out / "trials.csv")] == [0, 1, 2]
    assert main(["tune", str(tmp_path / "study.yaml"), "--set", "loss.omga=1"]) == 2
    assert "loss.omga" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tune_demo.yaml", "tune_cellcycle_FUN.yaml"])
def test_the_shipped_studies_load_with_their_base_as_a_point_of_the_space(name):
    spec = load_tune(CONFIGS / "studies" / name, overrides=["data.root=/x"])
    default = default_params(spec.space, spec.base_config().to_dict())
    assert default["train.lr"] == spec.base_config().train.lr and spec.trials >= 10


def test_the_final_fit_on_train_and_valid_trains_the_selected_epochs():
    from seafloorhmc.experiments.thresholds import Thresholds
    from seafloorhmc.experiments.tune_final import best_config

    spec = load_tune(CONFIGS / "studies" / "tune_cellcycle_FUN.yaml", overrides=["data.root=/x"])
    config = best_config(spec, {"train.lr": 0.0003}, Thresholds("global", 0.07), selected_epoch=43)
    assert config.data.train_on_val and config.train.epochs == 43
    assert config.eval.threshold == 0.07 and config.train.lr == 0.0003
    demo = load_tune(CONFIGS / "studies" / "tune_demo.yaml")  # a validation split of its own: epochs unchanged
    assert best_config(demo, {}, Thresholds("global", 0.2), selected_epoch=3).train.epochs == 15


def test_a_second_search_on_one_folder_is_refused_naming_the_first(tmp_path):
    import threading

    from seafloorhmc.experiments.tune import run_tune
    from seafloorhmc.utils.locks import RunLock, RunLockedError

    out = tmp_path / "study"
    held, done = threading.Event(), threading.Event()

    def first_search():  # another holder (the lock is re-entrant within one thread only)
        with RunLock(out, command="seafloorhmc tune first.yaml"):
            held.set()
            done.wait(60)

    holder = threading.Thread(target=first_search)
    holder.start()
    try:
        assert held.wait(60)
        with pytest.raises(RunLockedError, match="seafloorhmc tune first.yaml"):
            run_tune(_demo_study(tmp_path, 1), out, command="seafloorhmc tune second.yaml")
    finally:
        done.set()
        holder.join()
    assert not (out / "tune.yaml").exists(), "the refused search wrote nothing"
