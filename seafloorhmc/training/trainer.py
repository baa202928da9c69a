"""Training loop: epochs, validation-based epoch selection, checkpoints, exact resume.

The test split is touched once, after training, with the weights of the epoch the *validation*
split selected (or the last epoch when there is no validation split). Every image was checked
before the first epoch (:mod:`seafloorhmc.data.checks`), so the test split cannot fail after
training on an unreadable file. The run folder is locked for the whole run
(:meth:`~seafloorhmc.training.run_dir.RunDir.claim`), divergence stops the run by one rule
(:mod:`.divergence`), and each epoch ends with one log line (train loss, validation metric,
time), counted from 1 like every epoch a user sees.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import Config, ConfigError, config_changes
from ..data.checks import BadImagesError, image_changed_since_check
from ..data.images import BadImageError
from ..datamodule import DataModule, prepare_data
from ..distributed import SINGLE_PROCESS, DistContext
from ..errors import DivergenceError
from ..evaluation import evaluate_split
from ..losses import build_loss
from ..metrics import LOWER_IS_BETTER
from ..models import build_model
from ..models.persistence import CheckpointError, load_weights, read_info, save_weights
from ..prediction.review import calibrate_review_on_validation, review_collector, review_metrics
from ..report import try_write_run_report
from ..runtime import Runtime
from ..taxonomy import describe_taxonomy_change
from ..utils.atomic import write_json, write_text
from ..utils.seeding import rng_state, seed_everything, set_rng_state
from .checkpoints import CheckpointStore
from .divergence import DivergenceGuard, NonFiniteLossError, gradient_norm
from .feature_cache import cached_feature_bundle, feature_cache_applies
from .optim import build_optimizer, lr_factor, set_lr
from .run_dir import LOG_COLUMNS, SKIPPED_IMAGES, RunDir

__all__ = ["Trainer", "TrainState", "train", "NonFiniteLossError", "DivergenceError"]

log = logging.getLogger(__name__)


def _batchnorm_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@dataclass
class TrainState:
    """Where a run is: the last finished epoch (counted from 0, -1 before the first), steps, the best epoch.

    Attributes:
        epoch: Index of the last finished epoch.
        global_step: Optimizer steps taken.
        best_epoch: Index of the best validation epoch so far.
        best_value: Its selection score (higher is better).
        history: One log row per finished epoch.
    """

    epoch: int = -1
    global_step: int = 0
    best_epoch: int | None = None
    best_value: float | None = None
    history: list[dict] = field(default_factory=list)
    best_val_metrics: dict | None = None  # every scalar validation metric of the selected epoch


class Trainer:
    """One training run: data, model, loss and optimiser built from a config, trained into a run folder.

    Args:
        config: The run configuration.
        run: The run folder (already prepared by :func:`train`).
        data: Prepared data (default: :func:`~seafloorhmc.datamodule.prepare_data` of ``config``).
        dist: The process group (default: a single process).

    Set ``keep_val_predictions`` to keep the latest validated epoch's predictions (probabilities,
    targets, known cells) in ``val_predictions``: a hyper-parameter search scores its own metric
    on them without a second pass over the validation split.

    Raises:
        ConfigError: If batches of one image per process would meet trainable BatchNorm layers.
    """

    keep_val_predictions: bool = False

    def __init__(self, config: Config, run: RunDir, data: DataModule | None = None,
                 dist: DistContext | None = None) -> None:
        self.config = config
        self.run = run
        self.dist = dist or SINGLE_PROCESS
        seed_everything(config.seed, config.train.deterministic)
        self.data = data or prepare_data(config, self.dist)
        self.runtime = Runtime.from_config(config, device=self.dist.device, images=self.data.feature_dim is None)
        self.device = self.runtime.device
        self.taxonomy = self.data.taxonomy
        model, _ = build_model(config.model, self.taxonomy, seed=config.seed, feature_dim=self.data.feature_dim)
        self.model = self.runtime.prepare_model(model)
        # frozen encoder, no augmentation: the head trains on features encoded once (feature_cache.py)
        self.features_cached = feature_cache_applies(config, self.data)
        self.train_module = self.dist.wrap(self.model.head if self.features_cached else self.model)
        self.forward = torch.compile(self.train_module) if config.train.compile else self.train_module
        self.eval_forward = self.model.head_logits if self.features_cached else None
        self.loss_fn = build_loss(config, self.taxonomy, self.data.train_targets, self.data.train_known,
                                  describe_row=getattr(self.data.train, "image_path", None)).to(self.device)
        self.optimizer = build_optimizer(self.model, config.train, extra_params=self.loss_fn.parameters())
        self.store = CheckpointStore(run.path / "checkpoints")
        self.state = TrainState()
        self.val_predictions: dict | None = None
        self.guard = DivergenceGuard()
        self.single_batches = 0  # training batches thinned to one image by unreadable files, not stepped on
        run.note_skipped(self.data.bad_images.items())  # reported once, by the data check
        if self.features_cached:
            self.data, skipped = cached_feature_bundle(self.data, self.model.encoder, config, self.runtime)
            self._skipped(skipped)
        self.loaders = self.data.loaders(config, self.dist, pin_memory=self.device.type == "cuda")
        self.batchnorm = _batchnorm_layers(self.train_module)
        per_rank = self.dist.per_rank_batch(config.train.batch_size)
        if per_rank < 2 and self.batchnorm and not self.features_cached and not config.model.freeze:
            raise ConfigError(f"train.batch_size={config.train.batch_size} gives batches of one image per process, "
                              f"but encoder {config.model.encoder} has BatchNorm layers, which need at least two; "
                              "use a batch of at least 2 per process")

    def _skipped(self, items) -> None:
        """Note images skipped while running (unreadable since the check); one warning for all that are new."""
        new = self.run.note_skipped(items)
        if new and self.dist.is_main:
            log.warning("skipped %d image%s that became unreadable after the check before training (listed in %s), "
                        "e.g. %s", len(new), "s" if len(new) > 1 else "", self.run.path / SKIPPED_IMAGES, new[0])

    # ------------------------------------------------------------------ helpers
    def _to_device(self, batch: dict):
        x = self.runtime.batch(batch["image"])
        target = batch["target"].to(self.device, non_blocking=True)
        known = batch["known"]  # checked on the host: no device sync per step
        return x, target, None if bool(known.all()) else known.to(self.device, non_blocking=True)

    def _loss_scale(self, batch: dict) -> float:
        """The factor for this rank's loss: 1 on one process.

        Under DDP it makes the rank-averaged gradient the gradient of the loss over the global
        batch (ranks may count different numbers of known cells).
        """
        if not self.dist.enabled:
            return 1.0
        known = batch["known"]  # the rare-node loss averages over known, evaluated cells; others over rows
        counts_cells = getattr(self.loss_fn, "eval_mask", None) is not None
        cells = int((known & self.taxonomy.eval_mask).sum()) if counts_cells else known.shape[0]
        return self.dist.loss_scale(cells, getattr(self.loss_fn, "reduction", "mean"))

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (batches, capped by ``train.max_steps_per_epoch``)."""
        n = len(self.loaders.train)
        cap = self.config.train.max_steps_per_epoch
        return min(n, cap) if cap else n

    # ------------------------------------------------------------------ resume
    def resume(self) -> None:
        """Continue from the last checkpoint: weights, optimizer, RNG states, history, divergence reference.

        Raises:
            ConfigError: If there is no checkpoint, or the configuration changed (other than
                :data:`~seafloorhmc.config.RESUMABLE_KEYS`).
            CheckpointError: If the data's taxonomy differs from the checkpoint's (naming the
                nodes added, removed or moved) or the checkpoint cannot be read.
        """
        last = self.store.last()
        if last is None:
            raise ConfigError(f"nothing to resume in {self.run.path}: no checkpoint yet")
        state = self.store.load_state(last)
        changed = config_changes(state.get("config", {}), self.config)
        if changed:
            raise ConfigError(f"cannot resume {self.run.path}: configuration changed in "
                              f"{', '.join(changed)}; start a new run instead")
        saved = read_info(last / "model.safetensors")
        if saved.fingerprint != self.taxonomy.fingerprint():
            change = describe_taxonomy_change(saved.taxonomy, self.taxonomy, self.config.data.separator)
            raise CheckpointError(f"cannot resume {self.run.path}: the data's labels no longer match the run's "
                                  f"taxonomy ({change}); restore the original data or start a new run")
        load_weights(self.model, last / "model.safetensors", expected_fingerprint=self.taxonomy.fingerprint())
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        if state.get("loss"):  # a loss with state of its own (HCAL's DWA history, Kendall's θ)
            self.loss_fn.load_state_dict(state["loss"])
        self.guard.load_state_dict(state.get("divergence"))
        self.state = TrainState(epoch=state["epoch"], global_step=state["global_step"],
                                best_epoch=state.get("best_epoch"), best_value=state.get("best_value"),
                                history=list(state.get("history", [])),
                                best_val_metrics=state.get("best_val_metrics"))
        if self.dist.is_main:
            log.info("resuming %s after epoch %d", self.run.path, self.state.epoch + 1)

    # ------------------------------------------------------------------ training
    def fit(self, stop_after_epoch: int | None = None) -> dict | None:
        """Train to the configured number of epochs, then test the selected epoch.

        Args:
            stop_after_epoch: End the session after this epoch index (counted from 0), as an
                interruption would.

        Returns:
            The test metrics (None on ranks other than 0, or when stopped early).

        Raises:
            DivergenceError: If the loss, gradients or validation predictions stop being finite, or
                the loss explodes (:mod:`.divergence`); the epoch is not saved.
        """
        cfg = self.config.train
        total_steps = cfg.epochs * self.steps_per_epoch
        for epoch in range(self.state.epoch + 1, cfg.epochs):
            start = time.perf_counter()
            train_loss, lr, skipped = self._train_epoch(epoch, total_steps)
            self.guard.check_epoch(epoch + 1, train_loss)
            if hasattr(self.loss_fn, "on_epoch_end"):  # per-epoch loss rules (HCAL's DWA)
                self.loss_fn.on_epoch_end(epoch, self.dist.sum_floats)  # type: ignore[operator]  # torch: Tensor | Module
            record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, "lr": lr, "skipped": skipped}
            is_best = False
            if self.loaders.val is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
                try:
                    metrics = evaluate_split(self.model, self.loaders.val, self.loss_fn, self.taxonomy, self.runtime,
                                             self.config.eval.threshold, self.data.train_targets, self.dist,
                                             decoding=self.config.eval.decoding, forward=self.eval_forward,
                                             keep_predictions=self.keep_val_predictions)
                except DivergenceError as err:
                    raise DivergenceError(f"training diverged at epoch {epoch + 1} (validation): {err}") from None
                self.val_predictions = metrics.pop("_predictions", None)
                record.update({"val_loss": metrics["loss"], "val_au_prc": metrics["au_prc"], "val_f1": metrics["f1"],
                               "val_recall": metrics["recall"]})
                is_best = self._is_better(metrics, epoch)
                record["_selected"] = metrics.get(cfg.select_metric)
                if is_best:
                    self.state.best_val_metrics = _scalar_metrics(metrics)
            elif self.loaders.val is None:
                is_best = True  # no validation split: the last epoch is the one used
            record["seconds"] = round(time.perf_counter() - start, 3)
            self._log_epoch(record, is_best)
            record.pop("_selected", None)
            self.state.history.append(record)
            self.state.epoch = epoch
            self._save(epoch, is_best)
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                return None
        return self._finish()

    def _log_epoch(self, record: dict, is_best: bool) -> None:
        """One line per epoch, on a terminal or not: ``epoch 3/10: train loss 0.41, val au_prc 0.52 (best), 12.3 s``."""
        if not self.dist.is_main:
            return
        parts = [f"epoch {record['epoch']}/{self.config.train.epochs}: train loss {record['train_loss']:.4g}"]
        value = record.get("_selected")
        if value is not None:
            parts.append(f"val {self.config.train.select_metric} {value:.4g}" + (" (best)" if is_best else ""))
        if record.get("skipped"):
            parts.append(f"{record['skipped']} images skipped")
        parts.append(f"{record['seconds']:.1f} s")
        log.info(", ".join(parts))

    def _is_better(self, metrics: dict, epoch: int) -> bool:
        key = self.config.train.select_metric
        if metrics.get(key) is None:
            raise ValueError(f"train.select_metric={key!r} has no value on this validation split (it needs "
                             "training targets, a level-wise head, or positives to score); choose another metric")
        value = float(metrics[key])
        score = -value if key in LOWER_IS_BETTER else value
        if self.state.best_value is None or score > self.state.best_value:
            self.state.best_value, self.state.best_epoch = score, epoch
            return True
        return False

    def _train_epoch(self, epoch: int, total_steps: int) -> tuple[float, float, int]:
        cfg = self.config.train
        self.train_module.train()
        batchnorm_trains = any(m.training for m in self.batchnorm)  # a frozen encoder keeps its BatchNorm in eval
        loader = self.loaders.train
        loader.set_epoch(epoch)
        self.dist.seed_rank(self.config.seed, epoch)  # per-rank dropout streams (no-op on one process)
        steps = self.steps_per_epoch
        warmup = int(round(cfg.warmup_epochs * steps))
        count: float
        total, count, lr = 0.0, 0, self.optimizer.param_groups[0]["lr"]
        bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=None if (cfg.progress and self.dist.is_main) else True)  # None: off when not a TTY
        params = list(self.model.parameters())  # clipped and checked together, as train.grad_clip always did
        unreadable: list[tuple[str, str]] = []
        for i, batch in enumerate(loader):
            if i >= steps:
                break
            unreadable += batch.get("skipped", ())
            bar.update(1)
            rows = batch["target"].shape[0]
            if rows == 0 or (rows == 1 and batchnorm_trains and batch.get("skipped")):
                # every image of the batch was unreadable, or all but one: BatchNorm cannot train on one
                self.single_batches += rows
                continue
            x, target, known = self._to_device(batch)
            lr = set_lr(self.optimizer, lr_factor(self.state.global_step, total_steps, warmup, cfg.lr_schedule))
            schedule = getattr(self.loss_fn, "schedule", None)  # rare-node weight schedules only
            if schedule is not None and schedule.per == "epoch":
                self.loss_fn.set_progress(i, steps)  # type: ignore[operator]  # torch: Tensor | Module
            elif schedule is not None:
                self.loss_fn.set_progress(self.state.global_step, total_steps)  # type: ignore[operator]
            with self.runtime.autocast():
                logits = self.forward(x)
            loss = self.loss_fn(logits.float(), target, known)
            scale = self._loss_scale(batch)
            self.optimizer.zero_grad(set_to_none=True)
            (loss * scale if scale != 1.0 else loss).backward()
            norm = gradient_norm(params, cfg.grad_clip)
            describe = functools.partial(self._describe_batch, loader, batch)
            value = self.guard.check_step(loss, norm, epoch + 1, i + 1, describe)
            self.optimizer.step()
            self.state.global_step += 1
            total += value * scale * target.shape[0]
            count += target.shape[0]
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        bar.close()
        self._skipped(unreadable)
        total, count, skipped = self.dist.sum_floats(total, count, len(unreadable))
        return total / max(count, 1), lr, int(skipped)

    @staticmethod
    def _describe_batch(loader, batch) -> str:
        rows = torch.as_tensor(batch["index"])[:4].tolist()
        more = " ..." if len(batch["index"]) > 4 else ""
        dataset = getattr(loader, "dataset", None)
        if dataset is not None and hasattr(dataset, "image_path"):
            return "images " + ", ".join(dataset.image_path(i) for i in rows) + more
        return f"rows {rows}{more}"

    def _save(self, epoch: int, is_best: bool) -> None:
        if self.dist.is_main:
            state = {
                "optimizer": self.optimizer.state_dict(), "rng": rng_state(), "global_step": self.state.global_step,
                "best_epoch": self.state.best_epoch, "best_value": self.state.best_value,
                "history": self.state.history, "config": self.config.to_dict(), "loss": self.loss_fn.state_dict(),
                "divergence": self.guard.state_dict(),
                "best_val_metrics": self.state.best_val_metrics,
            }
            self.store.save(epoch, self.model, state, self.config, self.taxonomy, self.data.feature_dim, best=is_best)
            self.run.write_log(self.state.history, LOG_COLUMNS)
        self.dist.barrier()

    def _finish(self) -> dict:
        if self.single_batches and self.dist.is_main:
            log.info("%d image%s not trained on: unreadable files left %s a batch of one, which BatchNorm cannot "
                     "train on", self.single_batches, "s" if self.single_batches > 1 else "",
                     "them alone in" if self.single_batches > 1 else "it alone in")
        best = self.store.best() or self.store.last()
        assert best is not None  # fit() saved at least one epoch
        load_weights(self.model, best / "model.safetensors", expected_fingerprint=self.taxonomy.fingerprint())
        # the review flag's threshold is chosen on validation, before the test split is read
        review = calibrate_review_on_validation(self.model, self.loaders.val, self.taxonomy, self.runtime,
                                                self.config, self.dist, forward=self.eval_forward)
        results: dict = {}
        review_rows = review_collector(self.model, self.taxonomy, self.config)  # scored from the same test pass
        if self.loaders.test is not None:
            try:
                results = evaluate_split(self.model, self.loaders.test, self.loss_fn, self.taxonomy, self.runtime,
                                         self.config.eval.threshold, self.data.train_targets, self.dist,
                                         keep_predictions=True, decoding=self.config.eval.decoding,
                                         forward=self.eval_forward, on_batch=review_rows.add)
            except DivergenceError as err:
                raise DivergenceError(f"the selected epoch's model gives non-finite test predictions: {err}") from None
        predictions = results.pop("_predictions", None)
        review_scores = review_metrics(review_rows.result(self.dist), review, self.config) \
            if self.loaders.test is not None else {}
        if not self.dist.is_main:
            return results
        selected = self.state.best_epoch if self.state.best_epoch is not None else self.state.epoch
        metrics = {
            **results,
            **review_scores,
            "split": "test" if self.loaders.test is not None else None,
            "selected_epoch": selected + 1,
            "selection": (f"best val {self.config.train.select_metric}" if self.loaders.val is not None
                          else "last epoch"),
            "epochs": self.config.train.epochs,
            "validation": self.state.best_val_metrics,  # the selected epoch's scores on the validation split
            "data": self.data.info,
            "skipped_images": len(self.run.skipped),
            "taxonomy_fingerprint": self.taxonomy.fingerprint(),
            "config": self.config.to_dict(),
        }
        save_weights(self.model, self.run.path / "model.safetensors", self.config, self.taxonomy, selected + 1,
                     self.data.feature_dim, review=review.to_dict() if review is not None else None)
        if predictions is not None:
            self.run.write_predictions(predictions, self.taxonomy)
        write_json(self.run.path / "metrics.json", metrics)
        if self.config.train.report:
            try_write_run_report(self.run.path)  # plots/ + report.html; a failure is logged, never raised
        return metrics


