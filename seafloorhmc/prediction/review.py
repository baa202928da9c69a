"""The review flag: a prediction needs review when its uncertainty exceeds a threshold calibrated on validation.

A flag is only useful if it says something about what it does *not* flag. At the end of training
the threshold τ is chosen on the validation split so that the unflagged predictions reach a target
precision, stored with the model, and checked on the test split (``metrics.json``:
``review_flagged_share``, ``review_unflagged_precision``).

**A prediction, and its precision.** A prediction is one taxon the model says is present: an
evaluated node with ``p > threshold`` (or in the node set a per-level head decided) in one row —
an image, or a point's patch. Its uncertainty is that node's uncertainty (``eval.review_uncertainty``);
it is flagged when that exceeds τ. It is *correct* when the taxon is truly there; predictions on
unknown cells (the descendants of a partial label) cannot be scored and are left out, as in the
metrics. The precision of a set of predictions is the share that is correct — the metrics'
``micro_precision`` restricted to that set. Why per taxon rather than per row: a reviewer checks
taxa, and a multi-label image with half a dozen predicted taxa is almost never right in every one
of them (on the demo, one test image in ten is), so a per-row target would flag everything; a
coarse taxon the model is sure of ("Echinoderms") is a correct, usable label even when the species
below it is a coin flip, which the machine suggestions show. The unit is the same for a point's
single label (:mod:`~seafloorhmc.prediction.single_label`): the label and its ancestors are predictions.

**Rows.** A row needs review when one of its predictions is flagged, i.e. when its uncertainty —
the largest over its predicted taxa (:func:`~seafloorhmc.prediction.suggestions.row_uncertainty`) —
exceeds τ. So every prediction in an unflagged row is an unflagged prediction.

**Calibration** (``eval.review_calibration``):

* ``precision`` (default): the largest cut-off τ, among the validation predictions' uncertainties,
  at which the predictions with u ≤ τ reach precision ``eval.review_target`` (default 0.9). Ties in
  u are never split. If even the surest predictions miss the target, everything is flagged
  (τ = −1) and a warning says so.
* ``flagged_share``: τ such that a share ``eval.review_share`` of the validation predictions is flagged.
* ``off``: ``eval.review_threshold`` as configured.

The guarantee is empirical: on validation the unflagged predictions reached the stated precision;
the test split shows how closely it holds on data the threshold never saw.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from ..config import Config
from ..distributed import SINGLE_PROCESS, DistContext
from ..runtime import Runtime
from ..taxonomy import Taxonomy
from ..uncertainty import ALIASES, node_uncertainty
from .suggestions import row_uncertainty

__all__ = ["ReviewThreshold", "ReviewRows", "prediction_cells", "calibrate_review_threshold", "review_scores",
           "collect_review_rows", "calibrate_review_on_validation", "ReviewRowCollector",
           "review_collector", "review_metrics", "CORRECTNESS", "FLAG_ALL"]

log = logging.getLogger(__name__)

CORRECTNESS = "a prediction is one taxon predicted present (an evaluated node with p > threshold) in one row; it is " \
              "correct when the taxon is truly there (unknown cells left out)"
FLAG_ALL = -1.0  # uncertainties are >= 0, so u > -1 flags every prediction


@dataclass
class ReviewThreshold:
    """A calibrated review threshold and what it achieved on the split it was chosen on.

    Attributes:
        threshold: Flag a row when its uncertainty exceeds this.
        method: ``precision``, ``flagged_share`` or ``off``.
        target: The target precision or flagged share (None for ``off``).
        uncertainty: The uncertainty mode the predictions were scored with.
        reached: Whether the target was met (``precision``: some cut-off reached it).
        predictions: Predictions (scored taxa) of the calibration split.
        flagged_share: Share of them flagged.
        unflagged_precision: Share of the unflagged ones that are correct (None when none is unflagged).
    """

    threshold: float
    method: str
    target: float | None
    uncertainty: str
    reached: bool
    predictions: int
    flagged_share: float
    unflagged_precision: float | None

    @classmethod
    def from_dict(cls, data: dict) -> ReviewThreshold:
        """The threshold :meth:`to_dict` described (extra keys ignored).

        Args:
            data: A dict from :meth:`to_dict` (a model file's ``review`` metadata).

        Returns:
            The threshold.
        """
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def to_dict(self) -> dict:
        """Plain data for ``metrics.json`` and the model file's metadata.

        Returns:
            The fields, plus the definition of a correct prediction.
        """
        return {**asdict(self), "prediction_means": CORRECTNESS}

    def describe(self) -> str:
        """One sentence on what the threshold guarantees on validation.

        Returns:
            The sentence.
        """
        if self.method == "off":
            return f"review threshold {self.threshold:g} as configured (not calibrated)"
        unflagged = 1.0 - self.flagged_share
        if self.unflagged_precision is None:
            return (f"no {self.uncertainty} uncertainty cut-off reached precision {self.target:g} on the "
                    f"{self.predictions} validation predictions, so every prediction is flagged")
        what = (f"target precision {self.target:g}" if self.method == "precision"
                else f"target flagged share {self.target:g}")
        return (f"{self.uncertainty} uncertainty > {self.threshold:.4g} flags {100 * self.flagged_share:.1f} % of the "
                f"{self.predictions} predicted taxa on validation; the other {100 * unflagged:.1f} % were right "
                f"{100 * self.unflagged_precision:.1f} % of the time ({what})")


def prediction_cells(predicted: torch.Tensor, targets: torch.Tensor, known: torch.Tensor, eval_mask: torch.Tensor,
                     node_uncertainty: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The scored predictions of a batch: (uncertainty [m], correct [m]) of every predicted, evaluated, known cell.

    Args:
        predicted: Bool [n, N], the predicted node sets.
        targets: [n, N] ancestor-closed 0/1 targets.
        known: Bool [n, N], cells whose target is known.
        eval_mask: Bool [N], the evaluated nodes.
        node_uncertainty: [n, N] node uncertainties.

    Returns:
        Uncertainty and correctness of each prediction, row by row.
    """
    cells = predicted.bool() & known.bool() & eval_mask.bool().to(predicted.device)[None, :]
    return node_uncertainty[cells], targets[cells] > 0.5


def review_scores(uncertainty: np.ndarray, correct: np.ndarray, threshold: float) -> tuple[float, float | None, int]:
    """(flagged share, unflagged precision or None, unflagged count) of predictions flagged when u > ``threshold``.

    Args:
        uncertainty: Prediction uncertainties [n].
        correct: Prediction correctness [n].
        threshold: The review threshold.

    Returns:
        The share flagged, the share of the unflagged that are correct, and how many are unflagged.
    """
    uncertainty, correct = np.asarray(uncertainty, dtype=np.float64), np.asarray(correct, dtype=bool)
    if uncertainty.size == 0:
        return float("nan"), None, 0
    kept = uncertainty <= threshold
    n_kept = int(kept.sum())
    precision = float(correct[kept].mean()) if n_kept else None
    return float(1.0 - n_kept / uncertainty.size), precision, n_kept


def calibrate_review_threshold(uncertainty: np.ndarray, correct: np.ndarray, method: str = "precision",
                               target: float = 0.9, mode: str = "bma") -> ReviewThreshold:
    """The review threshold of ``method`` on one split's predictions (module doc).

    Args:
        uncertainty: Prediction uncertainties [n] of the calibration (validation) split.
        correct: Prediction correctness [n].
        method: ``precision`` (largest cut-off reaching ``target`` precision) or ``flagged_share``
            (flag a share ``target`` of the predictions).
        target: The target precision, or the target flagged share.
        mode: The uncertainty mode (recorded).

    Returns:
        The threshold and what it achieved on these predictions.

    Raises:
        ValueError: For an unknown method, a target outside [0, 1], no predictions, or arrays of different lengths.
    """
    u, ok = np.asarray(uncertainty, dtype=np.float64), np.asarray(correct, dtype=bool)
    if u.shape != ok.shape or u.ndim != 1:
        raise ValueError(f"uncertainty {u.shape} and correctness {ok.shape} must be vectors of one length")
    if u.size == 0:
        raise ValueError("no predictions to calibrate the review threshold on (the validation split is empty, or "
                         "nothing in it is predicted)")
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"the review target must lie in [0, 1], got {target}")
    order = np.argsort(u, kind="stable")
    u_sorted, ok_sorted = u[order], ok[order]
    last_of_tie = np.append(u_sorted[1:] != u_sorted[:-1], True)  # a cut-off keeps all predictions of equal u
    if method == "precision":
        precision = np.cumsum(ok_sorted) / np.arange(1, u.size + 1)
        candidates = np.flatnonzero(last_of_tie & (precision >= target - 1e-12))
        reached = candidates.size > 0
        threshold = float(u_sorted[candidates[-1]]) if reached else FLAG_ALL
        if not reached:
            log.warning("review calibration: no uncertainty cut-off reaches precision %g on the %d validation "
                        "predictions (best: %.3f); every prediction will be flagged for review", target, u.size,
                        float(precision[last_of_tie].max()))
    elif method == "flagged_share":
        keep = int(round((1.0 - target) * u.size))
        threshold = float(u_sorted[keep - 1]) if keep > 0 else FLAG_ALL
        reached = True
    else:
        raise ValueError(f"review calibration must be 'precision' or 'flagged_share', got {method!r}")
    share, unflagged_precision, _ = review_scores(u, ok, threshold)
    return ReviewThreshold(threshold, method, float(target), ALIASES.get(mode, mode), bool(reached), int(u.size),
                           share, unflagged_precision)


