"""Decision thresholds chosen on validation predictions: one global cut-off or one per depth.

A model can rank well (high AU(PRC)) and still predict few rare nodes at ``p > 0.5``: macro F1
counts every node alike, and a rare node's probabilities rarely reach 0.5. Moving the cut-off
needs no retraining, so ``seafloorhmc tune`` chooses it for every trial on that trial's validation
predictions and scores the trial at it.

For every candidate threshold, the per-node TP/FP/FN come from one sort: each cell's position
among the candidates (``searchsorted``) and per-node counts of those positions, summed from the
top. Macro F1 is the mean of per-node F1 (rare-node paper conventions, 0/0 := 0,
:mod:`seafloorhmc.metrics.nodewise`) and the nodes of different depths are disjoint, so choosing
each depth's threshold on its own nodes maximises the overall macro F1 exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..metrics.nodewise import prf

__all__ = ["CANDIDATES", "THRESHOLD_MODES", "Thresholds", "f1_curves", "choose_thresholds", "tuned_macro_f1",
           "apply_thresholds"]

#: Candidate cut-offs: dense near 0 (rare nodes' probabilities are small), then every 0.01.
CANDIDATES = np.unique(np.round(np.concatenate([np.geomspace(1e-4, 0.05, 60), np.arange(0.05, 0.96, 0.01)]), 6))
THRESHOLD_MODES = ("fixed", "global", "depth")


@dataclass
class Thresholds:
    """The chosen cut-offs: ``value`` for every node, or ``by_depth`` (depth → cut-off) when set."""

    mode: str
    value: float
    by_depth: dict[int, float] = field(default_factory=dict)

    def node_thresholds(self, depths) -> np.ndarray:
        """One cut-off per node.

        Args:
            depths: Each node's depth (``taxonomy.depth``).

        Returns:
            float [N] array.
        """
        depths = np.asarray(depths)
        return np.array([self.by_depth.get(int(d), self.value) for d in depths], dtype=np.float64)

    def to_dict(self) -> dict:
        """JSON-friendly form.

        Returns:
            ``mode``, ``value`` and ``by_depth`` (depth keys as text).
        """
        return {"mode": self.mode, "value": self.value, "by_depth": {str(k): v for k, v in self.by_depth.items()}}

    @classmethod
    def from_dict(cls, data: Mapping) -> Thresholds:
        """Inverse of :meth:`to_dict`.

        Args:
            data: A dict written by :meth:`to_dict`.

        Returns:
            The thresholds.
        """
        return cls(str(data["mode"]), float(data["value"]),
                   {int(k): float(v) for k, v in (data.get("by_depth") or {}).items()})


def _cells(probs, targets, eval_mask, known):
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(targets) > 0.5
    cells = np.ones_like(y) if known is None else np.asarray(known).astype(bool)
    nodes = np.flatnonzero(np.asarray(eval_mask).astype(bool))
    return p[:, nodes], y[:, nodes], cells[:, nodes], nodes


def f1_curves(probs, targets, eval_mask, known=None, candidates=CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
    """Per-node F1 of ŷ = p > t for every candidate t, over the evaluated nodes.

    Args:
        probs: float [n, N] probabilities.
        targets: {0, 1} [n, N].
        eval_mask: bool [N], the evaluated nodes (``taxonomy.eval_mask``).
        known: Optional bool [n, N]; unknown cells count nowhere.
        candidates: Increasing cut-offs.

    Returns:
        (F1 [len(nodes), len(candidates)], the evaluated node indices).
    """
    cand = np.asarray(candidates, dtype=np.float64)
    p, y, cells, nodes = _cells(probs, targets, eval_mask, known)
    m, t = p.shape[1], len(cand)
    rank = np.searchsorted(cand, p, side="left")  # p > cand[j]  ⇔  j < rank
    column = np.broadcast_to(np.arange(m), p.shape)
    flat = column * (t + 1) + rank

    def above(mask):  # [m, t]: cells of ``mask`` with p > cand[j]
        counts = np.bincount(flat[mask], minlength=m * (t + 1)).reshape(m, t + 1)
        return np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:]

    positives = y & cells
    tp = above(positives)
    fp = above(cells) - tp
    fn = positives.sum(0)[:, None] - tp
    return prf(tp, fp, fn)[2], nodes


def tuned_macro_f1(probs, targets, eval_mask, depths, mode: str = "global", known=None, fixed: float = 0.5,
                   candidates=CANDIDATES) -> tuple[Thresholds, float]:
    """The cut-off(s) that maximise macro F1 on these (validation) predictions, and that macro F1.

    Ties go to the smallest candidate. The score comes from the same per-node counts, so it costs
    nothing beyond the choice (a tuning trial scores every epoch this way).

    Args:
        probs: float [n, N] probabilities.
        targets: {0, 1} [n, N].
        eval_mask: bool [N], the evaluated nodes.
        depths: Each node's depth [N].
        mode: ``fixed`` (keep ``fixed``), ``global`` (one cut-off) or ``depth`` (one per depth).
        known: Optional bool [n, N].
        fixed: The configured cut-off (``eval.threshold``): the ``fixed`` mode's value.
        candidates: Increasing cut-offs to choose from.

    Returns:
        (thresholds, macro F1 over the evaluated nodes at them). The ``depth`` mode also sets
        ``value``, the best global cut-off, used for nodes of a depth the predictions did not cover.

    Raises:
        ValueError: For an unknown mode.
    """
    if mode not in THRESHOLD_MODES:
        raise ValueError(f"threshold mode {mode!r} is not one of {', '.join(THRESHOLD_MODES)}")
    if mode == "fixed":
        f1, _ = f1_curves(probs, targets, eval_mask, known, [float(fixed)])
        return Thresholds("fixed", float(fixed)), float(f1[:, 0].mean())
    cand = np.asarray(candidates, dtype=np.float64)
    f1, nodes = f1_curves(probs, targets, eval_mask, known, cand)
    macro = f1.mean(0)
    best = int(np.argmax(macro))
    if mode == "global":
        return Thresholds("global", float(cand[best])), float(macro[best])
    node_depths = np.asarray(depths)[nodes]
    by_depth, total = {}, 0.0
    for depth in np.unique(node_depths):
        rows = f1[node_depths == depth]
        j = int(np.argmax(rows.mean(0)))
        by_depth[int(depth)] = float(cand[j])
        total += float(rows[:, j].sum())
    return Thresholds("depth", float(cand[best]), by_depth), total / len(nodes)


def choose_thresholds(probs, targets, eval_mask, depths, mode: str = "global", known=None, fixed: float = 0.5,
                      candidates=CANDIDATES) -> Thresholds:
    """The cut-off(s) of :func:`tuned_macro_f1`.

    Args:
        probs: float [n, N] probabilities.
        targets: {0, 1} [n, N].
        eval_mask: bool [N], the evaluated nodes.
        depths: Each node's depth [N].
        mode: ``fixed``, ``global`` or ``depth``.
        known: Optional bool [n, N].
        fixed: The configured cut-off (``eval.threshold``).
        candidates: Increasing cut-offs to choose from.

    Returns:
        The chosen thresholds.
    """
    return tuned_macro_f1(probs, targets, eval_mask, depths, mode, known, fixed, candidates)[0]


def apply_thresholds(probs, thresholds: Thresholds, depths) -> np.ndarray:
    """ŷ = p > the node's cut-off.

    Args:
        probs: float [n, N].
        thresholds: The cut-offs.
        depths: Each node's depth [N].

    Returns:
        bool [n, N] predictions (for ``metrics.evaluate(predicted=...)``).
    """
    return np.asarray(probs, dtype=np.float64) > thresholds.node_thresholds(depths)[None, :]
