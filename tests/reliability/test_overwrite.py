"""Nothing written is replaced without ``--overwrite``, by any command; a refusal changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import time

from reliability_helpers import HMC_SETTINGS, train_args


def _snapshot(*paths):
    return [p.read_bytes() for p in paths]


def test_train_keeps_a_finished_run(cli, image_run, empty_config, tmp_path):
    run = shutil.copytree(image_run, tmp_path / "run")
    before = _snapshot(run / "metrics.json", run / "model.safetensors")
    config = json.loads((run / "metrics.json").read_text())["config"]
    settings = [f"data.annotations={config['data']['annotations']}", "data.format=manifest"]
    line = cli.fails(*train_args(empty_config, settings, run))
    assert "already holds a finished run" in line and "--overwrite" in line
    assert _snapshot(run / "metrics.json", run / "model.safetensors") == before


def test_evaluate_into_a_run_keeps_the_runs_metrics(cli, image_run, tmp_path):
    """``evaluate RUN --split val --out RUN`` used to replace the run's metrics.json (test metrics, epochs gone)."""
    run = shutil.copytree(image_run, tmp_path / "run")
    before = (run / "metrics.json").read_bytes()
    code, out, err = cli("evaluate", run, "--split", "val", "--out", run)
    assert code == 0, err
    assert (run / "metrics.json").read_bytes() == before
    written = json.loads((run / "metrics-val.json").read_text())
    assert written["split"] == "val" and f"-> {run / 'metrics-val.json'}" in out
    evaluated = (run / "metrics-val.json").read_bytes()
    assert "metrics-val.json already exists" in cli.fails("evaluate", run, "--split", "val", "--out", run)
    assert (run / "metrics-val.json").read_bytes() == evaluated
    assert cli("evaluate", run, "--split", "val", "--out", run, "--overwrite")[0] == 0


def test_evaluate_into_a_folder(cli, image_run, tmp_path):
    out = tmp_path / "eval"
    assert cli("evaluate", image_run, "--out", out)[0] == 0
    first = (out / "metrics.json").read_bytes()
    assert "metrics.json already exists" in cli.fails("evaluate", image_run, "--out", out)
    assert (out / "metrics.json").read_bytes() == first
    assert cli("evaluate", image_run, "--out", out, "--overwrite")[0] == 0


def test_report_keeps_an_existing_report(cli, image_run, tmp_path):
    run = shutil.copytree(image_run, tmp_path / "run")
    before = (run / "report.html").read_bytes()
    assert "report.html already exists" in cli.fails("report", run)
    assert (run / "report.html").read_bytes() == before
    code, out, _ = cli("report", run, "--overwrite")
    assert code == 0 and f"report: {run / 'report.html'}" in out


def test_export_encoder_keeps_an_existing_file(cli, image_run, tmp_path):
    out = tmp_path / "encoder.safetensors"
    out.write_bytes(b"mine")
    assert "encoder weights" in cli.fails("export-encoder", image_run, out) and out.read_bytes() == b"mine"
    assert cli("export-encoder", image_run, out, "--overwrite")[0] == 0 and out.read_bytes() != b"mine"


def test_synth_keeps_another_dataset(cli, tmp_path):
    folder = tmp_path / "synthetic"
    assert cli("synth", folder, "--n", "3", "--size", "16")[0] == 0
    manifest = (folder / "manifest.csv").read_bytes()
    assert "overwrite" in cli.fails("synth", folder, "--n", "4", "--size", "16")
    assert (folder / "manifest.csv").read_bytes() == manifest
    assert cli("synth", folder, "--n", "4", "--size", "16", "--overwrite")[0] == 0


def test_predict_keeps_its_outputs_and_their_report(cli, image_run, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(image_run.parent / "data" / "images", images)
    out = tmp_path / "predictions.csv"
    args = ["predict", image_run, images, "--out", out, "--workers", "0", "--no-progress"]
    assert cli(*args)[0] == 0 and out.with_suffix(".html").is_file()
    written = out.read_bytes()
    assert "predictions.csv already exists" in cli.fails(*args)
    out.unlink()
    assert "predictions.html already exists" in cli.fails(*args), "the report beside the CSV is an output too"
    assert not out.exists()
    leftover = tmp_path / ".predictions.csv.q8w1.tmp"
    leftover.write_text("half")  # left by a predict killed a minute ago
    os.utime(leftover, (time.time() - 60, time.time() - 60))
    assert cli(*args, "--overwrite")[0] == 0 and out.read_bytes() == written
    assert not (tmp_path / ".predictions.csv.q8w1.tmp").exists()


def test_a_hmc_run_refuses_to_start_in_someone_elses_folder(cli, hmc_root, empty_config, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    line = cli.fails(*train_args(empty_config, [*HMC_SETTINGS, f"data.root={hmc_root}"], tmp_path / "mine"))
    assert "not a seafloorhmc run" in line
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["thesis.tex"], "not even a lock file is left"
