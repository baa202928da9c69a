"""The end of a search: the best configuration as a ready YAML, its one test score, figures and summary.

The final model is the best configuration trained once more with the normal trainer, in
``OUT/final/<key>/``: it reads the test split once, at the end of that run. When the base config
trains on train ∪ valid (C-HMCNN's protocol) the final fit does too, for the number of epochs the
best trial selected on valid — the search chose the hyper-parameters, the epoch count and the
cut-off on valid, as that protocol chooses its hyper-parameters — and uses its last epoch.
Otherwise it repeats the best trial's training (train only, epoch selected on valid). Per-depth
cut-offs are applied to the saved test predictions of that run, not by reading the test split again.
A finished final run is never trained or scored again; a continued study whose best changes trains
and tests its new best once, in its own folder.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np

from ..config import config_from_dict, set_key
from ..metrics import evaluate
from ..plots.tuning import plot_optimisation_history, plot_param_importances, plot_validation_curves
from ..report.tune_report import write_tune_report
from ..training import train
from ..training.run_dir import RunDir
from ..utils.atomic import write_json, write_text
from .thresholds import Thresholds, apply_thresholds
from .tune_spec import TuneResult, TuneSpec, config_key

__all__ = ["finish_study", "best_config", "TEST_KEYS"]

log = logging.getLogger(__name__)

TEST_KEYS = ("au_prc", "f1", "precision", "recall", "bin_ap", "micro_f1", "rare_recall", "rare_f1", "hvr", "h_f1")


def best_config(spec: TuneSpec, params: dict, thresholds: Thresholds, selected_epoch: int | None = None):
    """The base configuration with the best trial's values and cut-off (its own ``train_on_val``).

    Args:
        spec: The study.
        params: The best trial's parameters.
        thresholds: Its cut-off(s); ``eval.threshold`` gets the global value.
        selected_epoch: The epoch (1-based) the best trial selected on valid; a base that trains
            on train ∪ valid (no validation split left to select on) trains that many epochs.

    Returns:
        The validated configuration.
    """
    data = copy.deepcopy(spec.base)
    for key, value in params.items():
        set_key(data, key, value)
    set_key(data, "eval.threshold", float(thresholds.value))
    config = config_from_dict(data)
    if config.data.train_on_val and selected_epoch:
        set_key(data, "train.epochs", int(selected_epoch))
        config = config_from_dict(data)
    return config


def _importances(study) -> dict[str, float]:
    import optuna

    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)).items()}
    except (RuntimeError, ValueError, ZeroDivisionError) as err:  # too few trials, or a constant value
        log.info("parameter importances not computed: %s", err)
        return {}


def _test_metrics(run_dir: Path, thresholds: Thresholds, config) -> dict:
    """The final run's test metrics at the chosen cut-off(s) (per-depth: from its saved predictions)."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    if thresholds.mode != "depth":
        return {k: metrics.get(k) for k in TEST_KEYS}
    from ..datamodule import prepare_data  # taxonomy and training counts; the test rows are the saved predictions

    data = prepare_data(config)
    taxonomy = data.taxonomy
    saved = np.load(run_dir / "test_predictions.npz")
    rescored = evaluate(saved["probs"], saved["targets"], taxonomy, known=saved["known"],
                        train_targets=data.train_targets, threshold=thresholds.value,
                        predicted=apply_thresholds(saved["probs"], thresholds, taxonomy.depth))
    return {k: rescored.get(k, metrics.get(k)) for k in TEST_KEYS}


