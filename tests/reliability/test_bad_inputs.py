"""Adversarial inputs through the command line: every case ends with exit 2 and one line naming the culprit.

Broken, bomb and truncated images; cyclic and duplicate label trees; malformed manifests; pickles
that would run code wherever a file is loaded; NaN/inf/absurd ARFF values; meaningless settings.
No case may print a traceback, run code, or damage what was already written. Unusual but valid
images (CMYK, 16-bit, EXIF-rotated, a non-ASCII file name) must train.
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from reliability_helpers import HMC_SETTINGS, IMAGE_SETTINGS, train_args

from seafloorhmc.config import load_config
from seafloorhmc.testing.bad_inputs import (
    BROKEN_IMAGES,
    ODD_IMAGES,
    write_broken_image,
    write_code_running_pickle,
    write_odd_image,
)
from seafloorhmc.training import train


def _manifest_rows(manifest):
    with open(manifest, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_manifest_rows(manifest, rows):
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# ------------------------------------------------------------------------------------------------ images
def test_every_broken_image_is_named_at_once_before_training(cli, images, empty_config, tmp_path):
    rows = _manifest_rows(images)
    targets = [r for r in rows if r["split"] == "test"][:2] + [r for r in rows if r["split"] == "train"][:3]
    for row, name in zip(targets, BROKEN_IMAGES):  # test images too: they used to fail after training
        broken = write_broken_image(images.parent / "images", name)
        row["image"] = f"images/{broken.name}"
    _write_manifest_rows(images, rows)
    line = cli.fails(*train_args(empty_config, [*IMAGE_SETTINGS, f"data.annotations={images}"], tmp_path / "run"))
    assert line.startswith("seafloorhmc train: error: 5 unreadable images")
    for name, reason in BROKEN_IMAGES.items():
        assert f"{images.parent / 'images' / name}: " in line and reason in line
    assert "data.skip_bad_images=true" in line and "data.allow_truncated=true" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unusual_but_valid_images_train(cli, images, empty_config, tmp_path):
    rows = _manifest_rows(images)
    for row, name in zip([r for r in rows if r["split"] == "train"], ODD_IMAGES):
        odd = write_odd_image(images.parent / "images", name)
        row["image"] = f"images/{odd.name}"
    _write_manifest_rows(images, rows)
    code, _, err = cli(*train_args(empty_config, [*IMAGE_SETTINGS, f"data.annotations={images}"], tmp_path / "run"))
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped_images"] == 0


# ------------------------------------------------------------------------------------------------ label trees
@pytest.mark.parametrize("tree, message", [
    ("id,name,parent_id\n1,Biota,3\n2,Echinoderms,1\n3,Sea stars,2\n", r"cycle in label table: .* -> "),
    ("id,name,parent_id\n1,Biota,\n1,Echinoderms,1\n", r"label table row 3: duplicate label id '1'"),
    ("id,name,parent_id\n1,Biota,\n2,Sponges,1\n3,Sponges,1\n", r"two labels with the same path 'Biota/Sponges'"),
    ("id,name,parent_id\n1,Biota,\n2,Sponges,7\n", r"label '2' has unknown parent id '7'"),
])
def test_bad_label_trees_are_named(cli, images, empty_config, tmp_path, tree, message):
    (tmp_path / "labels.csv").write_text(tree)
    settings = [*IMAGE_SETTINGS, f"data.annotations={images}", f"data.label_tree={tmp_path / 'labels.csv'}"]
    line = cli.fails(*train_args(empty_config, settings, tmp_path / "run"))
    assert str(tmp_path / "labels.csv") in line
    assert __import__("re").search(message, line), line


def test_labels_missing_from_the_tree_are_listed_with_the_users_separator(cli, images, empty_config, tmp_path):
    """An unknown label used to be printed as 'Biota/Echinoderms/sea stars', whatever the separator."""
    tree = "id,name,parent_id\n1,Biota,\n2,Echinoderms,1\n3,Sea stars,2\n4,Sea urchins,2\n5,Regular urchins,4\n" \
           "6,Sponges,1\n"
    (tmp_path / "labels.csv").write_text(tree)
    rows = _manifest_rows(images)
    rows[2]["labels"] = "Biota | Echinoderms | sea stars"
    _write_manifest_rows(images, [{**r, "labels": r["labels"].replace(" > ", " | ")} for r in rows])
    settings = [*IMAGE_SETTINGS, f"data.annotations={images}", f"data.label_tree={tmp_path / 'labels.csv'}",
                'data.separator=" | "']
    line = cli.fails(*train_args(empty_config, settings, tmp_path / "run"))
    assert "1 label is not in the label tree" in line
    assert f"'Biota | Echinoderms | sea stars' ({images}:4; did you mean 'Biota | Echinoderms | Sea stars'?)" in line


def test_label_typos_warn_naming_both_spellings(images, caplog, tmp_path):
    """'biota > sponges' used to become a second root without a word."""
    from seafloorhmc.datamodule import prepare_data

    rows = _manifest_rows(images)
    rows[3]["labels"] = "biota > sponges"
    rows[5]["labels"] = "Biota>Sponges"
    _write_manifest_rows(images, rows)
    prepare_data(load_config(None, [*IMAGE_SETTINGS, f"data.annotations={images}"]))
    assert f"'biota > sponges' ({images}:5)" in caplog.text and "differ only in case or spacing" in caplog.text
    assert f"'Biota>Sponges' ({images}:7)" in caplog.text
    assert "contains '>' without the spaces of data.separator" in caplog.text


# ------------------------------------------------------------------------------------------------ manifests
@pytest.mark.parametrize("content, where", [
    ("image,label\nimages/000.png,Biota\n", r"manifest.csv:1: missing column 'labels'"),
    ("image,labels,split\nimages/000.png,Biota,train\nimages/001.png,Biota\n",
     r"manifest.csv:3: row has 2 fields but the header has 3"),
    ("image,labels,split\nimages/000.png,Biota,training\n", r"manifest.csv:2, column 'split': unknown split"),
    ("image,labels,complete\nimages/000.png,Biota,perhaps\n", r"manifest.csv:2, column 'complete': 'perhaps' is not"),
    ("image,labels,x,y\nimages/000.png,Biota,-3,4\n", r"manifest.csv:2, column 'x': pixel coordinate -3 is negative"),
    ("image,labels\nimages/000.png,Biota >  > Sponges\n", r"manifest.csv:2, column 'labels': .*empty component"),
    ("image,labels\n,Biota\n", r"manifest.csv:2, column 'image': empty image path"),
    ("", r"manifest.csv: the file is empty"),
    (b"image,labels\nimages/\xff\xfe.png,Biota\n", r"manifest.csv:2: not valid utf-8-sig text"),
])
def test_malformed_manifests_are_named_to_the_row(cli, images, empty_config, tmp_path, content, where):
    bad = images.parent / "manifest.csv"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    line = cli.fails(*train_args(empty_config, [*IMAGE_SETTINGS, f"data.annotations={bad}"], tmp_path / "run"))
    assert __import__("re").search(where, line), line


# ------------------------------------------------------------------------------------------------ pickles
def test_a_code_running_training_state_is_refused_on_resume(cli, hmc_root, empty_config, tmp_path):
    settings = [*HMC_SETTINGS, f"data.root={hmc_root}", "train.epochs=2"]
    train(load_config(None, settings), tmp_path / "run", stop_after_epoch=0)
    state = next((tmp_path / "run" / "checkpoints").glob("epoch-*/state.pt"))
    marker = tmp_path / "PWNED"
    write_code_running_pickle(state, marker)
    line = cli.fails(*train_args(empty_config, settings, tmp_path / "run", "--resume"))
    assert f"cannot load training state {state}" in line and "never unpickled" in line
    assert "weights_only=False" not in line, "never advise loading it unsafely"
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_code_running_encoder_weights_are_refused(cli, images, empty_config, tmp_path, suffix):
    marker = tmp_path / "PWNED"
    weights = write_code_running_pickle(tmp_path / f"encoder{suffix}", marker)
    settings = [*IMAGE_SETTINGS, f"data.annotations={images}", "model.pretrained=true", f"model.weights={weights}"]
    line = cli.fails(*train_args(empty_config, settings, tmp_path / "run"))
    assert f"cannot read encoder weights {weights}" in line and "never unpickled" in line
    assert not marker.exists()


def test_a_pickle_disguised_as_a_model_is_refused_everywhere_a_model_is_loaded(cli, image_run, images, tmp_path):
    marker = tmp_path / "PWNED"
    fake = write_code_running_pickle(tmp_path / "model.safetensors", marker)
    assert str(fake) in cli.fails("evaluate", fake)
    assert str(fake) in cli.fails("predict", fake, images.parent / "images", "--out", tmp_path / "p.csv",
                                  "--workers", "0", "--no-progress")
    assert str(fake) in cli.fails("export-encoder", fake, tmp_path / "encoder.safetensors")
    run = shutil.copytree(image_run, tmp_path / "run")
    write_code_running_pickle(run / "model.safetensors", marker)
    assert "model.safetensors" in cli.fails("evaluate", run)
    assert not marker.exists() and not (tmp_path / "p.csv").exists()


def test_a_pickled_predictions_file_is_never_loaded_by_the_report(cli, image_run, tmp_path):
    marker = tmp_path / "PWNED"
    run = shutil.copytree(image_run, tmp_path / "run")
    payload = np.empty(1, dtype=object)
    payload[0] = __import__("seafloorhmc.testing.bad_inputs", fromlist=["x"])._RunsCode(marker)
    np.savez(run / "test_predictions.npz", nodes=np.array(["a"]), probs=payload, targets=payload)
    code, out, err = cli("report", run, "--overwrite")
    assert code == 0 and "could not be drawn" in err and "Traceback" not in err
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------ ARFF values
@pytest.mark.parametrize("value, reason", [("nan", "'nan' is not a finite number"), ("inf", "'inf' is not a finite"),
                                           ("-Infinity", "'-Infinity' is not a finite"),
                                           ("1e308", "'1e308' is beyond what float32 holds")])
def test_non_finite_or_absurd_features_are_named_by_file_line_and_column(cli, hmc_root, empty_config, tmp_path,
                                                                         value, reason):
    """1e308 used to end in a traceback blaming the learning rate; inf in scikit-learn's message."""
    arff = hmc_root / "datasets_FUN" / "toy_FUN" / "toy_FUN.train.arff"
    lines = arff.read_text().splitlines()
    row = lines.index("@DATA") + 4
    fields = lines[row].split(",")
    fields[2] = value
    lines[row] = ",".join(fields)
    arff.write_text("\n".join(lines) + "\n")
    line = cli.fails(*train_args(empty_config, [*HMC_SETTINGS, f"data.root={hmc_root}"], tmp_path / "run"))
    assert f"{arff}:{row + 1}, column 'f2': {reason}" in line


