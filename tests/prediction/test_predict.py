import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from seafloorhmc.cli import main
from seafloorhmc.data.images import load_image
from seafloorhmc.data.readers import AnnotationFormatError
from seafloorhmc.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transform
from seafloorhmc.models import build_model
from seafloorhmc.models.persistence import load_trained_model, read_info, save_weights
from seafloorhmc.prediction.predictor import PredictOptions, default_review_path, write_predictions
from seafloorhmc.prediction.suggestions import row_uncertainty
from seafloorhmc.prediction.table import PredictionTable
from seafloorhmc.training import train
from seafloorhmc.uncertainty import node_uncertainty

PATCH = 16
FAST = dict(workers=0, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for two epochs on 32 px blob images (imagenet normalisation, 16 px patches)."""
    from seafloorhmc.config import load_config
    from seafloorhmc.testing import write_tiny_image_manifest

    folder = tmp_path_factory.mktemp("predict_data")
    manifest = write_tiny_image_manifest(folder, n_images=24, size=32)
    config = load_config(None, [
        "data.format=manifest", f"data.annotations={manifest}", "data.image_size=32", f"data.patch_size={PATCH}",
        "data.normalisation=imagenet", "model.encoder=test_resnet", "model.members=3", "model.hidden=16",
        "train.epochs=2", "train.batch_size=8", "train.progress=false", "train.lr=0.003"])
    run = tmp_path_factory.mktemp("predict_run") / "run"
    train(config, run)
    return run, manifest


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _reference(run, pixels: list[np.ndarray]):
    """Probabilities and member probabilities computed here, without the predict pipeline."""
    model, info = load_trained_model(run)
    transform = eval_transform(info.config.data.image_size, IMAGENET_MEAN, IMAGENET_STD)
    x = torch.stack([transform(image=p)["image"] for p in pixels])
    prediction = model.predict(x)
    return prediction.probs, prediction.member_probs, info


def _shown(tax) -> list[str]:
    """Node paths as the predictions CSV writes them (one separator throughout the file)."""
    return [" > ".join(tax.node_path(i)) for i in range(len(tax))]


def _json_probs(row: dict, nodes: list[str]) -> list[float]:
    stored = json.loads(row["probabilities"])
    return [stored.get(n, 0.0) for n in nodes]


def test_folder_rows_equal_model_predict(trained, tmp_path):
    run, manifest = trained
    images = manifest.parent / "images"
    out = tmp_path / "pred.csv"
    summary = write_predictions(run, images, out, PredictOptions(**FAST))
    rows = _rows(out)
    files = sorted(images.glob("*.png"))
    assert summary.rows == len(rows) == len(files) and summary.errors == 0
    assert [r["image"] for r in rows] == [f.name for f in files]
    probs, members, info = _reference(run, [load_image(f) for f in files])
    assert members.shape[0] == 3, "every ensemble member is used at inference"
    tax = info.taxonomy
    for row, p in zip(rows, probs):
        stored = json.loads(row["probabilities"])
        for node, value in zip(_shown(tax), p.tolist()):
            if value >= 0.01:
                assert stored[node] == pytest.approx(value, abs=5.1e-5)
            else:
                assert node not in stored
        assert row["predicted"].split(";") == [" > ".join(tax.node_path(n)) for n in tax.decode(p, 0.5)] or \
            (row["predicted"] == "" and tax.decode(p, 0.5) == [])
        assert row["error"] == ""
    expected_u = row_uncertainty(probs, node_uncertainty(members, "bma"), tax, 0.5)
    assert [float(r["uncertainty"]) for r in rows] == pytest.approx(expected_u.tolist(), abs=5.1e-5)
    assert summary.needs_review == sum(r["needs_review"] == "true" for r in rows)


def test_suggestions_are_ranked_deepest_label_scores(trained, tmp_path):
    run, manifest = trained
    out = tmp_path / "pred.csv"
    write_predictions(run, manifest.parent / "images", out, PredictOptions(top_k=3, **FAST))
    rows = _rows(out)
    assert "Machine suggestion 3" in rows[0] and "Machine suggestion 4" not in rows[0]
    info = read_info(run)
    tax = info.taxonomy
    display = {" > ".join(tax.node_path(i)): i for i in range(len(tax))}
    for row in rows:
        p = torch.tensor([_json_probs(row, _shown(tax))], dtype=torch.float64)
        # the scores recomputed from the CSV's own (rounded) probabilities, by hand
        scores = [max(p[0, i].item() - max((p[0, c].item() for c in tax.children[i]), default=0.0), 0.0)
                  for i in range(len(tax))]
        confidences = [int(row[f"Machine confidence {i}"]) for i in (1, 2, 3)]
        assert confidences == sorted(confidences, reverse=True) and all(0 <= c <= 100 for c in confidences)
        best = display[row["Machine suggestion 1"]]
        assert scores[best] >= max(scores) - 2e-4
        assert abs(confidences[0] - 100 * scores[best]) <= 0.5 + 0.02


def test_needs_review_follows_the_threshold_and_review_file_is_sorted(trained, tmp_path):
    run, manifest = trained
    out = tmp_path / "pred.csv"
    first = _rows(_predict_once(run, manifest, tmp_path / "probe.csv"))
    threshold = float(np.median([float(r["uncertainty"]) for r in first]))
    options = PredictOptions(review_threshold=threshold, **FAST)
    summary = write_predictions(run, manifest.parent / "images", out, options, review=default_review_path(out))
    assert summary.review == tmp_path / "pred.review.csv"
    rows, queue = _rows(out), _rows(summary.review)
    for row in rows:
        assert (row["needs_review"] == "true") == (float(row["uncertainty"]) > threshold)
    assert 0 < summary.needs_review < len(rows)
    assert sorted(map(tuple, (r.values() for r in rows))) == sorted(map(tuple, (r.values() for r in queue)))
    u = [float(r["uncertainty"]) for r in queue]
    assert u == sorted(u, reverse=True)


def _predict_once(run, manifest, out):
    write_predictions(run, manifest.parent / "images", out, PredictOptions(**FAST))
    return out


def test_manifest_with_points_and_without_labels(trained, tmp_path):
    run, manifest = trained
    images = manifest.parent / "images"
    points = tmp_path / "points.csv"
    points.write_text("image,x,y\n" f"{images / '000.png'},3,4\n" f"{images / '001.png'},31,20\n"
                      f"{images / '000.png'},3,4\n" f"{images / '002.png'},,\n")
    out = tmp_path / "pred.csv"
    write_predictions(run, points, out, PredictOptions(**FAST))
    rows = _rows(out)
    assert [(r["image"], r["x"], r["y"]) for r in rows] == [
        (str(images / "000.png"), "3", "4"), (str(images / "001.png"), "31", "20"), (str(images / "002.png"), "", "")]

    def patch(name, x, y):  # pyspacer's rule, written out: reflect-pad by the patch size, centre on the point
        pixels = np.pad(load_image(images / name), ((PATCH, PATCH), (PATCH, PATCH), (0, 0)), mode="reflect")
        top, left = int(round(PATCH + y) - PATCH / 2), int(round(PATCH + x) - PATCH / 2)
        return pixels[top:top + PATCH, left:left + PATCH]

    probs, _, info = _reference(run, [patch("000.png", 3, 4), patch("001.png", 31, 20), load_image(images / "002.png")])
    for row, p in zip(rows, probs):
        assert _json_probs(row, _shown(info.taxonomy)) == pytest.approx(
            [v if v >= 0.01 else 0.0 for v in p.tolist()], abs=5.1e-5)


def test_training_manifest_and_coralnet_points(trained, tmp_path):
    run, manifest = trained
    out = tmp_path / "manifest.csv"
    write_predictions(run, manifest, out, PredictOptions(**FAST))
    rows = _rows(out)
    assert [r["image"] for r in rows] == [f"images/{i:03d}.png" for i in range(24)] and "x" not in rows[0]
    coralnet = manifest.parent / "points_coralnet.csv"
    coralnet.write_text("Name,Row,Column,Annotator\nimages/003.png,5,30,robot\nimages/004.png,0,0,robot\n")
    out = tmp_path / "coralnet.csv"
    write_predictions(run, coralnet, out, PredictOptions(format="coralnet", **FAST))
    assert [(r["image"], r["x"], r["y"]) for r in _rows(out)] == [("images/003.png", "30", "5"),
                                                                   ("images/004.png", "0", "0")]


def test_wide_mode_has_one_column_per_node(trained, tmp_path):
    run, manifest = trained
    compact, wide = tmp_path / "compact.csv", tmp_path / "wide.csv"
    _predict_once(run, manifest, compact)
    write_predictions(run, manifest.parent / "images", wide, PredictOptions(wide=True, **FAST))
    nodes = _shown(read_info(run).taxonomy)
    a, b = _rows(compact), _rows(wide)
    assert "probabilities" not in b[0] and [k for k in b[0] if k.startswith("p:")] == [f"p:{n}" for n in nodes]
    for row_a, row_b in zip(a, b):
        stored = json.loads(row_a["probabilities"])
        for node in nodes:
            value = float(row_b[f"p:{node}"])
            assert value == stored[node] if node in stored else value < 0.01


def test_bad_images_become_error_rows(trained, tmp_path):
    run, manifest = trained
    folder = tmp_path / "survey"
    shutil.copytree(manifest.parent / "images", folder / "dive1")
    (folder / "dive1" / "005.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    Image.new("RGB", (8, 8)).save(folder / "dive1" / "small.png")
    out = tmp_path / "pred.csv"
    summary = write_predictions(run, folder, out, PredictOptions(workers=1, progress=False, batch_size=5),
                      review=tmp_path / "queue.csv")
    rows = _rows(out)
    assert summary.errors == 1 and len(rows) == 25
    bad = [r for r in rows if r["error"]]
    assert [r["image"] for r in bad] == ["dive1/005.png"]
    assert "005.png" in bad[0]["error"] and bad[0]["predicted"] == bad[0]["probabilities"] == ""
    assert _rows(tmp_path / "queue.csv")[-1]["image"] == "dive1/005.png", "unreadable images go last in the queue"
    points = tmp_path / "outside.csv"
    points.write_text(f"image,x,y\n{manifest.parent / 'images' / '001.png'},500,3\n")
    write_predictions(run, points, tmp_path / "outside_pred.csv", PredictOptions(**FAST))
    (row,) = _rows(tmp_path / "outside_pred.csv")
    assert "001.png" in row["error"] and "outside" in row["error"]


def test_interrupted_run_leaves_the_old_file_and_no_temp_file(trained, tmp_path, monkeypatch):
    run, manifest = trained
    out = tmp_path / "pred.csv"
    calls = {"n": 0}
    real_rows = PredictionTable.rows

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real_rows(self, *args, **kwargs)

    monkeypatch.setattr(PredictionTable, "rows", failing)
    options = PredictOptions(batch_size=8, **FAST)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_predictions(run, manifest.parent / "images", out, options)
    assert list(tmp_path.iterdir()) == []
    out.write_text("old result\n")
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_predictions(run, manifest.parent / "images", out, options, review=tmp_path / "q.csv", overwrite=True)
    assert out.read_text() == "old result\n" and sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv"]


def test_existing_output_is_refused_without_overwrite(trained, tmp_path, capsys):
    run, manifest = trained
    out = tmp_path / "pred.csv"
    out.write_text("finished\n")
    with pytest.raises(FileExistsError, match="pred.csv already exists.*--overwrite"):
        write_predictions(run, manifest.parent / "images", out, PredictOptions(**FAST))
    assert main(["predict", str(run), str(manifest.parent / "images"), "--out", str(out), "--workers", "0"]) == 2
    assert "pred.csv already exists" in capsys.readouterr().err and out.read_text() == "finished\n"


def test_cli_writes_predictions_and_the_default_review_queue(trained, tmp_path, capsys):
    run, manifest = trained
    out = tmp_path / "p.csv"
    code = main(["predict", str(run), str(manifest.parent / "images"), "--out", str(out), "--review", "--top-k", "2",
                 "--uncertainty", "epistemic_js", "--workers", "0", "--no-progress", "--wide",
                 "--review-threshold", "0.001", "--threshold", "0.52"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "24 rows" in printed and "p.review.csv" in printed
    rows = _rows(out)
    assert len(_rows(tmp_path / "p.review.csv")) == 24 and "Machine suggestion 2" in rows[0]
    assert "Machine suggestion 3" not in rows[0] and "p:Biota" in rows[0] and "probabilities" not in rows[0]
    tax = read_info(run).taxonomy
    changed = 0
    for row in rows:
        assert (row["needs_review"] == "true") == (float(row["uncertainty"]) > 0.001)
        p = torch.tensor([float(row[f"p:{n}"]) for n in _shown(tax)])
        decoded = {" > ".join(tax.node_path(n)) for n in tax.decode(p, 0.52)}
        assert set(filter(None, row["predicted"].split(";"))) == decoded
        changed += decoded != {" > ".join(tax.node_path(n)) for n in tax.decode(p, 0.5)}
    assert changed, "--threshold 0.52 should change some predictions of this barely trained model"


def test_mc_dropout_predictions_are_seeded(trained, tmp_path):
    run, manifest = trained
    info = read_info(run)
    info.config.model.member_type, info.config.model.members, info.config.model.dropout = "mc_dropout", 4, 0.5
    model, _ = build_model(info.config.model, info.taxonomy, load_weights=False)
    checkpoint = save_weights(model, tmp_path / "mc.safetensors", info.config, info.taxonomy, epoch=0)
    options = PredictOptions(uncertainty="epistemic_js", **FAST)
    a = _rows(write_predictions(checkpoint, manifest.parent / "images", tmp_path / "a.csv", options).out)
    b = _rows(write_predictions(checkpoint, manifest.parent / "images", tmp_path / "b.csv", options).out)
    assert a == b
    assert max(float(r["uncertainty"]) for r in a) > 0, "MC-dropout samples disagree"


@pytest.mark.parametrize("case, error, message", [
    ("missing", FileNotFoundError, "does not exist"),
    ("no_image_column", AnnotationFormatError, r"nolabel.csv.*missing column 'image'"),
    ("x_without_y", AnnotationFormatError, r"half.csv:2, column 'y'.*both"),
    ("empty_folder", ValueError, "empty: no images .* found below this folder"),
    ("top_k", ValueError, "top-k must be at least 1"),
    ("mode", ValueError, "unknown uncertainty 'wobbly'"),
    ("same_file", ValueError, "must be different files"),
])
def test_bad_requests_name_the_culprit(trained, tmp_path, case, error, message):
    run, manifest = trained
    source, options, review = manifest, PredictOptions(**FAST), None
    if case == "missing":
        source = tmp_path / "missing.csv"
    elif case == "no_image_column":
        source = tmp_path / "nolabel.csv"
        source.write_text("file,labels\na.png,Biota\n")
    elif case == "x_without_y":
        source = tmp_path / "half.csv"
        source.write_text("image,x,y\nimages/000.png,3,\n")
    elif case == "empty_folder":
        source = tmp_path / "empty"
        source.mkdir()
    elif case == "top_k":
        options = PredictOptions(top_k=0, **FAST)
    elif case == "mode":
        options = PredictOptions(uncertainty="wobbly", **FAST)
    elif case == "same_file":
        review = tmp_path / "out.csv"
    with pytest.raises(error, match=message):
        write_predictions(run, source, tmp_path / "out.csv", options, review=review)


def test_feature_vector_checkpoints_are_refused(tmp_path, hmc_config):
    config = hmc_config("train.epochs=1")
    from seafloorhmc.taxonomy import Taxonomy

    tax = Taxonomy.from_paths(["a/b"])
    model, _ = build_model(config.model, tax, feature_dim=4)
    checkpoint = save_weights(model, tmp_path / "hmc.safetensors", config, tax, epoch=0, feature_dim=4)
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "a.png")
    with pytest.raises(ValueError, match="hmc.safetensors was trained on feature vectors"):
        write_predictions(checkpoint, tmp_path / "imgs", tmp_path / "out.csv", PredictOptions(**FAST))


def test_rows_stream_to_disk_one_batch_at_a_time(trained, tmp_path, monkeypatch):
    """Each batch's rows are written before the next batch is decoded; at most one batch is held."""
    import seafloorhmc.prediction.predictor as predict_module
    from seafloorhmc.prediction.inputs import PredictionDataset
    from seafloorhmc.prediction.table import RowFile

    run, manifest = trained
    events: list[tuple[str, int]] = []
    real_getitem, real_write = PredictionDataset.__getitem__, RowFile.write
    real_load = predict_module.load_trained_model

    def getitem(self, index):
        events.append(("decode", 1))
        return real_getitem(self, index)

    def write(self, rows, keys):
        events.append(("write", len(rows)))
        return real_write(self, rows, keys)

    def load(*args, **kwargs):
        model, info = real_load(*args, **kwargs)
        real_predict = model.predict

        def spy(x, *rest):
            events.append(("predict", x.shape[0]))
            return real_predict(x, *rest)

        model.predict = spy
        return model, info

    monkeypatch.setattr(PredictionDataset, "__getitem__", getitem)
    monkeypatch.setattr(RowFile, "write", write)
    monkeypatch.setattr(predict_module, "load_trained_model", load)
    write_predictions(run, manifest.parent / "images", tmp_path / "pred.csv", PredictOptions(batch_size=5, **FAST))
    decoded = written = 0
    for kind, n in events:
        if kind == "decode":
            decoded += 1
            assert decoded - written <= 5, "more than one batch of decoded images held"
        elif kind == "predict":
            assert n == decoded - written <= 5
        else:
            written += n
            assert written == decoded
    assert [n for kind, n in events if kind == "write"] == [5, 5, 5, 5, 4]
    assert written == 24


def test_coralnet_export_with_label_map_becomes_patches(trained, tmp_path, capsys):
    """An annotated export (any reader via --format): one row per point, predicted on its patch."""
    run, manifest = trained
    images = manifest.parent / "images"
    label_map = tmp_path / "labels.csv"
    label_map.write_text("Label,path\nURCH,Biota > Echinoderms\nBIO,Biota\n")
    export = tmp_path / "annotations.csv"  # one point labelled twice: predicted once
    export.write_text("Name,Row,Column,Label\n000.png,4,3,URCH\n000.png,4,3,BIO\n001.png,20,31,BIO\n")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(export), "--out", str(out), "--format", "coralnet", "--label-map",
                 str(label_map), "--root", str(images), "--workers", "1", "--no-progress"]) == 0
    assert "2 rows" in capsys.readouterr().out
    rows = _rows(out)
    assert [(r["image"], r["x"], r["y"]) for r in rows] == [("000.png", "3", "4"), ("001.png", "31", "20")]

    def patch(name, x, y):  # reflect-pad by the patch size, centre on the point (pyspacer's rule)
        pixels = np.pad(load_image(images / name), ((PATCH, PATCH), (PATCH, PATCH), (0, 0)), mode="reflect")
        top, left = int(round(PATCH + y) - PATCH / 2), int(round(PATCH + x) - PATCH / 2)
        return pixels[top:top + PATCH, left:left + PATCH]

    probs, _, info = _reference(run, [patch("000.png", 3, 4), patch("001.png", 31, 20)])
    for row, p in zip(rows, probs):
        assert _json_probs(row, _shown(info.taxonomy)) == pytest.approx(
            [v if v >= 0.01 else 0.0 for v in p.tolist()], abs=5.1e-5)