def finish_study(spec: TuneSpec, result: TuneResult, study, command: str | None = None) -> TuneResult:
    """Write ``best.yaml`` and ``thresholds.json``, fit and test the best configuration once, draw, summarise.

    Args:
        spec: The study.
        result: The trial table with its best and default rows (filled in further here).
        study: The Optuna study (parameter importances).
        command: The command line, quoted in the summary.

    Returns:
        ``result`` with ``best_yaml``, ``test`` and ``summary`` set.
    """
    out, best = result.out, result.best
    assert best is not None  # run_tune raises before finishing a study without a finished trial
    trial = study.trials[best["trial"]]
    thresholds = Thresholds.from_dict(trial.user_attrs["thresholds"])
    config = best_config(spec, dict(trial.params), thresholds, best.get("selected_epoch"))
    header = [f"# Tuned by seafloorhmc tune ({spec.name}): trial {best['trial']} of {len(result.trials)},",
              f"# validation macro F1 {best['value']:.4f} at eval.threshold {thresholds.value:g}"
              + (f" (per depth: {json.dumps(thresholds.to_dict()['by_depth'])}, thresholds.json)"
                 if thresholds.mode == "depth" else "") + "."]
    if config.data.train_on_val:
        header.append(f"# Trained on train ∪ valid for the {config.train.epochs} epochs the trial selected on valid.")
    if result.default:
        header.append(f"# The base config: {result.default['value']:.4f} at its tuned threshold, "
                      f"{result.default['val_f1_at_config_threshold']:.4f} at its own.")
    result.best_yaml = write_text(out / "best.yaml", "\n".join(header) + "\n" + config.to_yaml())
    write_json(out / "thresholds.json", thresholds.to_dict())

    final = out / "final" / config_key(config)
    if not (final / "metrics.json").is_file():
        log.info("training the best configuration into %s (the one test-split score of this search)", final)
        train(config, final, resume=RunDir(final).started)
    result.test = _test_metrics(final, thresholds, config)
    result.test["run"] = str(final.relative_to(out))
    write_json(out / "test.json", {"trial": best["trial"], "thresholds": thresholds.to_dict(),
                                   "train_on_val": config.data.train_on_val, **result.test})

    plots = out / "plots"
    reference = result.default.get("val_f1_at_config_threshold") if result.default else None
    figures = {"history": plot_optimisation_history(result.trials, plots / "optimisation_history.png",
                                                    reference=reference),
               "curves": plot_validation_curves(result.trials, plots / "validation_curves.png")}
    importances = _importances(study)
    if importances:
        figures["importances"] = plot_param_importances(importances, plots / "param_importances.png")
    result.summary = _summary(spec, result, thresholds, importances, figures, command)
    write_tune_report(out, spec.name, result.trials, best, result.default, result.test, importances,
                      {k: v.relative_to(out).as_posix() for k, v in figures.items()},
                      {p.key: p.describe() for p in spec.space}, command=command)
    return result


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _summary(spec: TuneSpec, result: TuneResult, thresholds: Thresholds, importances: dict, figures: dict,
             command: str | None) -> Path:
    out, best, default, rows = result.out, result.best, result.default, result.trials
    assert best is not None  # run_tune raises before finishing a study without a finished trial
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ("complete", "pruned", "fail")}
    params = [p.key for p in spec.space]
    lines = [f"# Tuning summary: {spec.name}", "",
             f"{len(rows)} trials ({counts['complete']} finished, {counts['pruned']} pruned, {counts['fail']} failed); "
             f"objective: validation macro F1 at the decision threshold chosen on validation ({spec.thresholds})."
             + (f" Trials whose validation AU(PRC) is more than {spec.au_prc_tolerance:g} below the default's cannot "
                "be the best." if spec.au_prc_tolerance is not None else ""),
             f"Regenerate or continue with `{command}`." if command else "", "",
             "| | trial | val macro F1 (tuned threshold) | val macro F1 (config threshold) | val AU(PRC) | threshold |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, row in (("default (base config)", default), ("best", best)):
        if row:
            lines.append(f"| {label} | {row['trial']} | {_fmt(row['value'])} "
                         f"| {_fmt(row['val_f1_at_config_threshold'])} | {_fmt(row['val_au_prc'])} "
                         f"| {_fmt(row['threshold'], 3)} |")
    lines += ["", "Best configuration: [best.yaml](best.yaml)"
              + (f"; per-depth thresholds {json.dumps(thresholds.to_dict()['by_depth'])}" if thresholds.mode == "depth"
                 else "") + ".", ""]
    lines += ["| parameter | best |", "|---|---|"]
    lines += [f"| {k} | {best.get(k) if best.get(k) is not None else '(base: not drawn)'} |" for k in params]
    test = result.test or {}
    lines += ["", f"## Test split (read once, by the final run `{test.get('run')}`)", "",
              "| " + " | ".join(TEST_KEYS) + " |", "|" + "---:|" * len(TEST_KEYS),
              "| " + " | ".join(_fmt(test.get(k)) for k in TEST_KEYS) + " |", ""]
    for name, title in (("history", "Optimisation history"), ("importances", "Parameter importances"),
                        ("curves", "Validation curves")):
        if name in figures:
            lines += [f"![{title}]({figures[name].relative_to(out).as_posix()})", ""]
    if importances:
        lines += ["Parameter importances (fANOVA over the finished trials): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in importances.items()) + ".", ""]
    lines += ["Every trial: [trials.csv](trials.csv); the report: [report.html](report.html).", ""]
    return write_text(out / "summary.md", "\n".join(lines))