@dataclass
class ReviewRows:
    """A labelled split as the review flag sees it.

    Attributes:
        uncertainty: Uncertainty [m] of each scored prediction (predicted, evaluated, known cell).
        correct: Whether each is correct [m].
        row_uncertainty: Row uncertainty [n], as ``seafloorhmc predict`` writes it, in dataset order.
    """

    uncertainty: np.ndarray
    correct: np.ndarray
    row_uncertainty: np.ndarray


class ReviewRowCollector:
    """Builds :class:`ReviewRows` a batch at a time, from logits computed elsewhere.

    The final scoring of a run feeds it the logits of its one test pass
    (:func:`~seafloorhmc.evaluation.collect_predictions`' ``on_batch``), so the review flag is
    scored without reading the test split a second time.

    Args:
        model: The classifier (its ``predict_from_logits``).
        taxonomy: The label hierarchy.
        threshold: A node is predicted when ``p > threshold`` (heads that decide node sets use their own).
        mode: Uncertainty mode.
        decoding: Decoding of per-level heads.
    """

    def __init__(self, model: torch.nn.Module, taxonomy: Taxonomy, threshold: float, mode: str,
                 decoding: str = "independent") -> None:
        self.model, self.taxonomy, self.threshold, self.mode, self.decoding = model, taxonomy, threshold, mode, decoding
        self.cell_u: list[torch.Tensor] = []
        self.cell_ok: list[torch.Tensor] = []
        self.cell_key: list[torch.Tensor] = []
        self.row_u: list[torch.Tensor] = []
        self.indices: list[torch.Tensor] = []

    @torch.no_grad()
    def add(self, logits: torch.Tensor, batch: dict) -> None:
        """Take one batch: its member logits and the batch (``target``, ``known``, ``index``).

        Args:
            logits: Member logits [M, B, N] of the batch.
            batch: The batch they were computed from.
        """
        taxonomy, n_nodes = self.taxonomy, len(self.taxonomy)
        # torch types Module attributes as Tensor | Module; the model is a HierarchicalClassifier
        prediction = self.model.predict_from_logits(logits.float(), self.decoding)  # type: ignore[operator]
        probs, decided = prediction.probs.float(), prediction.predicted
        node_u = node_uncertainty(prediction.member_probs.float(), self.mode)
        predicted = decided.bool() if decided is not None else probs > self.threshold
        target, known = batch["target"].to(probs.device), batch["known"].to(probs.device)
        u, ok = prediction_cells(predicted, target, known, taxonomy.eval_mask, node_u)
        index = torch.as_tensor(batch["index"]).to(probs.device)
        cells = torch.nonzero(predicted & known.bool() & taxonomy.eval_mask.to(probs.device)[None, :])
        self.cell_u.append(u.cpu())
        self.cell_ok.append(ok.cpu())
        self.cell_key.append((index[cells[:, 0]] * n_nodes + cells[:, 1]).cpu())  # (row, node): same order as u
        self.row_u.append(row_uncertainty(probs, node_u, taxonomy, self.threshold, decided).cpu())
        self.indices.append(index.cpu())

    def result(self, dist: DistContext = SINGLE_PROCESS) -> ReviewRows:
        """The split's predictions and rows so far, gathered over ranks, in dataset order.

        Args:
            dist: The process group; every rank's rows are gathered.

        Returns:
            The review rows.
        """
        cat = lambda xs, dtype: torch.cat(xs) if xs else torch.zeros(0, dtype=dtype)  # noqa: E731
        cu, cok, ckey = cat(self.cell_u, torch.float32), cat(self.cell_ok, torch.bool), cat(self.cell_key, torch.long)
        ru, idx = cat(self.row_u, torch.float32), cat(self.indices, torch.long)
        if dist.enabled:
            cu, cok, ckey = dist.gather_tensor(cu), dist.gather_tensor(cok), dist.gather_tensor(ckey)
            ru, idx = dist.gather_tensor(ru), dist.gather_tensor(idx)
        # sampler padding repeats rows: keep each row, and each (row, node) prediction, once, in dataset order
        _, first_cell = np.unique(ckey.numpy(), return_index=True)
        _, first_row = np.unique(idx.numpy(), return_index=True)
        return ReviewRows(cu.numpy()[first_cell].astype(np.float64), cok.numpy()[first_cell].astype(bool),
                          ru.numpy()[first_row].astype(np.float64))


