"""``seafloorhmc tune``: search the rare-node loss, the members and the learning rate on validation, test once.

A study file is YAML::

    name: tune-demo
    base: ../demo.yaml          # a config file (relative to this file) or an inline mapping
    set: [train.report=false]   # optional overrides of the base
    trials: 20                  # the budget (finished, pruned and failed trials all count)
    thresholds: global          # decision cut-off chosen per trial on validation: fixed | global | depth
    au_prc_tolerance: 0.01      # optional: a trial whose validation AU(PRC) falls more than this below
                                # the default's cannot be the best (keeps the ranking quality)
    seed: 0                     # the sampler's seed
    pruner: {percentile: 25, startup_trials: 5, warmup_epochs: 3}
    resources: {cpus: 2, gpus: 1}  # optional: what the Ray backend reserves per trial (--cpus/--gpus win)
    space: {...}                # config key → choices or range (:mod:`.search_space`; default: DEFAULT_SPACE)

Every trial trains on the training split and is scored on the validation split
(:mod:`.trial`): macro F1 at the cut-off chosen on that trial's own validation predictions (no
retraining: any threshold is free). The first trial is the base configuration itself, the default
the search must beat. Optuna's TPE sampler (multivariate, grouped for the conditional keys, a
"constant liar" for trials in flight) proposes the others; a percentile pruner stops a trial
whose per-epoch validation curve lies in the bottom of the others' at the same epoch.

The study lives in an Optuna journal file, ``OUT/study.journal``, on the same (shared) file system
as the trial folders. That is the resumable state: a second ``tune`` of the same ``OUT`` continues
the study (a trial that was killed is retried with its parameters and resumes from its last epoch
checkpoint), and on the Ray backend every trial task opens the same journal to report its curve
and ask the pruner. We chose Optuna's own storage over Ray Tune's Optuna search: one file that
any process can open (a laptop, a SLURM job without Ray), no Ray Tune experiment state to restore,
and the same code path for the local and the Ray backend; Ray only places the trials.

When the budget is spent: ``trials.csv`` (one row per trial), ``best.yaml`` (a ready config: the
base with the best trial's values and ``eval.threshold`` set to its cut-off), ``thresholds.json``,
and the final run ``final/<key>/``: the best configuration trained once more — on train ∪ valid when
the base config does that (C-HMCNN's protocol: hyper-parameters chosen on valid, then one fit on
both) — and scored on the test split, the only time a search reads it. ``summary.md``,
``plots/`` (optimisation history, parameter importances, validation curves) and ``report.html``.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from ..config import ConfigError, config_from_dict
from ..errors import require_extra
from ..utils.atomic import write_text
from ..utils.locks import RunLock
from ..utils.tables import write_table
from .backends import BACKENDS, BackendOptions
from .search_space import default_params, suggest_params
from .tune_spec import TuneResult, TuneSpec, TuneSpecError, config_key, load_tune, trial_config, tune_from_dict

__all__ = ["TuneSpec", "TuneSpecError", "TuneError", "TuneResult", "TrialJob", "load_tune", "tune_from_dict",
           "run_tune", "trial_config", "trial_job", "require_optuna", "config_key", "JOURNAL"]

log = logging.getLogger(__name__)

JOURNAL = "study.journal"


class TuneError(RuntimeError):
    """A search that cannot go on as asked (no trial finished, ...)."""


def require_optuna():
    """Import Optuna, or say which extra installs it.

    Returns:
        The ``optuna`` module.

    Raises:
        MissingExtraError: If Optuna is not installed.
    """
    return require_extra("optuna", "tune", "seafloorhmc tune")


@dataclass(frozen=True)
class TrialJob:
    """Everything a trial task needs, picklable (a Ray task gets it as its argument)."""

    study: str
    journal: str
    trial_id: int
    config: dict
    run_dir: str
    thresholds: str
    pruner: dict
    threads: int | None = None
    prune: bool = True  # the default (base config) trial always runs to the end: it is the reference


def _storage(optuna, journal: str):
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    return optuna.storages.JournalStorage(JournalFileBackend(journal, lock_obj=JournalFileOpenLock(journal)))


def _pruner(optuna, pruner: Mapping, epochs: int):
    warmup = pruner.get("warmup_epochs")
    return optuna.pruners.PercentilePruner(
        float(pruner.get("percentile", 25.0)), n_startup_trials=int(pruner.get("startup_trials", 5)),
        n_warmup_steps=int(warmup) if warmup is not None else max(1, epochs // 4))


def trial_job(job: TrialJob) -> dict:
    """Run one trial of a study (in this process or as a Ray task): train, report, score on validation.

    Args:
        job: The trial and where its study and run folder are.

    Returns:
        ``{"state": "complete", **result}`` or ``{"state": "pruned", "epochs_run": N}``.
    """
    optuna = require_optuna()
    from .trial import TrialPrunedError, run_trial  # torch: only where trials run

    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    config = config_from_dict(job.config)
    study = optuna.load_study(study_name=job.study, storage=_storage(optuna, job.journal),
                              pruner=_pruner(optuna, job.pruner, config.train.epochs))
    trial = optuna.Trial(study, job.trial_id)
    reported = {step for step in trial.storage.get_trial(job.trial_id).intermediate_values}

    def report(epoch: int, value: float) -> None:
        if epoch not in reported:  # a retried task does not report its first session's epochs again
            trial.report(value, epoch)
        if job.prune and trial.should_prune():
            raise TrialPrunedError(f"pruned after epoch {epoch + 1}")

    try:
        result = run_trial(config, job.run_dir, job.thresholds, report)
    except TrialPrunedError as err:
        log.info("trial %d: %s", trial.number, err)
        return {"state": "pruned", "reason": str(err)}
    return {"state": "complete", **result}


# ------------------------------------------------------------------------------ the study
def _recover(optuna, study) -> None:
    """Trials left running by a killed search: mark them failed and run their parameters again."""
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in running:
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), user_attrs={**trial.user_attrs, "retry_of": trial.number})
        log.info("trial %d was interrupted; it runs again (resuming from its checkpoint)", trial.number)


def _used(optuna, study) -> int:
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED, states.FAIL))
    retried = sum(1 for t in study.get_trials(deepcopy=False) if "retry_of" in t.user_attrs)
    return len(trials) - retried


def _rows(optuna, study, spec: TuneSpec) -> list[dict]:
    """One row per trial (number order), retried interruptions left out."""
    retried = {t.user_attrs["retry_of"] for t in study.get_trials(deepcopy=False) if "retry_of" in t.user_attrs}
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.number in retried or t.state == optuna.trial.TrialState.WAITING:
            continue
        attrs = t.user_attrs
        row = {"trial": t.number, "state": t.state.name.lower(), "value": t.value,
               "default": bool(attrs.get("default")), "val_au_prc": attrs.get("val_au_prc"),
               "val_f1_at_config_threshold": attrs.get("val_f1_at_config_threshold"),
               "threshold": attrs.get("threshold"), "thresholds_by_depth": attrs.get("thresholds_by_depth"),
               "selected_epoch": attrs.get("selected_epoch"),
               "epochs_run": attrs.get("epochs_run", len(t.intermediate_values) or None),
               "seconds": attrs.get("seconds"), "run": attrs.get("run")}
        row.update({p.key: t.params.get(p.key) for p in spec.space})
        row["curve"] = json.dumps({str(k): round(v, 6) for k, v in sorted(t.intermediate_values.items())})
        rows.append(row)
    default = next((r for r in rows if r["default"] and r["state"] == "complete"), None)
    for row in rows:
        row["feasible"] = _feasible(row, default, spec.au_prc_tolerance)
    return rows


def _feasible(row: Mapping, default: Mapping | None, tolerance: float | None) -> bool | None:
    if row["state"] != "complete":
        return None
    if tolerance is None or default is None or default.get("val_au_prc") is None:
        return True
    return (row.get("val_au_prc") or 0.0) >= default["val_au_prc"] - tolerance - 1e-12


def _best(rows: Sequence[dict]) -> dict | None:
    candidates = [r for r in rows if r["state"] == "complete" and r["feasible"] and r["value"] is not None]
    return max(candidates, key=lambda r: (r["value"], -r["trial"])) if candidates else None


def _constraint(default: Mapping | None, tolerance: float | None, au_prc: float | None) -> float:
    if tolerance is None or default is None or au_prc is None or default.get("val_au_prc") is None:
        return 0.0
    return float(default["val_au_prc"] - tolerance - au_prc)  # ≤ 0: feasible (Optuna's convention)


def _sampler(optuna, spec: TuneSpec):
    with warnings.catch_warnings():  # multivariate / group / constant_liar are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=spec.seed, multivariate=True, group=True, constant_liar=True,
                                          n_startup_trials=min(10, max(2, spec.trials // 3)))


def run_tune(spec: TuneSpec, out: str | Path, backend: str = "local", options: BackendOptions | None = None,
             command: str | None = None) -> TuneResult:
    """Run (or continue) the study in ``out`` up to its trial budget, then fit and test its best configuration.

    Args:
        spec: The study (:func:`load_tune`).
        out: The study folder (``study.journal`` there is the resumable state).
        backend: ``local`` (trials one after another in this process) or ``ray`` (trials as Ray
            tasks, as many at once as ``options.workers`` or the cluster's resources allow).
        options: Backend settings (Ray address, CPUs and GPUs per trial, retries).
        command: The command line, quoted in ``summary.md``.

    Returns:
        The trial table, the best and default trials, the best YAML and the test metrics.

    Raises:
        RunLockedError: If another process (a search, a training) holds ``out``.
        TuneError: If no trial finished.
    """
    optuna = require_optuna()
    out = Path(out).resolve()
    options = options or BackendOptions()
    options = replace(options, cpus=options.cpus if options.cpus is not None else spec.resources.get("cpus"),
                      gpus=options.gpus if options.gpus is not None else spec.resources.get("gpus"))
    base = spec.base_config()
    resolved = base.to_dict()
    with RunLock(out):  # one search per folder; a second is refused, naming the first
        write_text(out / "tune.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True))
        journal = str(out / JOURNAL)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(study_name=spec.name, storage=_storage(optuna, journal), direction="maximize",
                                    sampler=_sampler(optuna, spec), load_if_exists=True,
                                    pruner=_pruner(optuna, spec.pruner, base.train.epochs))
        _recover(optuna, study)
        if not study.get_trials(deepcopy=False):
            study.enqueue_trial(default_params(spec.space, resolved, spec.where), user_attrs={"default": True})
        remaining = spec.trials - _used(optuna, study)
        if remaining > 0:
            log.info("%s: %d trial(s) to run (%d of %d done)", spec.name, remaining, spec.trials - remaining,
                     spec.trials)
            _search(optuna, study, spec, out, remaining, BACKENDS.get(backend)(options), journal)
        rows = _rows(optuna, study, spec)
        write_table(rows, out / "trials.csv")
        result = TuneResult(out=out, trials=rows, best=_best(rows),
                            default=next((r for r in rows if r["default"]), None))
        if result.best is None:
            raise TuneError(f"{out}: no trial finished; see the log above (trials.csv lists their states)")
        from .tune_final import finish_study  # torch and figures: only once there is something to report

        finish_study(spec, result, study, command=command)
    return result


def _search(optuna, study, spec: TuneSpec, out: Path, remaining: int, backend, journal: str) -> None:
    """Ask for trials, run them on the backend (several at once where it has room), tell the results."""
    states = optuna.trial.TrialState
    in_flight: dict = {}
    asked = 0
    default = None
    with backend.executor() as executor:
        while True:
            while asked < remaining and len(in_flight) < executor.capacity:
                trial = study.ask()
                asked += 1
                params = suggest_params(trial, spec.space, spec.base_config().to_dict())
                try:
                    config = trial_config(spec, params)
                except ConfigError as err:
                    log.warning("trial %d: invalid combination (%s); failed", trial.number, err)
                    study.tell(trial, state=states.FAIL)
                    continue
                run_dir = out / "trials" / config_key(config)
                trial.set_user_attr("run", str(run_dir.relative_to(out)))
                job = TrialJob(study=spec.name, journal=journal, trial_id=trial._trial_id, config=config.to_dict(),
                               run_dir=str(run_dir), thresholds=spec.thresholds, pruner=spec.pruner,
                               threads=executor.threads, prune=not trial.user_attrs.get("default", False))
                in_flight[executor.submit(trial_job, job)] = trial
                log.info("trial %d started: %s", trial.number,
                         ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or "the base config")
            if not in_flight:
                return
            handle, ok, outcome = executor.wait(list(in_flight))
            trial = in_flight.pop(handle)
            if default is None:
                default = _default_result(study)
            _tell(optuna, study, trial, ok, outcome, default, spec)
            write_table(_rows(optuna, study, spec), out / "trials.csv")


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _default_result(study) -> dict | None:
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("default") and t.value is not None:
            return {"val_au_prc": t.user_attrs.get("val_au_prc")}
    return None


def _tell(optuna, study, trial, ok: bool, outcome, default: dict | None, spec: TuneSpec) -> None:
    states = optuna.trial.TrialState
    if not ok:
        log.warning("trial %d failed: %s: %s", trial.number, type(outcome).__name__, outcome)
        study.tell(trial, state=states.FAIL)
        return
    if outcome["state"] == "pruned":
        study.tell(trial, state=states.PRUNED)
        log.info("trial %d pruned (%s)", trial.number, outcome.get("reason"))
        return
    val, thresholds = outcome["val"], outcome["thresholds"]
    for key, value in (("val_au_prc", val.get("au_prc")), ("val_f1_at_config_threshold", val["f1_at_config_threshold"]),
                       ("threshold", thresholds["value"]), ("selected_epoch", outcome["selected_epoch"]),
                       ("epochs_run", outcome["epochs_run"]), ("seconds", outcome["seconds"]),
                       ("thresholds_by_depth", json.dumps(thresholds["by_depth"]) if thresholds["by_depth"] else None),
                       ("val", val), ("thresholds", thresholds)):
        trial.set_user_attr(key, value)
    reference = default if not trial.user_attrs.get("default") else {"val_au_prc": val.get("au_prc")}
    if spec.au_prc_tolerance is not None:  # TPE then prefers regions that keep the ranking quality
        trial.set_constraint("au_prc", _constraint(reference, spec.au_prc_tolerance, val.get("au_prc")))
    value = float(outcome["value"]) if outcome["value"] is not None and math.isfinite(outcome["value"]) else 0.0
    study.tell(trial, value)
    log.info("trial %d: validation macro F1 %.4f at threshold %s (AU(PRC) %.4f; %.4f at the config's threshold)",
             trial.number, value, _short(thresholds["value"]), val.get("au_prc") or float("nan"),
             val["f1_at_config_threshold"])
