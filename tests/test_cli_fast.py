"""The command line answers --help, keys, argument and config errors without importing torch (so at once)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

CASES = {
    "help": ["--help"],
    "predict help": ["predict", "--help"],
    "keys": ["keys"],
    "unknown config key": ["train", str(CONFIGS / "demo.yaml"), "--set", "loss.focal_kk=2"],
    "missing config": ["train", "nope.yaml"],
    "bad value": ["train", str(CONFIGS / "survey_cpu.yaml"), "--set", "data.group_by=tile"],
    "survey config without weights": ["train", str(CONFIGS / "survey_cpu.yaml")],
    "missing checkpoint": ["evaluate", "no-such-run"],
    "predict input missing": ["predict", str(CONFIGS), "no-such-input.csv", "--out", "o.csv"],
    "export without label map": ["predict", str(CONFIGS), str(CONFIGS / "demo.yaml"), "--export", "coralnet",
                                 "--out", "o.csv"],
    "bad argument": ["predict", str(CONFIGS), "x", "--out", "o.csv", "--export", "cpce"],
    "missing sweep": ["sweep", "nope.yaml"],
    "sweep dry run": ["sweep", str(CONFIGS / "studies" / "demo_methods.yaml"), "--dry-run"],
}

RUNNER = """
import contextlib, io, json, sys
from seafloorhmc.cli import main
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    results[name] = {"code": code, "out": out.getvalue(), "err": err.getvalue(), "torch": "torch" in sys.modules}
print(json.dumps(results))
"""


def test_help_keys_and_errors_load_no_torch(tmp_path):
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(CASES)], capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    results = json.loads(done.stdout)
    assert {name: r["torch"] for name, r in results.items()} == {name: False for name in CASES}
    assert results["help"]["code"] == 0 and "predict" in results["help"]["out"]
    assert "--export {biigle,coralnet,squidle}" in results["predict help"]["out"]
    keys = results["keys"]["out"]
    assert "eval.review_target" in keys and "Short Code" in keys and "taxon_path" in keys
    expected = {
        "unknown config key": "unknown key 'loss.focal_kk'",
        "missing config": "config file nope.yaml does not exist",
        "bad value": "data.group_by: 'tile' is not one of auto, image, annotation",
        "survey config without weights": "model.pretrained=true needs model.weights",
        "missing checkpoint": "checkpoint no-such-run does not exist",
        "predict input missing": "prediction input no-such-input.csv does not exist",
        "export without label map": "--export coralnet needs --label-map",
        "bad argument": "invalid choice: 'cpce'",
        "missing sweep": "nope.yaml does not exist",
    }
    for name, words in expected.items():
        assert results[name]["code"] == 2 and words in results[name]["err"], (name, results[name])
        assert "Traceback" not in results[name]["err"]
    assert results["sweep dry run"]["code"] == 0 and "cells ->" in results["sweep dry run"]["out"]