@torch.no_grad()
def collect_review_rows(model: torch.nn.Module, loader, taxonomy: Taxonomy, runtime: Runtime, threshold: float,
                        mode: str, decoding: str = "independent", dist: DistContext = SINGLE_PROCESS,
                        forward: Callable | None = None) -> ReviewRows:
    """The predictions of a labelled split with their uncertainty and correctness, and the row uncertainties.

    Args:
        model: The classifier.
        loader: Batches of ``image`` (or cached features), ``target``, ``known``, ``index``.
        taxonomy: The label hierarchy.
        runtime: Device, autocast and memory format.
        threshold: A node is predicted when ``p > threshold`` (heads that decide node sets use their own).
        mode: Uncertainty mode.
        decoding: Decoding of per-level heads.
        dist: The process group; every rank's rows are gathered.
        forward: Maps a batch's ``image`` to member logits (default ``model``).

    Returns:
        The split's predictions and rows, in dataset order.
    """
    model.eval()
    forward = model if forward is None else forward
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    collector = ReviewRowCollector(model, taxonomy, threshold, mode, decoding)
    for batch in loader:
        if batch["target"].shape[0] == 0:
            continue
        with runtime.autocast():
            logits = forward(runtime.batch(batch["image"]))
        collector.add(logits, batch)
    return collector.result(dist)


