"""The ready-made studies in configs/studies: they expand as documented and run end to end on tiny data."""

from pathlib import Path

import pytest

from seafloorhmc.config import ConfigError, config_from_dict, parse_override, set_key
from seafloorhmc.experiments import expand, load_sweep, restrict, run_sweep
from seafloorhmc.models.persistence import export_encoder
from seafloorhmc.training import train
from seafloorhmc.utils.tables import read_table

STUDIES = Path(__file__).resolve().parents[2] / "configs" / "studies"


def tiny_images(manifest):
    return ["data.format=manifest", f"data.annotations={manifest}", "data.image_size=32", "data.normalisation=imagenet",
            "model.encoder=test_resnet", "model.members=2", "model.hidden=8", "train.epochs=1", "train.batch_size=8",
            "train.warmup_epochs=0"]


def test_ablation_expands_to_every_method_on_every_dataset():
    spec = restrict(load_sweep(STUDIES / "ablation_hmc.yaml"), overrides=["data.root=/data/hmc"])
    cells = expand(spec)
    assert len(cells) == 3 * 24 * 5 and spec.baseline == "chmcnn"
    by_method = {c.values["method"]: c.config for c in cells
                 if c.values["dataset"] == "cellcycle_FUN" and c.values["seed"] == 0}
    assert by_method["chmcnn"].loss.node_weights == "none" and by_method["chmcnn"].model.hidden == 500
    assert by_method["weights-neg"].loss.weight_target == "negative"
    assert by_method["weights-pos"].loss.weight_target == "positive"
    focal = by_method["focal-epistemic_kl"]
    assert (focal.model.members, focal.loss.uncertainty, focal.loss.focal_k, focal.loss.reduction) == (
        2, "epistemic_kl", 2.0, "sum")
    assert by_method["lpros-weights-neg"].data.resample == "lpros" and by_method["mixed-pos"].loss.mixed_lambda == 0.5
    assert by_method["alternating-neg"].loss.schedule == "alternating"
    go = next(c.config for c in cells if c.values["dataset"] == "cellcycle_GO")
    assert (go.data.dataset, go.model.hidden, go.train.epochs) == ("cellcycle_GO", 1000, 62)


def test_limited_data_and_weak_encoder_grids():
    limited = expand(load_sweep(STUDIES / "limited_data_synthetic.yaml"))
    assert len(limited) == 5 * 5 * 5
    hcal = next(c.config for c in limited if c.values["method"] == "hcal")
    assert (hcal.model.head, hcal.model.members, hcal.data.single_path, hcal.loss.node_weights) == (
        "prototype", 1, True, "none")
    assert {c.config.data.train_fraction for c in limited} == {0.05, 0.1, 0.25, 0.5, 1.0}
    assert all(c.config.data.hierarchy_aware and not c.config.train.report for c in limited)
    by_method = {c.values["method"]: c.config for c in limited}
    assert by_method["mc-dropout-bma"].model.member_type == "mc_dropout"
    # weighted methods take the base's node weights (demo: binary); --set changes them, not the baseline's
    weights = [by_method[m].loss.node_weights for m in ("baseline", "weighted", "weighted-bma")]
    assert weights == ["none", "binary", "binary"]
    changed = {c.values["method"]: c.config.loss for c in expand(restrict(
        load_sweep(STUDIES / "limited_data_synthetic.yaml"), overrides=["loss.node_weights=class-wise"]))}
    assert (changed["baseline"].node_weights, changed["weighted"].node_weights) == ("none", "class-wise")
    assert (changed["weighted"].uncertainty, changed["weighted-bma"].uncertainty) == ("none", "bma")
    weak = expand(restrict(load_sweep(STUDIES / "weak_encoder.yaml"), overrides=["model.weights=enc.safetensors"]))
    assert len(weak) == 3 * 5 * 5 and {c.config.model.noise_alpha for c in weak} == {0.0, 0.25, 0.5, 0.75, 1.0}