def _scalar_metrics(metrics: dict) -> dict:
    """The numbers of a metrics dict (nested mappings of numbers kept), without per-node tables."""
    def plain(value):  # numpy scalars → Python numbers (checkpoints load with weights_only=True)
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        return value if value is None or isinstance(value, str) else _SKIP

    out: dict = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            inner = {k: plain(v) for k, v in value.items()}
            if all(v is not _SKIP for v in inner.values()):
                out[key] = inner
        elif plain(value) is not _SKIP:
            out[key] = plain(value)
    return out


_SKIP = object()


def train(config: Config, out: str | Path, resume: bool = False, overwrite: bool = False,
          stop_after_epoch: int | None = None, dist: DistContext | None = None) -> dict | None:
    """Train a configuration into the run folder ``out`` and score the selected epoch on the test split.

    The folder is locked for the whole run: another process training, resuming or evaluating
    into it is refused, naming this one (:meth:`RunDir.claim`).

    Args:
        config: The run configuration (:func:`seafloorhmc.load_config`).
        out: The run folder; a finished run there is never overwritten without ``overwrite``.
        resume: Continue the unfinished run in ``out`` from its last checkpoint.
        overwrite: Replace whatever ``out`` holds.
        stop_after_epoch: End the session after this (0-based) epoch, as an interruption would.
        dist: The process group under torchrun (default: a single process).

    Returns:
        The test metrics written to ``metrics.json`` (None on ranks other than 0, or when stopped early).

    Raises:
        RunDirError: If ``out`` holds something this call must not overwrite.
        RunLockedError: If another process holds ``out``.
        BadImagesError: If images cannot be read and ``data.skip_bad_images`` is off (all of them
            are listed in ``bad_images.txt``).
        BadImageError: If an image became unreadable after the check before training.
        DivergenceError: If training diverges (:mod:`.divergence`).
    """
    dist = dist or SINGLE_PROCESS
    run = RunDir(out, is_main=dist.is_main)
    with run.claim(resume=resume, overwrite=overwrite):
        dist.barrier()
        if dist.is_main:
            write_text(run.path / "config.yaml", config.to_yaml())
        try:
            trainer = Trainer(config, run, dist=dist)
            if dist.is_main and trainer.data.train_record is not None:  # the limited-data subset / LPROS clones
                write_json(run.path / "train_subset.json", trainer.data.train_record)
            if resume and trainer.store.last() is not None:
                trainer.resume()
            return trainer.fit(stop_after_epoch=stop_after_epoch)
        except BadImagesError as err:
            if not dist.is_main:
                raise
            raise err.listed_in(run.write_bad_images(err.bad)) from None
        except (BadImageError, RuntimeError) as err:
            changed = image_changed_since_check(err)  # unreadable since the check (e.g. while encoding features)
            if changed is None:
                raise
            raise changed from None