def _review_mode(config: Config) -> str:
    """The uncertainty mode the review flag uses (``eval.review_uncertainty``, aliases resolved)."""
    return ALIASES.get(config.eval.review_uncertainty, config.eval.review_uncertainty)


def calibrate_review_on_validation(model: torch.nn.Module, val_loader, taxonomy: Taxonomy, runtime: Runtime,
                                   config: Config, dist: DistContext = SINGLE_PROCESS,
                                   forward: Callable | None = None) -> ReviewThreshold | None:
    """The review threshold calibrated on the validation split, as ``config.eval`` says.

    Args:
        model: The trained classifier (the selected epoch's weights).
        val_loader: The validation split (None: nothing to calibrate on).
        taxonomy: The label hierarchy.
        runtime: Device, autocast and memory format.
        config: The run configuration (``eval.*``).
        dist: The process group.
        forward: Maps a batch's ``image`` to member logits (cached features).

    Returns:
        The threshold, or None when not calibrated (``off``, no validation split, nothing predicted):
        ``eval.review_threshold`` then stays.
    """
    cfg = config.eval
    if cfg.review_calibration == "off":
        return None
    if val_loader is None:
        log.warning("review calibration: no validation split, so eval.review_threshold=%g is used as configured",
                    cfg.review_threshold)
        return None
    mode = _review_mode(config)
    val = collect_review_rows(model, val_loader, taxonomy, runtime, cfg.threshold, mode, cfg.decoding, dist, forward)
    if not val.uncertainty.size:
        log.warning("review calibration: nothing is predicted on the validation split, so "
                    "eval.review_threshold=%g is used as configured", cfg.review_threshold)
        return None
    target = cfg.review_target if cfg.review_calibration == "precision" else cfg.review_share
    return calibrate_review_threshold(val.uncertainty, val.correct, cfg.review_calibration, target, mode)


def review_collector(model: torch.nn.Module, taxonomy: Taxonomy, config: Config) -> ReviewRowCollector:
    """A :class:`ReviewRowCollector` set up as ``config.eval`` says (threshold, uncertainty, decoding).

    Args:
        model: The classifier.
        taxonomy: The label hierarchy.
        config: The run configuration.

    Returns:
        An empty collector.
    """
    return ReviewRowCollector(model, taxonomy, config.eval.threshold, _review_mode(config), config.eval.decoding)


def review_metrics(test: ReviewRows, calibrated: ReviewThreshold | None, config: Config) -> dict:
    """The review flag's scores on the test split's rows, for ``metrics.json``.

    Args:
        test: The test split's review rows.
        calibrated: The threshold from :func:`calibrate_review_on_validation` (None: the configured one).
        config: The run configuration (``eval.*``).

    Returns:
        ``review_*`` entries.
    """
    cfg = config.eval
    threshold = calibrated.threshold if calibrated is not None else cfg.review_threshold
    share, precision, kept = review_scores(test.uncertainty, test.correct, threshold)
    rows_flagged = float((test.row_uncertainty > threshold).mean()) if test.row_uncertainty.size else None
    scores = {"predictions": int(test.uncertainty.size), "flagged_share": share, "unflagged_precision": precision,
              "unflagged": kept, "rows": int(test.row_uncertainty.size), "rows_flagged_share": rows_flagged}
    return {"review_threshold": threshold, "review_target": calibrated.target if calibrated is not None else None,
            "review_flagged_share": share, "review_unflagged_precision": precision,
            "review_rows_flagged_share": rows_flagged,
            "review": {"test": scores, "validation": calibrated.to_dict() if calibrated is not None else None,
                       "calibration": cfg.review_calibration if calibrated is not None else "off",
                       "uncertainty": _review_mode(config), "prediction_means": CORRECTNESS}}
