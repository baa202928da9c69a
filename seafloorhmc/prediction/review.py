"""The review flag: a row needs review when its uncertainty exceeds a threshold calibrated on validation.

A flag is only useful if it says something about the rows it does *not* flag. At the end of
training the threshold τ (flag a row when its uncertainty u > τ) is chosen on the validation
split so that the unflagged predictions reach a target precision, stored with the model, and
checked on the test split (``metrics.json``: ``review_flagged_share``, ``review_unflagged_precision``).

**Precision of a prediction.** A row's prediction is *correct* when every node it predicts is a
true label: no evaluated, known node with ``p > threshold`` (or in the set a per-level head
decided) is a negative. The unflagged precision is the share of unflagged rows that are correct.
Why this definition: it is what a reviewer who skips a row relies on — whatever was written for it
is true. It is the same test for an image's node set and for a point's single label (the label of
:mod:`~seafloorhmc.prediction.single_label` lies on the predicted node set, so a correct row's
label is correct), and it does not punish a coarse prediction ("Echinoderms" for a sea urchin),
which the row uncertainty already flags when the next level was a close call (it takes the
largest node uncertainty over the decision frontier, including the first unpredicted level). A
row that predicts nothing below the roots asserts nothing: it counts as correct only when none of
its known evaluated nodes is positive, so "nothing here" is held to the same standard. Unknown
cells (the descendants of a partial label) are ignored, as in the metrics.

**Calibration** (``eval.review_calibration``):

* ``precision`` (default): the largest cut-off τ, among the validation rows' uncertainties, at
  which the validation rows with u ≤ τ reach precision ``eval.review_target`` (default 0.9). Ties
  in u are never split. If even the most certain rows miss the target, every row is flagged
  (τ = −1) and a warning says so.
* ``flagged_share``: τ such that a share ``eval.review_share`` of the validation rows is flagged.
* ``off``: ``eval.review_threshold`` as configured.

The guarantee is empirical: on validation the unflagged rows reached the stated precision; on new
data of the same kind the test split shows how closely it holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from ..distributed import SINGLE_PROCESS, DistContext
from ..runtime import Runtime
from ..taxonomy import Taxonomy
from ..uncertainty import ALIASES, node_uncertainty
from .suggestions import row_uncertainty

__all__ = ["ReviewThreshold", "correct_rows", "calibrate_review_threshold", "review_scores", "collect_review_rows",
           "calibrate_review", "CORRECTNESS"]

log = logging.getLogger(__name__)

CORRECTNESS = "every predicted node is a true label (no false positive on known evaluated nodes); a row that " \
              "predicts nothing is correct when it has no positive known evaluated node"
FLAG_ALL = -1.0  # uncertainties are >= 0, so u > -1 flags every row


@dataclass
class ReviewThreshold:
    """A calibrated review threshold and what it achieved on the split it was chosen on.

    Attributes:
        threshold: Flag a row when its uncertainty exceeds this.
        method: ``precision``, ``flagged_share`` or ``off``.
        target: The target precision or flagged share (None for ``off``).
        uncertainty: The uncertainty mode the rows were scored with.
        reached: Whether the target was met (``precision``: some cut-off reached it).
        rows: Rows of the calibration split.
        flagged_share: Share of them flagged.
        unflagged_precision: Share of the unflagged rows that are correct (None when none is unflagged).
    """

    threshold: float
    method: str
    target: float | None
    uncertainty: str
    reached: bool
    rows: int
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
        return {**asdict(self), "correct_means": CORRECTNESS}

    def describe(self) -> str:
        """One sentence on what the threshold guarantees on validation.

        Returns:
            The sentence.
        """
        if self.method == "off":
            return f"review threshold {self.threshold:g} as configured (not calibrated)"
        unflagged = 1.0 - self.flagged_share
        if self.unflagged_precision is None:
            return (f"no {self.uncertainty} uncertainty cut-off reached precision {self.target:g} on the {self.rows} "
                    "validation rows, so every row is flagged")
        what = (f"target precision {self.target:g}" if self.method == "precision"
                else f"target flagged share {self.target:g}")
        return (f"uncertainty ({self.uncertainty}) > {self.threshold:.4g} flags {100 * self.flagged_share:.1f} % of "
                f"the {self.rows} validation rows; the other {100 * unflagged:.1f} % were correct "
                f"{100 * self.unflagged_precision:.1f} % of the time ({what})")


def correct_rows(predicted: torch.Tensor, targets: torch.Tensor, known: torch.Tensor,
                 eval_mask: torch.Tensor) -> torch.Tensor:
    """Bool [n]: whether each row's prediction is correct (module doc).

    Args:
        predicted: Bool [n, N], the predicted node sets.
        targets: [n, N] ancestor-closed 0/1 targets.
        known: Bool [n, N], cells whose target is known.
        eval_mask: Bool [N], the evaluated nodes.

    Returns:
        Correctness per row.
    """
    scored = known.bool() & eval_mask.bool().to(known.device)[None, :]
    positive = targets > 0.5
    predicted = predicted.bool() & scored
    false_positive = (predicted & ~positive).any(1)
    says_nothing = ~predicted.any(1)
    missed_something = (positive & scored).any(1)
    return ~false_positive & ~(says_nothing & missed_something)


def review_scores(uncertainty: np.ndarray, correct: np.ndarray, threshold: float) -> tuple[float, float | None, int]:
    """(flagged share, unflagged precision or None, unflagged rows) of rows flagged when u > ``threshold``.

    Args:
        uncertainty: Row uncertainties [n].
        correct: Row correctness [n].
        threshold: The review threshold.

    Returns:
        The share of rows flagged, the share of unflagged rows that are correct, and how many are unflagged.
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
    """The review threshold of ``method`` on one split's rows (module doc).

    Args:
        uncertainty: Row uncertainties [n] of the calibration (validation) split.
        correct: Row correctness [n].
        method: ``precision`` (largest cut-off reaching ``target`` precision) or ``flagged_share``
            (flag a share ``target`` of the rows).
        target: The target precision, or the target flagged share.
        mode: The uncertainty mode (recorded).

    Returns:
        The threshold and what it achieved on these rows.

    Raises:
        ValueError: For an unknown method, a target outside [0, 1], no rows, or arrays of different lengths.
    """
    u, ok = np.asarray(uncertainty, dtype=np.float64), np.asarray(correct, dtype=bool)
    if u.shape != ok.shape or u.ndim != 1:
        raise ValueError(f"uncertainty {u.shape} and correctness {ok.shape} must be vectors of one length")
    if u.size == 0:
        raise ValueError("no rows to calibrate the review threshold on (is the validation split empty?)")
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"the review target must lie in [0, 1], got {target}")
    order = np.argsort(u, kind="stable")
    u_sorted, ok_sorted = u[order], ok[order]
    last_of_tie = np.append(u_sorted[1:] != u_sorted[:-1], True)  # a cut-off keeps all rows of equal u
    if method == "precision":
        precision = np.cumsum(ok_sorted) / np.arange(1, u.size + 1)
        candidates = np.flatnonzero(last_of_tie & (precision >= target - 1e-12))
        reached = candidates.size > 0
        threshold = float(u_sorted[candidates[-1]]) if reached else FLAG_ALL
        if not reached:
            log.warning("review calibration: no uncertainty cut-off reaches precision %g on the %d validation rows "
                        "(best: %.3f); every prediction will be flagged for review", target, u.size,
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


@torch.no_grad()
def collect_review_rows(model: torch.nn.Module, loader, taxonomy: Taxonomy, runtime: Runtime, threshold: float,
                        mode: str, decoding: str = "independent", dist: DistContext = SINGLE_PROCESS,
                        forward: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row uncertainty (as ``seafloorhmc predict`` computes it) and row correctness over a labelled split.

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
        Uncertainty [n] and correctness [n], in dataset order.
    """
    model.eval()
    forward = model if forward is None else forward
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    uncertainties, corrects, indices = [], [], []
    for batch in loader:
        if batch["target"].shape[0] == 0:
            continue
        with runtime.autocast():
            logits = forward(runtime.batch(batch["image"]))
        prediction = model.predict_from_logits(logits.float(), decoding)
        probs, decided = prediction.probs.float(), prediction.predicted
        u = row_uncertainty(probs, node_uncertainty(prediction.member_probs.float(), mode), taxonomy, threshold,
                            decided)
        predicted = decided.bool() if decided is not None else probs > threshold
        target, known = batch["target"].to(probs.device), batch["known"].to(probs.device)
        uncertainties.append(u.cpu())
        corrects.append(correct_rows(predicted, target, known, taxonomy.eval_mask).cpu())
        indices.append(torch.as_tensor(batch["index"]).cpu())
    u_t = torch.cat(uncertainties) if uncertainties else torch.zeros(0)
    ok_t = torch.cat(corrects) if corrects else torch.zeros(0, dtype=torch.bool)
    idx_t = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long)
    if dist.enabled:
        u_t, ok_t, idx_t = dist.gather_tensor(u_t), dist.gather_tensor(ok_t), dist.gather_tensor(idx_t)
    order = np.unique(idx_t.numpy(), return_index=True)[1]  # drop sampler padding, restore order
    return u_t.numpy()[order].astype(np.float64), ok_t.numpy()[order].astype(bool)


def calibrate_review(model: torch.nn.Module, val_loader, test_loader, taxonomy: Taxonomy, runtime: Runtime,
                     config, dist: DistContext = SINGLE_PROCESS,
                     forward: Callable | None = None) -> tuple[ReviewThreshold | None, dict]:
    """Calibrate the review threshold on validation and score it on test, as ``config.eval`` says.

    Args:
        model: The trained classifier (the selected epoch's weights).
        val_loader: The validation split (None: nothing to calibrate on, the configured threshold stays).
        test_loader: The test split (None: no test scores).
        taxonomy: The label hierarchy.
        runtime: Device, autocast and memory format.
        config: The run configuration (``eval.*``).
        dist: The process group.
        forward: Maps a batch's ``image`` to member logits (cached features).

    Returns:
        The threshold (None when not calibrated: ``off`` or no validation split) and the test-split
        entries for ``metrics.json`` (``review_*`` keys; empty without a test split).
    """
    cfg = config.eval
    mode = cfg.review_uncertainty
    calibrated = None
    threshold = cfg.review_threshold
    if cfg.review_calibration != "off" and val_loader is not None:
        u, ok = collect_review_rows(model, val_loader, taxonomy, runtime, cfg.threshold, mode, cfg.decoding, dist,
                                    forward)
        target = cfg.review_target if cfg.review_calibration == "precision" else cfg.review_share
        calibrated = calibrate_review_threshold(u, ok, cfg.review_calibration, target, mode)
        threshold = calibrated.threshold
    elif cfg.review_calibration != "off":
        log.warning("review calibration: no validation split, so eval.review_threshold=%g is used as configured",
                    threshold)
    metrics: dict = {}
    if test_loader is not None:
        u, ok = collect_review_rows(model, test_loader, taxonomy, runtime, cfg.threshold, mode, cfg.decoding, dist,
                                    forward)
        share, precision, kept = review_scores(u, ok, threshold)
        metrics = {"review_threshold": threshold, "review_flagged_share": share,
                   "review_unflagged_precision": precision, "review_unflagged_rows": kept,
                   "review_target": calibrated.target if calibrated is not None else None,
                   "review": {"test": {"rows": int(u.size), "flagged_share": share, "unflagged_precision": precision},
                              "validation": calibrated.to_dict() if calibrated is not None else None,
                              "calibration": cfg.review_calibration if calibrated is not None else "off",
                              "uncertainty": ALIASES.get(mode, mode), "correct_means": CORRECTNESS}}
    return calibrated, metrics