def test_cli_prints_the_count_of_unreadable_images(trained, tmp_path, capsys):
    run, manifest = trained
    folder = tmp_path / "survey"
    shutil.copytree(manifest.parent / "images", folder)
    for name in ("003.png", "007.png"):
        (folder / name).write_bytes(b"truncated")
    assert main(["predict", str(run), str(folder), "--out", str(tmp_path / "p.csv"), "--workers", "0",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "24 rows" in printed and "2 unreadable" in printed
    rows = _rows(tmp_path / "p.csv")
    assert [r["image"] for r in rows if r["error"]] == ["003.png", "007.png"]


def test_bench_predict_script_prints_both_rates_with_tiny_settings(tmp_path, monkeypatch, capsys):
    """Smoke test of scripts/bench_predict.py (the timing itself is run by hand on a quiet machine)."""
    import re
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "bench_predict.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--data", str(tmp_path / "synth"), "--images", "10",
                                      "--size", "32", "--encoder", "test_resnet", "--image-size", "32",
                                      "--batch-size", "4", "--members", "2", "--workers", "0"])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    encoder = re.search(r"encoder forward \(pre-made tensors\):\s+([\d.]+) images/s", printed)
    end_to_end = re.search(r"predict end to end \(folder → CSV\):\s+([\d.]+) images/s", printed)
    ratio = re.search(r"ratio predict / encoder:\s+([\d.]+)", printed)
    assert encoder and end_to_end and ratio, printed
    expected_ratio = float(end_to_end.group(1)) / float(encoder.group(1))
    assert float(ratio.group(1)) == pytest.approx(expected_ratio, rel=0.01, abs=2e-3)
    assert "10 synthetic images, encoder test_resnet at 32 px, batch 4, 2 members" in printed
    inputs = float(re.search(r"decode \+ eval transform, one core:\s+([\d.]+) images/s", printed).group(1))
    bound = float(re.search(r"best ratio the CPU work allows:\s+([\d.]+)", printed).group(1))
    cores = torch.get_num_threads()
    enc = float(encoder.group(1))
    assert bound == pytest.approx((1 / enc) / (1 / enc + 1 / (cores * inputs)), rel=0.01, abs=2e-3)


