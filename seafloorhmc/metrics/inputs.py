"""Checked numpy views of what ``evaluate`` is given, so every metric reads the same cells.

Metrics are computed on the *evaluated cells*: (example, node) pairs whose node is in
``taxonomy.eval_mask`` and whose label is known. Unknown cells (partial labels: the annotator
stopped above leaf level) are left out everywhere instead of being counted as negatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..taxonomy import Taxonomy

__all__ = ["EvalData", "as_numpy", "check_probs", "check_binary", "prepare"]


def as_numpy(x, name: str) -> np.ndarray:
    """A numpy array from a torch tensor (any device, with or without grad) or array-like.

    Args:
        x: The input.
        name: Names the argument in the error.

    Returns:
        The array (floating tensors as float64: numpy has no bfloat16).

    Raises:
        ValueError: If ``x`` cannot be converted.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = (x.double() if x.is_floating_point() else x).numpy()  # numpy has no bfloat16
    try:
        return np.asarray(x)
    except Exception as err:  # noqa: BLE001 - report which argument could not be read
        raise ValueError(f"{name}: cannot convert {type(x).__name__} to an array ({err})") from None


def check_probs(probs, name: str = "probs", ndim: int = 2) -> np.ndarray:
    """Probabilities checked to be finite and in [0, 1], so metrics never see garbage.

    Args:
        probs: Array-like or tensor.
        name: Names the argument in errors.
        ndim: Required number of dimensions.

    Returns:
        float64 array.

    Raises:
        ValueError: On the wrong number of dimensions, a non-numeric dtype, NaN/inf, or values
            outside [0, 1]; the message names the first culprit.
    """
    p = as_numpy(probs, name)
    if p.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {p.shape}")
    if not (np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer) or p.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {p.dtype}")
    p = p.astype(np.float64, copy=False)
    bad = ~np.isfinite(p)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains {bad.sum()} NaN/inf values (first at index {where})")
    outside = (p < 0) | (p > 1)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"{name} must be probabilities in [0, 1]; {name}{list(where)} = {p[where]!r}")
    return p


def check_binary(targets, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Labels checked to be {0, 1} (or bool).

    Args:
        targets: Array-like or tensor.
        name: Names the argument in errors.
        shape: Required shape, if any.

    Returns:
        Bool array.

    Raises:
        ValueError: On the wrong shape, a non-numeric dtype, or a value other than 0 and 1.
    """
    y = as_numpy(targets, name)
    if shape is not None and y.shape != shape:
        raise ValueError(f"{name} has shape {y.shape}, expected {shape}")
    if y.dtype == bool:
        return y
    if not (np.issubdtype(y.dtype, np.number)):
        raise ValueError(f"{name} must hold 0/1 values, got dtype {y.dtype}")
    bad = (y != 0) & (y != 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must hold only 0 and 1; {name}{list(where)} = {y[where]!r}")
    return y == 1


@dataclass
class EvalData:
    """Validated inputs: probabilities, labels, predictions and the evaluated-cell mask.

    The ``*_eval`` views are [n, len(nodes)], restricted to the evaluated nodes.

    Attributes:
        p: Probabilities float64 [n, N].
        y: Labels bool [n, N].
        pred: Predictions bool [n, N].
        cells: Evaluated known cells bool [n, N].
        nodes: The evaluated node indices (taxonomy order).
        threshold: The threshold of ``pred``.
    """

    p: np.ndarray
    y: np.ndarray
    pred: np.ndarray
    cells: np.ndarray
    nodes: np.ndarray
    threshold: float

    @cached_property
    def p_eval(self) -> np.ndarray:
        """Probabilities of the evaluated nodes."""
        return self.p[:, self.nodes]

    @cached_property
    def y_eval(self) -> np.ndarray:
        """Labels of the evaluated nodes, false where unknown."""
        return self.y[:, self.nodes] & self.cells[:, self.nodes]

    @cached_property
    def pred_eval(self) -> np.ndarray:
        """Predictions of the evaluated nodes, false where unknown."""
        return self.pred[:, self.nodes] & self.cells[:, self.nodes]

    @cached_property
    def cells_eval(self) -> np.ndarray:
        """Known cells of the evaluated nodes."""
        return self.cells[:, self.nodes]


def prepare(probs, targets, taxonomy: Taxonomy, known=None, threshold: float = 0.5) -> EvalData:
    """Validate what :func:`~seafloorhmc.metrics.evaluate` is given, so every metric reads the same cells.

    Args:
        probs: Probabilities [n, N].
        targets: {0, 1} targets [n, N].
        taxonomy: The hierarchy; its ``eval_mask`` selects the evaluated nodes.
        known: Optional bool [n, N] of known cells.
        threshold: ŷ = p > threshold (strict, as in the released code of Xu et al. 2026).

    Returns:
        The checked data.

    Raises:
        ValueError: On a bad input (the message names it) or an empty evaluation set.
    """
    p = check_probs(probs)
    n, num_nodes = p.shape
    if num_nodes != len(taxonomy):
        raise ValueError(f"probs has {num_nodes} columns but the taxonomy has {len(taxonomy)} nodes")
    if n == 0:
        raise ValueError("empty evaluation set: probs has 0 examples")
    y = check_binary(targets, "targets", p.shape)
    if known is None:
        k = np.ones_like(y)
    else:
        k = as_numpy(known, "known")
        if k.shape != p.shape:
            raise ValueError(f"known has shape {k.shape}, expected {p.shape}")
        k = check_binary(k, "known")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number, got {threshold!r}") from None
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    eval_mask = as_numpy(taxonomy.eval_mask, "taxonomy.eval_mask").astype(bool)
    nodes = np.flatnonzero(eval_mask)
    if len(nodes) == 0:
        raise ValueError("empty evaluation set: taxonomy.eval_mask selects no node")
    cells = k & eval_mask[None, :]
    if not cells.any():
        raise ValueError("empty evaluation set: no known label on any evaluated node")
    return EvalData(p=p, y=y, pred=p > threshold, cells=cells, nodes=nodes, threshold=threshold)
