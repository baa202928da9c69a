import csv
import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seafloorhmc.config import ConfigError
from seafloorhmc.data.checks import BadImagesError
from seafloorhmc.data.dataset import TensorBatches
from seafloorhmc.data.images import BadImageError
from seafloorhmc.datamodule import prepare_data
from seafloorhmc.models.persistence import CheckpointError, read_info
from seafloorhmc.testing import write_tiny_image_manifest
from seafloorhmc.training import NonFiniteLossError, RunDirError, Trainer, train
from seafloorhmc.training.checkpoints import CheckpointStore
from seafloorhmc.training.run_dir import RunDir


def test_image_run_writes_metrics_checkpoints_and_log(image_config, tmp_path):
    config = image_config("loss.node_weights=class-wise", "loss.uncertainty=bma")
    metrics = train(config, tmp_path / "run")
    run = tmp_path / "run"
    on_disk = json.loads((run / "metrics.json").read_text())
    for key in ("au_prc", "bin_ap", "precision", "recall", "f1", "recall_by_depth", "hvr", "config"):
        assert key in on_disk
    assert on_disk["au_prc"] == pytest.approx(metrics["au_prc"])
    assert on_disk["config"]["loss"]["node_weights"] == "class-wise"
    assert on_disk["hvr"] == 0.0, "constrained predictions never violate the hierarchy"
    log = (run / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,train_loss,val_loss") and len(log) == 3
    info = read_info(run)
    assert info.fingerprint == on_disk["taxonomy_fingerprint"]
    assert set(load_file(str(run / "model.safetensors"))) >= {"head.mlp.weights.0"}
    assert (run / "test_predictions.npz").is_file()


def _spy_on_reads(data, events: list) -> None:
    """Make every split of ``data`` append (split, rows) to ``events`` whenever rows are read from it."""
    for split in ("train", "val", "test"):
        source = getattr(data, split)
        if source is None:
            continue
        base = type(source)
        if isinstance(source, TensorBatches):
            def batches(self, _split=split, _base=base):
                for batch in _base.__iter__(self):
                    events.append((_split, torch.as_tensor(batch["index"]).tolist()))
                    yield batch
            methods = {"__iter__": batches}
        else:
            def item(self, index, _split=split, _base=base):
                events.append((_split, [int(index)]))
                return _base.__getitem__(self, index)
            methods = {"__getitem__": item}
        source.__class__ = type(f"Spied{base.__name__}", (base,), methods)


@pytest.mark.parametrize("which", ["images", "hmc"])
def test_no_test_row_is_read_before_the_final_scoring(which, image_config, hmc_config, tmp_path):
    """Epoch selection sees the validation split only: the test split is read once, after all training
    and validation reads, and the epoch kept is the one with the best validation score."""
    make = image_config if which == "images" else hmc_config
    config = make("train.epochs=3", "train.select_metric=f1")
    data = prepare_data(config)
    events: list = []
    _spy_on_reads(data, events)
    run = RunDir(tmp_path / "run")
    run.prepare()
    metrics = Trainer(config, run, data=data).fit()
    splits = [split for split, _ in events]
    assert {"train", "val", "test"} <= set(splits)
    first_test = splits.index("test")
    assert set(splits[first_test:]) == {"test"}, "a training or validation read after the test split was scored"
    reads = Counter(row for split, rows in events if split == "test" for row in rows)
    assert sorted(reads) == list(range(metrics["n_examples"])), "every test row is scored"
    assert set(reads.values()) == {1}, "one pass scores the test metrics and the review flag (its threshold: val)"
    assert metrics["selection"] == "best val f1"
    log = [line.split(",") for line in (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]]
    val_f1 = [float(row[4]) for row in log]
    assert metrics["selected_epoch"] == 1 + max(range(3), key=lambda i: (val_f1[i], -i))
    assert metrics["validation"]["f1"] == pytest.approx(val_f1[metrics["selected_epoch"] - 1])


def test_metrics_keep_the_selected_epochs_validation_scores(hmc_config, tmp_path):
    """hvr is 0 in every epoch (constrained predictions), so the first epoch stays selected: the
    validation block must be epoch 1's scores, not the last epoch's."""
    metrics = train(hmc_config("train.epochs=3", "train.select_metric=hvr"), tmp_path / "run")
    assert metrics["selected_epoch"] == 1
    log = list(csv.DictReader((tmp_path / "run" / "log.csv").read_text().splitlines()))
    assert float(log[0]["val_loss"]) != float(log[-1]["val_loss"]), "the epochs differ, so the check can fail"
    for key in ("loss", "au_prc", "f1", "recall"):
        assert metrics["validation"][key] == pytest.approx(float(log[0][f"val_{key}"])), key
    assert metrics["validation"]["hvr"] == 0.0 and "recall_by_depth" in metrics["validation"]


@pytest.mark.parametrize("which", ["images", "hmc"])
def test_resume_reproduces_the_uninterrupted_run(which, image_config, hmc_config, tmp_path):
    make = image_config if which == "images" else hmc_config
    config = make("train.epochs=3", "loss.node_weights=class-wise", "loss.uncertainty=gmu",
                  "train.warmup_epochs=1", "data.augment=true")
    straight = train(config, tmp_path / "straight")
    assert train(config, tmp_path / "interrupted", stop_after_epoch=0) is None
    resumed = train(config, tmp_path / "interrupted", resume=True)
    log_a = (tmp_path / "straight" / "log.csv").read_text().splitlines()
    log_b = (tmp_path / "interrupted" / "log.csv").read_text().splitlines()
    strip = lambda rows: [",".join(r.split(",")[:7]) for r in rows]  # noqa: E731 - drop timings
    assert strip(log_a) == strip(log_b)
    assert straight["au_prc"] == resumed["au_prc"]
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "interrupted" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finished_and_unfinished_runs_are_protected(hmc_config, tmp_path):
    config = hmc_config("train.epochs=2")
    train(config, tmp_path / "run")
    with pytest.raises(RunDirError, match="finished run.*--overwrite"):
        train(config, tmp_path / "run")
    train(config, tmp_path / "run", overwrite=True)
    train(config, tmp_path / "half", stop_after_epoch=0)
    with pytest.raises(RunDirError, match="unfinished run.*--resume"):
        train(config, tmp_path / "half")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a seafloorhmc run"):
        train(config, tmp_path / "other")


def test_resume_refuses_a_changed_config(hmc_config, tmp_path):
    train(hmc_config(), tmp_path / "run", stop_after_epoch=0)
    with pytest.raises(ConfigError, match="configuration changed in train.lr"):
        train(hmc_config("train.lr=0.1"), tmp_path / "run", resume=True)


def test_nan_loss_names_where_it_happened(hmc_config, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at epoch 1, step \d+; batch rows \[\d+"):
        train(hmc_config("train.lr=1e30", "train.optimizer=sgd", "train.epochs=2"), tmp_path / "run")


def test_hmc_protocol_trains_on_train_and_valid(hmc_config, tmp_path):
    metrics = train(hmc_config("data.train_on_val=true"), tmp_path / "run")
    assert metrics["data"]["train"] == 80 and metrics["data"]["test"] == 30 and "val" not in metrics["data"]
    assert metrics["selection"] == "last epoch" and metrics["selected_epoch"] == 3


def test_checkpoint_store_keeps_last_and_best(hmc_config, tmp_path):
    train(hmc_config("train.epochs=3"), tmp_path / "run")
    store = CheckpointStore(tmp_path / "run" / "checkpoints")
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("epoch-*"))
    assert store.last().name == "epoch-0003"
    assert set(kept) == {store.last().name, store.best().name}
    state = store.load_state(store.last())
    assert state["epoch"] == 2 and "optimizer" in state and "rng" in state


def test_a_kill_between_the_checkpoint_pointers_resumes_to_the_uninterrupted_run(hmc_config, tmp_path, monkeypatch):
    """Killed after an epoch's files and one pointer are written: the resumed run must end where the straight one
    does (the best epoch's weights are the ones tested), whichever pointer the kill fell after."""
    import seafloorhmc.training.checkpoints as checkpoints

    config = hmc_config("train.epochs=2", "train.select_metric=au_prc")
    straight = train(config, tmp_path / "straight")
    assert straight["selected_epoch"] == 2, "the last epoch must be the best one for the kill to matter"
    real = checkpoints.write_json
    for pointer in ("best.json", "last.json"):
        run = tmp_path / f"killed-after-{pointer}"
        written: list[str] = []

        def dying(path, data, *args, _pointer=pointer, _written=written, **kwargs):
            result = real(path, data, *args, **kwargs)
            _written.append(Path(path).name)
            if Path(path).name == _pointer and data["epoch"] == 2:
                raise KeyboardInterrupt("killed")  # as if the process died right after this write
            return result

        monkeypatch.setattr(checkpoints, "write_json", dying)
        with pytest.raises(KeyboardInterrupt):
            train(config, run)
        assert written[-1] == pointer
        monkeypatch.setattr(checkpoints, "write_json", real)
        resumed = train(config, run, resume=True)
        assert resumed["selected_epoch"] == straight["selected_epoch"], pointer
        assert resumed["au_prc"] == straight["au_prc"] and resumed["f1"] == straight["f1"], pointer


def test_resume_accepts_a_checkpoint_from_before_a_config_key_existed(hmc_config, tmp_path):
    """A key added to the library later takes its default; only real changes refuse to resume."""
    from seafloorhmc.training.checkpoints import STATE, CheckpointStore

    config = hmc_config("train.epochs=2")
    straight = train(config, tmp_path / "straight")
    train(config, tmp_path / "old", stop_after_epoch=0)
    store = CheckpointStore(tmp_path / "old" / "checkpoints")
    state = store.load_state(store.last())
    del state["config"]["train"]["momentum"]  # as written by a version that did not know the key
    torch.save(state, store.last() / STATE)
    resumed = train(config, tmp_path / "old", resume=True)
    assert resumed["au_prc"] == straight["au_prc"]


# ---------------------------------------------------------------------------------------------- reliability
def _own_images(tmp_path, image_config, *overrides, n_images=36):
    """A private copy of the tiny image set (files here may be broken) and a config reading it."""
    manifest = write_tiny_image_manifest(tmp_path / "data", n_images=n_images, size=32)
    return manifest.parent / "images", image_config(f"data.annotations={manifest}", *overrides)


def test_bad_images_of_every_split_are_found_together_before_training(tmp_path, image_config):
    """Six bad files used to take six reruns, and a bad test image was found only after training."""
    images, config = _own_images(tmp_path, image_config)
    broken = {"000.png": "train", "004.png": "val", "005.png": "test", "011.png": "test"}
    for name in broken:
        (images / name).write_bytes(b"not an image")
    with pytest.raises(BadImagesError) as caught:
        train(config, tmp_path / "run")
    message = str(caught.value)
    assert message.startswith(f"4 unreadable images (all listed in {tmp_path / 'run' / 'bad_images.txt'})")
    assert all(str(images / name) in message for name in broken) and "data.skip_bad_images=true" in message
    listed = (tmp_path / "run" / "bad_images.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(str(images / n) for n in broken)
    assert not (tmp_path / "run" / "checkpoints").exists(), "nothing was trained"

    metrics = train(image_config(f"data.annotations={images.parent / 'manifest.csv'}", "data.skip_bad_images=true"),
                    tmp_path / "run")  # the same folder: the failed start left no run to protect
    assert metrics["skipped_images"] == 4 and metrics["data"]["skipped_images"] == 4
    assert (metrics["data"]["train"], metrics["data"]["val"], metrics["data"]["test"]) == (23, 5, 4)
    assert metrics["n_examples"] == 4, "the test split was scored without its bad images"
    skipped = (tmp_path / "run" / "skipped_images.txt").read_text()
    assert sorted(line.split("\t")[0] for line in skipped.splitlines()) == sorted(str(images / n) for n in broken)
    html = (tmp_path / "run" / "report.html").read_text()
    assert "4 unreadable, left out of every split" in html and "whole image, resized to 32 px" in html
    assert f"manifest: {images.parent / 'manifest.csv'}" in html


def test_resume_may_turn_on_skip_bad_images_for_an_image_broken_since(tmp_path, image_config):
    """A test image broken after the run started: resuming with data.skip_bad_images=true used to be refused."""
    images, config = _own_images(tmp_path, image_config, "train.epochs=2")
    train(config, tmp_path / "run", stop_after_epoch=0)
    (images / "005.png").write_bytes((images / "005.png").read_bytes()[:40])  # a test image, truncated
    with pytest.raises(BadImagesError, match="005.png"):
        train(config, tmp_path / "run", resume=True)
    skipping = image_config(f"data.annotations={images.parent / 'manifest.csv'}", "train.epochs=2",
                            "data.skip_bad_images=true")
    metrics = train(skipping, tmp_path / "run", resume=True)
    assert metrics["skipped_images"] == 1 and metrics["data"]["test"] == 5


def test_an_image_broken_during_training_names_the_settings(tmp_path, image_config, monkeypatch):
    import seafloorhmc.datamodule as datamodule
    from seafloorhmc.data.checks import ImageCheck

    images, config = _own_images(tmp_path, image_config)
    monkeypatch.setattr(datamodule, "check_images", lambda *a, **k: ImageCheck())  # as if it broke after the check
    (images / "000.png").write_bytes(b"broken")
    with pytest.raises(BadImageError, match=r"000.png: .*changed after the check before training.*"
                                            r"data.skip_bad_images=true.*data.allow_truncated=true"):
        train(config, tmp_path / "run")


@pytest.mark.parametrize("batch_size", [23, 5])
def test_no_training_batch_of_one(tmp_path, image_config, batch_size):
    """24 training images in batches of 23, or 26 in batches of 5, left a last batch of one: BatchNorm failed."""
    n_images = 36 if batch_size == 23 else 38  # train split: i % 6 < 4 → 24 or 26 images
    _, config = _own_images(tmp_path, image_config, f"train.batch_size={batch_size}", "train.epochs=1",
                            "model.encoder=test_resnet", "train.report=false", n_images=n_images)
    metrics = train(config, tmp_path / "run")
    assert metrics["data"]["train"] % batch_size == 1 and metrics["epochs"] == 1


def test_unreadable_images_never_leave_a_batch_of_one(tmp_path, image_config, monkeypatch, caplog):
    """Images that break after the check are skipped; a batch thinned to one image is not stepped on."""
    import seafloorhmc.datamodule as datamodule
    from seafloorhmc.data.checks import ImageCheck

    images, config = _own_images(tmp_path, image_config, "train.batch_size=2", "train.epochs=2",
                                 "data.skip_bad_images=true", "train.report=false")
    monkeypatch.setattr(datamodule, "check_images", lambda *a, **k: ImageCheck())
    train_images = [f"{i:03d}.png" for i in range(36) if i % 6 < 4]
    for name in train_images[1:]:  # every training image but one: its batch holds one readable image
        (images / name).write_bytes(b"broken")
    with caplog.at_level(logging.INFO, logger="seafloorhmc"):
        metrics = train(config, tmp_path / "run")
    assert metrics["skipped_images"] == len(train_images) - 1
    warnings = [r for r in caplog.records if "became unreadable" in r.getMessage()]
    assert len(warnings) == 1, "reported once per run, not once per batch or epoch"
    assert "not trained on" in caplog.text


def test_one_line_per_epoch_and_checkpoints_counted_from_one(tmp_path, hmc_config, caplog):
    with caplog.at_level(logging.INFO, logger="seafloorhmc"):
        train(hmc_config("train.epochs=3", "train.progress=false"), tmp_path / "run")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(re.fullmatch(r"epoch \d/3: train loss [\d.e-]+, val au_prc [\d.e-]+( \(best\))?, [\d.]+ s", line)
               for line in lines), lines
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("epoch-*"))
    assert "epoch-0003" in names and "epoch-0000" not in names
    assert json.loads((tmp_path / "run" / "checkpoints" / "last.json").read_text()) == {"dir": "epoch-0003",
                                                                                         "epoch": 3}


def test_stale_temporary_files_are_removed_when_a_run_resumes(tmp_path, hmc_config):
    train(hmc_config("train.epochs=2"), tmp_path / "run", stop_after_epoch=0)
    leftovers = [tmp_path / "run" / ".metrics.json.k9x2.tmp", tmp_path / "run" / "checkpoints" / ".last.json.a1.tmp"]
    for path in leftovers:
        path.write_text("half")
    train(hmc_config("train.epochs=2"), tmp_path / "run", resume=True)
    assert not any(p.exists() for p in leftovers)


def test_resume_with_other_labels_names_the_nodes_that_changed(tmp_path, image_config):
    images, config = _own_images(tmp_path, image_config, "train.epochs=2")
    train(config, tmp_path / "run", stop_after_epoch=0)
    manifest = images.parent / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("Sponges", "Sea squirts"))
    with pytest.raises(CheckpointError, match=r"1 node added: Biota > Sea squirts; 1 removed: Biota > Sponges"):
        train(config, tmp_path / "run", resume=True)
