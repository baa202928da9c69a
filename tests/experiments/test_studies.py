"""The ready-made studies in configs/studies: they expand as documented and run end to end on tiny data."""

from pathlib import Path

import pytest

from seafloorhmc.experiments import expand, load_sweep, read_table, restrict, run_sweep

STUDIES = Path(__file__).resolve().parents[2] / "configs" / "studies"


def tiny_images(manifest):
    return ["data.format=manifest", f"data.annotations={manifest}", "data.image_size=32", "data.normalisation=imagenet",
            "model.encoder=test_resnet", "model.members=2", "model.hidden=8", "train.epochs=1", "train.batch_size=8",
            "train.warmup_epochs=0"]


def test_ablation_expands_to_every_method_on_every_dataset():
    spec = restrict(load_sweep(STUDIES / "ablation_hmc.yaml"), overrides=["data.root=/data/hmc"])
    cells = expand(spec)
    assert len(cells) == 3 * 24 * 5 and spec.baseline == "chmcnn"
    by_method = {c.values["method"]: c.config for c in cells if c.values["dataset"] == "cellcycle_FUN" and c.values["seed"] == 0}
    assert by_method["chmcnn"].loss.node_weights == "none" and by_method["chmcnn"].model.hidden == 500
    assert by_method["weights-neg"].loss.weight_target == "negative"
    assert by_method["weights-pos"].loss.weight_target == "positive"
    focal = by_method["focal-epistemic_kl"]
    assert (focal.model.members, focal.loss.uncertainty, focal.loss.focal_k, focal.loss.reduction) == (2, "epistemic_kl", 2.0, "sum")
    assert by_method["lpros-weights-neg"].data.resample == "lpros" and by_method["mixed-pos"].loss.mixed_lambda == 0.5
    assert by_method["alternating-neg"].loss.schedule == "alternating"
    go = next(c.config for c in cells if c.values["dataset"] == "cellcycle_GO")
    assert (go.data.dataset, go.model.hidden, go.train.epochs) == ("cellcycle_GO", 1000, 62)


def test_limited_data_and_weak_encoder_grids():
    limited = expand(load_sweep(STUDIES / "limited_data_synthetic.yaml"))
    assert len(limited) == 4 * 5 * 5
    assert {c.config.data.train_fraction for c in limited} == {0.05, 0.1, 0.25, 0.5, 1.0}
    assert all(c.config.data.hierarchy_aware for c in limited)
    assert {c.values["method"]: c.config.model.member_type for c in limited}["mc-dropout-bma"] == "mc_dropout"
    weak = expand(restrict(load_sweep(STUDIES / "weak_encoder.yaml"), overrides=["model.weights=enc.safetensors"]))
    assert len(weak) == 3 * 5 * 5 and {c.config.model.noise_alpha for c in weak} == {0.0, 0.25, 0.5, 0.75, 1.0}


@pytest.mark.slow
def test_ablation_on_tiny_hmc_data(sweep_hmc, no_run_reports, tmp_path):
    spec = restrict(load_sweep(STUDIES / "ablation_hmc.yaml"), seeds=2,
                    only=["dataset=cellcycle_FUN,cellcycle_GO", "method=chmcnn,weights-neg,lpros-weights-pos"],
                    overrides=[f"data.root={sweep_hmc}", "data.dataset=toy_FUN", "model.hidden=8", "train.epochs=1",
                               "train.batch_size=16"])
    result = run_sweep(spec, expand(spec), tmp_path, log=lambda text: None)
    assert not result.failed and len(read_table(tmp_path / "results.csv")) == 12
    rows = read_table(tmp_path / "results.csv")
    assert all(r["data.lpros.clones"] > 0 for r in rows if r["method"] == "lpros-weights-pos")
    summary = (tmp_path / "summary.md").read_text()
    assert "Friedman test over 2 datasets" in summary and "Paired tests vs chmcnn" in summary


@pytest.mark.slow
def test_limited_data_on_tiny_images(sweep_images, no_run_reports, tmp_path):
    spec = restrict(load_sweep(STUDIES / "limited_data_synthetic.yaml"), seeds=1,
                    grid=["data.train_fraction=[0.25,0.5]"], overrides=tiny_images(sweep_images))
    result = run_sweep(spec, expand(spec), tmp_path, log=lambda text: None)
    rows = read_table(tmp_path / "results.csv")
    assert not result.failed and len(rows) == 8
    assert {r["data.subset.size"] for r in rows} == {6, 12}  # of the 24 training images
    assert (tmp_path / "plots" / "au_prc.png").is_file()


@pytest.mark.slow
def test_weak_encoder_on_tiny_images(sweep_images, no_run_reports, tmp_path):
    spec = restrict(load_sweep(STUDIES / "weak_encoder.yaml"), seeds=1, grid=["model.noise_alpha=[0.0,1.0]"],
                    only=["method=baseline,weighted-bma"],
                    overrides=[*tiny_images(sweep_images), "model.pretrained=false"])
    result = run_sweep(spec, expand(spec), tmp_path, log=lambda text: None)
    assert not result.failed and len(read_table(tmp_path / "results.csv")) == 4
    assert "![au_prc vs noise_alpha](plots/au_prc.png)" in (tmp_path / "summary.md").read_text()