@pytest.mark.slow
def test_ablation_on_tiny_hmc_data(sweep_hmc, no_run_reports, tmp_path):
    spec = restrict(load_sweep(STUDIES / "ablation_hmc.yaml"), seeds=2,
                    only=["dataset=cellcycle_FUN,cellcycle_GO", "method=chmcnn,weights-neg,lpros-weights-pos"],
                    overrides=[f"data.root={sweep_hmc}", "data.dataset=toy_FUN", "model.hidden=8", "train.epochs=1",
                               "train.batch_size=16"])
    result = run_sweep(spec, expand(spec), tmp_path)
    assert not result.failed and len(read_table(tmp_path / "results.csv")) == 12
    rows = read_table(tmp_path / "results.csv")
    assert all(r["data.lpros.clones"] > 0 for r in rows if r["method"] == "lpros-weights-pos")
    summary = (tmp_path / "summary.md").read_text()
    assert "Friedman test over 2 datasets" in summary and "Paired tests vs chmcnn" in summary


@pytest.mark.slow
def test_limited_data_on_tiny_images(sweep_images, no_run_reports, tmp_path):
    spec = restrict(load_sweep(STUDIES / "limited_data_synthetic.yaml"), seeds=1,
                    grid=["data.train_fraction=[0.25,0.5]"], overrides=tiny_images(sweep_images))
    result = run_sweep(spec, expand(spec), tmp_path)
    rows = read_table(tmp_path / "results.csv")
    assert not result.failed and len(rows) == 10
    assert {r["data.subset.size"] for r in rows if r["method"] != "hcal"} == {6, 12}  # of the 24 training images
    assert all(0.0 <= r["hvr_levels"] <= 1.0 for r in rows if r["method"] == "hcal")
    assert (tmp_path / "plots" / "au_prc.png").is_file()
    assert "[report.html](report.html)" in (tmp_path / "summary.md").read_text()
    html = (tmp_path / "report.html").read_text()
    assert "plots/sweep_au_prc.png" in html and (tmp_path / "plots" / "sweep_au_prc.png").is_file()


@pytest.mark.slow
def test_weak_encoder_on_tiny_images(sweep_images, no_run_reports, tmp_path):
    spec = restrict(load_sweep(STUDIES / "weak_encoder.yaml"), seeds=1, grid=["model.noise_alpha=[0.0,1.0]"],
                    only=["method=baseline,weighted-bma"],
                    overrides=[*tiny_images(sweep_images), "model.pretrained=false"])
    result = run_sweep(spec, expand(spec), tmp_path)
    assert not result.failed and len(read_table(tmp_path / "results.csv")) == 4
    assert "![au_prc vs noise_alpha](plots/au_prc.png)" in (tmp_path / "summary.md").read_text()


def test_frozen_encoder_variant_needs_pretrained_to_load_weights():
    spec = restrict(load_sweep(STUDIES / "limited_data_synthetic.yaml"),
                    overrides=["model.weights=encoder.safetensors", "model.freeze=true"])
    with pytest.raises(ConfigError,
                       match=r"model.weights=encoder.safetensors is only loaded with model.pretrained=true"):
        expand(spec)


@pytest.mark.slow
def test_limited_data_with_a_frozen_pretrained_encoder(sweep_images, tmp_path):
    """The reduced recipe of the study header: pretrain on other data, export, freeze, cache features once."""
    pretrain = tmp_path / "pretrain"
    train(config_from_dict(_tiny_config(sweep_images)), pretrain)
    assert (pretrain / "report.html").is_file()  # train.report=true (the default) writes it
    weights = export_encoder(pretrain, tmp_path / "encoder.safetensors")
    cache = tmp_path / "features"
    spec = restrict(load_sweep(STUDIES / "limited_data_synthetic.yaml"), seeds=1,
                    only=["method=baseline,weighted-bma"], grid=["data.train_fraction=[0.5,1.0]"],
                    overrides=[*tiny_images(sweep_images), "model.pretrained=true", f"model.weights={weights}",
                               "model.freeze=true", "data.augment=false", f"data.feature_cache={cache}"])
    result = run_sweep(spec, expand(spec), tmp_path / "sweep")
    rows = read_table(tmp_path / "sweep" / "results.csv")
    assert not result.failed and len(rows) == 4
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1, "all cells share one encoder's cached features"
    assert not (tmp_path / "sweep" / "runs" / rows[0]["cell"] / "report.html").exists()  # train.report=false


def _tiny_config(manifest) -> dict:
    data: dict = {}
    for text in tiny_images(manifest):
        key, value = parse_override(text)
        set_key(data, key, value)
    return data
