"""One tuning trial: train a configuration on the training split, score it on the validation split only.

The trial trains epoch by epoch (:meth:`Trainer.fit` with ``stop_after_epoch``), so it never reaches
the trainer's last step, which scores the test split: a search reads the test split only once, for
its best configuration (:mod:`.tune`). After every validated epoch the trial's ``report`` callback
gets that epoch's score (macro F1 at the cut-off chosen on those predictions); a pruner may stop
the trial there (the callback raises). At the end the epoch the trainer selected on validation
(``train.select_metric``) is scored again, its thresholds chosen (:mod:`.thresholds`), and the
result written to ``RUN/trial.json``. A trial killed half-way resumes from its last epoch
checkpoint; a finished one is answered from ``trial.json``. Checkpoints are removed once a trial
has its result (the final model is retrained from the best configuration).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..evaluation import collect_predictions
from ..metrics import evaluate
from ..models.persistence import WEIGHTS, CheckpointError, load_weights
from ..training import Trainer
from ..training.run_dir import RunDir
from ..utils.atomic import write_json, write_text
from .thresholds import Thresholds, apply_thresholds, choose_thresholds, tuned_macro_f1

__all__ = ["TRIAL_RESULT", "TrialPrunedError", "run_trial", "score_predictions"]

log = logging.getLogger(__name__)

TRIAL_RESULT = "trial.json"
_KEPT = ("au_prc", "f1", "precision", "recall", "micro_f1", "rare_recall", "rare_f1", "hvr", "f1_by_depth")


class TrialPrunedError(Exception):
    """Raised by a trial's ``report`` callback to stop it (the search pruned it)."""


def score_predictions(predictions: dict, taxonomy, train_targets, mode: str, fixed: float) -> tuple[Thresholds, dict]:
    """Choose the cut-off(s) on these predictions and score them there.

    Args:
        predictions: ``probs``, ``targets``, ``known`` arrays (one split).
        taxonomy: The label hierarchy.
        train_targets: Training targets (rare nodes), or None.
        mode: ``fixed``, ``global`` or ``depth`` (:func:`~.thresholds.choose_thresholds`).
        fixed: The configured ``eval.threshold``.

    Returns:
        (thresholds, metrics at them; ``f1_at_config_threshold`` is macro F1 at ``fixed``).
    """
    probs, targets, known = (predictions[k] for k in ("probs", "targets", "known"))
    thresholds = choose_thresholds(probs, targets, taxonomy.eval_mask.numpy(), taxonomy.depth, mode, known, fixed)
    metrics = evaluate(probs, targets, taxonomy, known=known, train_targets=train_targets, threshold=thresholds.value,
                       predicted=apply_thresholds(probs, thresholds, taxonomy.depth))
    at_fixed = evaluate(probs, targets, taxonomy, known=known, threshold=fixed)["f1"]
    kept = {k: metrics.get(k) for k in _KEPT}
    return thresholds, {**kept, "f1_at_config_threshold": at_fixed}


def _objective(predictions: dict, taxonomy, mode: str, fixed: float) -> float:
    probs, targets, known = (predictions[k] for k in ("probs", "targets", "known"))
    return tuned_macro_f1(probs, targets, taxonomy.eval_mask.numpy(), taxonomy.depth, mode, known, fixed)[1]


def _trainer(config: Config, run_dir: Path) -> Trainer:
    """A trainer in ``run_dir``, resumed from its last checkpoint when that can continue ``config``."""
    run = RunDir(run_dir)
    if run.started:
        try:
            trainer = Trainer(config, run)
            trainer.resume()  # refuses a checkpoint of another configuration
            return trainer
        except (CheckpointError, OSError, ValueError, RuntimeError) as err:
            log.warning("trial %s: cannot resume (%s); starting again", run_dir.name, err)
        run.prepare(overwrite=True)
    else:
        run.prepare(resume=True)
    write_text(run.path / "config.yaml", config.to_yaml())
    return Trainer(config, run)


def run_trial(config: Config, run_dir: str | Path, mode: str = "global",
              report: Callable[[int, float], None] | None = None) -> dict:
    """Train ``config`` into ``run_dir`` without touching the test split; its validation result.

    Args:
        config: The trial's configuration (``data.train_on_val`` must be false).
        run_dir: The trial's folder (resumed when it holds an unfinished trial of ``config``).
        mode: How the decision threshold is chosen on validation: ``fixed``, ``global`` or ``depth``.
        report: Called with (0-based epoch, macro F1 on validation at that epoch's chosen cut-off)
            after every validated epoch; raising :class:`TrialPrunedError` stops the trial.

    Returns:
        ``value`` (validation macro F1 at the chosen thresholds, selected epoch), ``thresholds``,
        ``val`` (metrics there), ``selected_epoch``, ``epochs_run``, ``curve`` and ``seconds``.

    Raises:
        ValueError: If the data has no validation split.
        TrialPrunedError: When ``report`` prunes the trial (its result file says so).
    """
    run_dir = Path(run_dir)
    done = run_dir / TRIAL_RESULT
    if done.is_file():
        result = json.loads(done.read_text(encoding="utf-8"))
        if result.get("pruned"):
            raise TrialPrunedError(f"pruned after epoch {result['epochs_run']}")
        return result
    if config.data.train_on_val:
        raise ValueError("a tuning trial trains on the training split only: set data.train_on_val=false")
    started = time.perf_counter()
    trainer = _trainer(config, run_dir)
    if trainer.loaders.val is None:
        raise ValueError("tuning needs a validation split: the data has none (set data.val_fraction > 0, or use a "
                         "dataset with a validation file)")
    trainer.keep_val_predictions = True
    curve: dict[int, float] = {}  # this session's epochs (a resumed trial reported the others before)
    fixed = config.eval.threshold
    try:
        for epoch in range(trainer.state.epoch + 1, config.train.epochs):
            trainer.fit(stop_after_epoch=epoch)
            if trainer.val_predictions is not None:
                curve[epoch] = _objective(trainer.val_predictions, trainer.taxonomy, mode, fixed)
                trainer.val_predictions = None
                if report is not None:
                    report(epoch, curve[epoch])
    except TrialPrunedError:
        write_json(done, {"pruned": True, "epochs_run": trainer.state.epoch + 1,
                          "curve": {str(k): v for k, v in sorted(curve.items())}})
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        raise
    best = trainer.store.best() or trainer.store.last()
    assert best is not None  # fit() saved at least one epoch
    load_weights(trainer.model, best / WEIGHTS, expected_fingerprint=trainer.taxonomy.fingerprint())
    predictions = collect_predictions(trainer.model, trainer.loaders.val, trainer.loss_fn, trainer.runtime,
                                      forward=trainer.eval_forward)
    predictions = {k: predictions[k].numpy() for k in ("probs", "targets", "known")}
    thresholds, val = score_predictions(predictions, trainer.taxonomy, trainer.data.train_targets, mode, fixed)
    selected = trainer.state.best_epoch if trainer.state.best_epoch is not None else trainer.state.epoch
    result = {"value": val["f1"], "thresholds": thresholds.to_dict(), "val": val, "selected_epoch": selected + 1,
              "epochs_run": trainer.state.epoch + 1, "curve": {str(k): v for k, v in sorted(curve.items())},
              "seconds": round(time.perf_counter() - started, 1), "pruned": False}
    write_json(done, result)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return result