def test_a_per_level_head_follows_the_checkpoints_decoding(trained, tmp_path):
    """Prototype (HCAL) heads decide node sets themselves; predict decodes them as eval.decoding says."""
    from seafloorhmc.config import load_config
    from seafloorhmc.prediction.suggestions import deepest_predicted

    run, manifest = trained
    tax = read_info(run).taxonomy
    config = load_config(None, ["model.encoder=test_resnet", "model.head=prototype", "model.members=1",
                                "model.head_layers=1", "model.embedding_dim=16", "data.single_path=true",
                                "data.image_size=32", "data.normalisation=imagenet", "eval.decoding=consistent"])
    model, _ = build_model(config.model, tax, load_weights=False, seed=1)
    checkpoint = save_weights(model.eval(), tmp_path / "proto.safetensors", config, tax, epoch=0)
    summary = write_predictions(checkpoint, manifest.parent / "images", tmp_path / "p.csv", PredictOptions(**FAST))
    rows = _rows(summary.out)
    files = sorted((manifest.parent / "images").glob("*.png"))
    reference, _ = load_trained_model(checkpoint)
    x = torch.stack([eval_transform(32, IMAGENET_MEAN, IMAGENET_STD)(image=load_image(f))["image"] for f in files])

    def paths(decoding):
        prediction = reference.predict(x, decoding)
        deepest = deepest_predicted(prediction.probs, tax, 0.5, prediction.predicted)
        return [";".join(" > ".join(tax.node_path(j)) for j in torch.nonzero(d).flatten().tolist()) for d in deepest]

    assert [r["predicted"] for r in rows] == paths("consistent")
    assert paths("consistent") != paths("independent"), "random prototypes should make the decodings disagree"