# ------------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("setting, message", [
    ("train.lr=-1", "train.lr must be positive, got -1"),
    ("train.lr=0", "train.lr must be positive, got 0"),
    ("train.weight_decay=-0.01", "train.weight_decay must be non-negative"),
    ("train.momentum=1.5", "train.momentum must lie in [0, 1)"),
    ("train.lr=.nan", "train.lr: expected a finite number"),
    ("data.workers=-2", "data.workers must be non-negative"),
    ("loss.focal_k=-1", "loss.focal_k must be non-negative"),
    ("train.warmup_epochs=5", "train.warmup_epochs=5 is longer than the run"),
])
def test_meaningless_settings_are_refused_before_anything_runs(cli, hmc_root, empty_config, tmp_path, setting,
                                                               message):
    """train.lr=-1 used to train by gradient ascent and exit 0."""
    line = cli.fails(*train_args(empty_config, [*HMC_SETTINGS, f"data.root={hmc_root}", setting], tmp_path / "run"))
    assert message in line
    assert not (tmp_path / "run").exists()


def test_a_diverging_run_ends_in_one_line_not_a_traceback(cli, hmc_root, empty_config, tmp_path):
    """train.lr=1e6 used to end in a raw traceback (NonFiniteLossError escaped the command line)."""
    settings = [*HMC_SETTINGS, f"data.root={hmc_root}", "train.lr=1e30", "train.optimizer=sgd", "train.epochs=2"]
    line = cli.fails(*train_args(empty_config, settings, tmp_path / "run"))
    assert "at epoch 1, step" in line and "batch rows [" in line and "train.grad_clip" in line
