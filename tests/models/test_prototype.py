"""The prototype (HCAL) head: cosine logits, perturbation only while training, LR groups, and the
whole engine path (train → checkpoint → evaluate → predict) with ``model.head=prototype``."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seafloorhmc import Taxonomy
from seafloorhmc.config import ConfigError, TrainConfig, load_config
from seafloorhmc.levels import LevelsError
from seafloorhmc.models import HierarchicalClassifier
from seafloorhmc.models.prototype import PrototypeHead, perturb_prototypes
from seafloorhmc.training.optim import build_optimizer

TAX = Taxonomy.from_paths(["R/A/A1/X", "R/A/A2", "R/B", "R/C/C1"])  # 3 levels, stop slots


def make_head(noise=0.01, **kwargs):
    torch.manual_seed(0)
    return PrototypeHead(5, TAX, embedding_dim=16, temperature=0.1, noise=noise, **kwargs)


def test_logits_are_cosines_over_temperature_in_eval_mode():
    head = make_head().eval()
    x = torch.randn(4, 5)
    out = head(x)
    assert out.shape == (1, 4, head.levels.num_slots)
    f = F.normalize(head.embed(x), dim=-1)
    p = torch.cat([F.normalize(q, dim=-1) for q in head.prototypes])
    assert torch.allclose(out[0], f @ p.T / 0.1, atol=1e-5)
    assert out.abs().max().item() <= 1 / 0.1 + 1e-4


def test_perturbation_is_on_in_training_and_off_in_evaluation():
    head = make_head(noise=0.01)
    x = torch.randn(3, 5)
    head.eval()
    assert torch.equal(head(x), head(x))
    head.train()
    a, b = head(x), head(x)
    assert not torch.equal(a, b)
    head.eval()
    assert (a - head(x)).abs().max() < 1.0  # small: ε = 0.01 moves prototypes by a few degrees
    off = make_head(noise=0.0).train()
    assert torch.equal(off(x), off.eval()(x))


def test_perturbed_prototypes_are_unit_rows_near_the_originals_and_pass_gradients():
    torch.manual_seed(1)
    raw = torch.randn(6, 256, requires_grad=True)
    p = F.normalize(raw, dim=-1)
    q = perturb_prototypes(p, 0.01)
    assert torch.allclose(q.norm(dim=-1), torch.ones(6))
    # uniform noise in [−ε, ε]^d: ‖ξ‖ ≤ ε√d = 0.16, so cos(p, q) stays close to 1
    assert (p * q).sum(-1).min().item() > 0.98
    q.sum().backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0


def test_prototype_learning_rates_double_per_coarser_level():
    head = make_head(lr_scale=5.0)
    assert [s for s, _ in head.lr_scaled_parameters()] == [20.0, 10.0, 5.0]  # coarse → fine
    model = HierarchicalClassifier(torch.nn.Linear(5, 5), head, TAX)
    opt = build_optimizer(model, TrainConfig(optimizer="sgd", lr=0.01))
    by_param = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert [by_param[id(p)] for p in head.prototypes] == pytest.approx([0.2, 0.1, 0.05])
    assert by_param[id(head.embed[0].weight)] == 0.01 and by_param[id(model.encoder.weight)] == 0.01
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_predictions_are_level_softmaxes_and_per_level_argmax_sets():
    head = make_head().eval()
    logits = head(torch.randn(5, 5))
    pred = head.predict_from_logits(logits, "independent")
    levels = head.levels
    for k, scores in enumerate(levels.split(logits[0])):
        soft = torch.softmax(scores, -1)
        real = ~levels.slot_is_stop[k]
        assert torch.allclose(pred.probs[:, levels.slot_node[k][real]], soft[:, real], atol=1e-6)
        assert torch.equal(pred.level_choices["independent"][:, k], scores.argmax(-1))
    assert torch.equal(pred.predicted, levels.multi_hot(pred.level_choices["independent"]))
    consistent = head.predict_from_logits(logits, "consistent")
    assert not levels.violations(consistent.level_choices["consistent"]).any()
    assert torch.equal(consistent.predicted, levels.multi_hot(consistent.level_choices["consistent"]))


@pytest.mark.parametrize("override, message", [
    ("model.members=3", "model.head=prototype has a single member"),
    ("loss.node_weights=class-wise", "loss.node_weights=class-wise belongs to the rare-node loss"),
    ("model.temperature=0", "model.temperature must be positive"),
    ("model.prototype_noise=-1", "model.prototype_noise must be non-negative"),
    ("loss.level_weighting=fixed", "loss.level_weighting: 'fixed' is not one of awa, dwa, equal, uncertainty"),
])
def test_prototype_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["model.head=prototype", override])


# ------------------------------------------------------------------ through the engine
PROTOTYPE = ("model.head=prototype", "model.members=1", "model.head_layers=1", "model.embedding_dim=16",
             "data.single_path=true", "loss.level_weighting=dwa", "train.epochs=3")


@pytest.fixture(scope="module")
def hcal_run(tmp_path_factory):
    from seafloorhmc.testing import write_tiny_image_manifest
    from seafloorhmc.training import train

    manifest = write_tiny_image_manifest(tmp_path_factory.mktemp("hcal_data"), n_images=36, size=32)
    def config(*extra):
        return load_config(None, [
            "data.format=manifest", f"data.annotations={manifest}", "data.image_size=32", "model.encoder=test_resnet",
            "train.batch_size=8", "train.progress=false", "train.lr=0.003", *PROTOTYPE, *extra])
    run = tmp_path_factory.mktemp("hcal_run") / "run"
    metrics = train(config(), run)
    return config, run, metrics, manifest


def test_training_reports_both_decodings_and_level_metrics(hcal_run):
    _, run, metrics, _ = hcal_run
    on_disk = json.loads((run / "metrics.json").read_text())
    for key in ("au_prc", "f1", "hvr", "hvr_levels", "accuracy_by_level", "path_accuracy",
                "consistent_f1", "consistent_hvr", "consistent_hvr_levels", "consistent_path_accuracy"):
        assert key in on_disk, key
    assert on_disk["decoding"] == "independent"
    assert on_disk["consistent_hvr"] == 0.0 and on_disk["consistent_hvr_levels"] == 0.0
    assert on_disk["data"]["dropped_multi_path"] > 0
    assert set(on_disk["accuracy_by_level"]) == {"1", "2", "3"}
    from safetensors.torch import load_file

    keys = set(load_file(str(run / "model.safetensors")))
    assert {"head.prototypes.0", "head.prototypes.1", "head.prototypes.2", "head.embed.0.weight"} <= keys
    predictions = dict(__import__("numpy").load(run / "test_predictions.npz"))
    assert predictions["level_choices_independent"].shape == (metrics["n_examples"], 3)


@pytest.mark.slow
def test_resume_with_dwa_reproduces_the_uninterrupted_run(hcal_run, tmp_path):
    from seafloorhmc.training import train

    config, run, _, _ = hcal_run
    assert train(config(), tmp_path / "half", stop_after_epoch=1) is None
    train(config(), tmp_path / "half", resume=True)
    strip = lambda p: [",".join(r.split(",")[:7]) for r in (p / "log.csv").read_text().splitlines()]  # noqa: E731
    assert strip(run) == strip(tmp_path / "half")


def test_checkpoint_evaluates_with_consistent_decoding_and_predicts(hcal_run, tmp_path):
    from seafloorhmc.evaluation import evaluate_checkpoint
    from seafloorhmc.models.persistence import load_trained_model

    _, run, metrics, manifest = hcal_run
    again = evaluate_checkpoint(run, split="test")
    assert again["f1"] == pytest.approx(metrics["f1"]) and again["hvr_levels"] == pytest.approx(metrics["hvr_levels"])
    flipped = evaluate_checkpoint(run, ["eval.decoding=consistent"], split="test")
    assert flipped["decoding"] == "consistent"
    assert flipped["f1"] == pytest.approx(metrics["consistent_f1"])
    assert flipped["independent_hvr_levels"] == pytest.approx(metrics["hvr_levels"])
    model, _ = load_trained_model(run)
    prediction = model.predict(torch.randn(2, 3, 32, 32), decoding="consistent")
    assert prediction.predicted.shape == (2, len(model.taxonomy)) and prediction.predicted.dtype == torch.bool
    from seafloorhmc.prediction.predictor import PredictOptions, write_predictions

    images = sorted((manifest.parent / "images").glob("*.png"))
    summary = write_predictions(run, manifest.parent / "images", tmp_path / "predictions.csv",
                      PredictOptions(workers=0, progress=False))
    assert summary.rows == len(images) and summary.errors == 0


def test_multi_path_images_are_refused_naming_the_image(hcal_run, tmp_path):
    from seafloorhmc.training import train

    config, _, _, _ = hcal_run
    with pytest.raises(LevelsError, match=r"images/\d{3}\.png has 2 label paths .*data.single_path=true"):
        train(config("data.single_path=false"), tmp_path / "run")


# ------------------------------------------------------------------ configs/hcal.yaml and the CLI
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_hcal_config_is_the_released_recipe_scaled_to_cpu():
    config = load_config(CONFIGS / "hcal.yaml")
    m, loss = config.model, config.loss
    assert (m.head, m.members, m.embedding_dim, m.temperature, m.prototype_noise, m.prototype_lr_scale) == (
        "prototype", 1, 256, 0.1, 0.01, 5.0)
    assert (loss.level_weighting, loss.gamma, loss.parent_anchor) == ("awa", 0.5, "batch_centroid")
    assert (config.train.optimizer, config.train.momentum, config.train.lr_schedule) == ("sgd", 0.9, "constant")
    assert config.data.format == "synthetic" and config.data.single_path


def test_cli_trains_the_hcal_config_then_evaluates_predicts_and_reports(tmp_path, capsys):
    from seafloorhmc.cli import main

    run = tmp_path / "run"
    tiny = ["data.synthetic_images=80", "data.synthetic_size=32", "data.image_size=32", "model.encoder=test_resnet",
            "model.embedding_dim=16", "train.epochs=1", "train.batch_size=8", "train.progress=false"]
    assert main(["train", str(CONFIGS / "hcal.yaml"), "--out", str(run), *[a for s in tiny for a in ("--set", s)]]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["model"]["head"] == "prototype" and metrics["data"]["dropped_multi_path"] > 0
    assert {"hvr_levels", "consistent_f1", "consistent_hvr_levels"} <= set(metrics)

    assert main(["evaluate", str(run), "--set", "eval.decoding=consistent", "--out", str(tmp_path / "eval")]) == 0
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["decoding"] == "consistent" and again["hvr_levels"] == 0.0
    assert again["f1"] == pytest.approx(metrics["consistent_f1"])
    assert again["independent_f1"] == pytest.approx(metrics["f1"])

    assert main(["synth", "--n", "5", "--size", "32", str(tmp_path / "new")]) == 0
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(tmp_path / "new" / "images"), "--out", str(out), "--no-progress",
                 "--workers", "0"]) == 0
    import csv

    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 5 and not any(r["error"] for r in rows) and all(r["predicted"] for r in rows)
    from seafloorhmc.models.persistence import load_trained_model

    nodes = set(load_trained_model(run)[0].taxonomy.nodes)
    assert all(taxon.replace(" > ", "/") in nodes for r in rows for taxon in r["predicted"].split(";"))
    assert main(["report", str(run), "--overwrite"]) == 0 and (run / "report.html").is_file()  # training wrote one
    assert main(["report", str(out), "--overwrite"]) == 0 and out.with_suffix(".html").is_file()  # predict wrote one


def test_hcal_comparison_study_pairs_the_two_heads_on_single_path_data():
    from seafloorhmc.experiments import expand, load_sweep, restrict

    spec = restrict(load_sweep(CONFIGS / "studies" / "hcal_comparison.yaml"), overrides=["data.root=/data/hmc"])
    cells = expand(spec)
    assert len(cells) == 3 * 3 * 3 and spec.baseline == "max-constraint"
    assert all(c.config.data.single_path for c in cells)
    for dataset in ("synthetic", "Diatoms_others", "cellcycle_FUN"):
        by_method = {c.values["method"]: c.config for c in cells
                     if c.values["dataset"] == dataset and c.values["seed"] == 0}
        assert by_method["max-constraint"].model.head == "mlp" and by_method["hcal"].model.head == "prototype"
        assert by_method["hcal-dwa"].loss.level_weighting == "dwa"
        # only the head (and its loss) differ between the methods
        mlp, proto = by_method["max-constraint"], by_method["hcal"]
        assert (mlp.data, mlp.train, mlp.model.encoder) == (proto.data, proto.train, proto.model.encoder)


def test_hcal_trains_on_hmc_features_and_refuses_multi_path_rows(tmp_path, monkeypatch):
    from seafloorhmc.training import train

    monkeypatch.setattr("seafloorhmc.training.trainer.try_write_run_report", lambda *args, **kwargs: None,
                        raising=False)
    from seafloorhmc.testing import write_tiny_hmc

    root = write_tiny_hmc(tmp_path / "hmc")
    base = [f"data.root={root}", "data.dataset=toy_FUN", "model.hidden=16", "model.head_layers=2", "train.epochs=1",
            "train.batch_size=16", "train.progress=false", *PROTOTYPE[:4]]
    metrics = train(load_config(CONFIGS / "chmcnn" / "cellcycle_FUN.yaml", [*base, "data.single_path=true"]),
                    tmp_path / "run")
    assert metrics["data"]["dropped_multi_path"] == {"train": 9, "val": 3, "test": 8}  # of 60 / 20 / 30 rows
    assert metrics["n_examples"] == 22 and 0.0 <= metrics["hvr_levels"] <= 1.0
    with pytest.raises(LevelsError, match=r"training sample \d+ has 2 label paths"):
        train(load_config(CONFIGS / "chmcnn" / "cellcycle_FUN.yaml", base), tmp_path / "refused")
