"""Node-wise imbalance weights of the rare-node method.

Xu et al. 2026, "Improving Detection of Rare Nodes in Hierarchical Multi-Label Learning"
(arXiv:2602.08986). Frequencies are aggregated over descendants, ``f_i = Σ_{j ∈ D(i)} n_j`` with
``n_j`` the number of training rows positive at j (labels ancestor-closed). Raw weights
``w_i = N / (K f_i)`` with K = number of nodes ("class-wise") or 2 ("binary"); a node never
positive (f = 0) or always on (f = N) gets 1. Then the affine ω rescaling of the released code,
``w' = ω + w_max (w - w_min) / (w_max - w_min)``, taken over all nodes, so w' ∈ [ω, ω + w_max].

This is the clean formula; the released code (DalhousieAI/Hierarchical_Multi-Label_Imb_Focal_Weighted_Loss,
``obtain_node_frequencies``) overwrites f in place while looping, which changes the root of FunCat
and ~200 GO nodes. If every raw weight is equal there is nothing to rescale and every weight is 1.
"""

from __future__ import annotations

from typing import get_args

import numpy as np
import torch

from ..choices import NegativeWeights, NodeWeightMode
from ..taxonomy import Taxonomy

__all__ = ["WEIGHT_MODES", "NEGATIVE_WEIGHTS", "node_counts", "aggregated_frequencies", "node_weights",
           "rescale_weights"]

WEIGHT_MODES: tuple[str, ...] = tuple(m for m in get_args(NodeWeightMode) if m != "none")
NEGATIVE_WEIGHTS: tuple[str, ...] = get_args(NegativeWeights)
_MODE_ALIASES = {"classwise": "class-wise", "class_wise": "class-wise"}


def node_counts(targets: torch.Tensor | np.ndarray,
                known: torch.Tensor | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """How often each node is positive, and how often it is known, in the training rows.

    Args:
        targets: Ancestor-closed targets [n, N] (positive where > 0.5).
        known: Optional bool [n, N]; unknown cells count neither as positive nor as known.

    Returns:
        (positives per node, known rows per node), float64 [N].

    Raises:
        ValueError: If targets are not two-dimensional.
    """
    y = np.asarray(targets.detach().cpu() if isinstance(targets, torch.Tensor) else targets, dtype=np.float64) > 0.5
    if y.ndim != 2:
        raise ValueError(f"targets must be [rows, nodes], got shape {y.shape}")
    if known is None:
        k = np.ones_like(y)
    else:
        k = np.asarray(known.detach().cpu() if isinstance(known, torch.Tensor) else known, dtype=bool)
    return (y & k).sum(0).astype(np.float64), k.sum(0).astype(np.float64)


def aggregated_frequencies(counts: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """Node frequencies aggregated over descendants, the rarity the weights invert.

    Args:
        counts: Per-node counts n_j [N].
        taxonomy: The hierarchy of the N nodes.

    Returns:
        f_i = Σ over i and its descendants of ``counts`` (each descendant once, also in DAGs).
    """
    counts = np.asarray(counts, dtype=np.float64)
    return np.array([counts[taxonomy.descendants(i)].sum() for i in range(len(taxonomy))])


def rescale_weights(raw: np.ndarray, omega: float) -> np.ndarray:
    """The released code's affine rescaling, which keeps every weight at least ω.

    Args:
        raw: Raw weights w [N].
        omega: The floor ω.

    Returns:
        ω + w_max·(w − w_min)/(w_max − w_min) over all nodes; all ones if the weights are equal.
    """
    w_min, w_max = raw.min(), raw.max()
    if np.isclose(w_max, w_min, rtol=0, atol=1e-12 * max(abs(w_max), 1.0)):
        return np.ones_like(raw)
    return omega + w_max * (raw - w_min) / (w_max - w_min)


def _raw_weights(freq: np.ndarray, rows: float, k: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        raw = rows / (k * freq)
    raw[(freq == 0) | (freq == rows)] = 1.0
    return raw


def node_weights(
    targets: torch.Tensor | np.ndarray,
    taxonomy: Taxonomy,
    mode: str = "class-wise",
    omega: float = 0.25,
    negative: str = "ones",
    known: torch.Tensor | np.ndarray | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rarity weights of each node, from the training targets actually used.

    Which targets each vector lands on is chosen by ``RareNodeLoss(weight_target=...)``.

    Args:
        targets: Ancestor-closed training targets [n, N].
        taxonomy: The hierarchy of the N nodes.
        mode: ``"class-wise"`` (K = N) or ``"binary"`` (K = 2); aliases ``classwise``, ``class_wise``.
        omega: The floor ω of :func:`rescale_weights`.
        negative: ``w_neg``: ``"ones"`` (what every released entry point uses), ``"inverse"`` (the
            same recipe on inverse frequencies Σ_{D(i)} (N − n_j)) or ``"common"`` (a copy of ``w_pos``).
        known: Optional bool [n, N] of known cells (partial labels).
        dtype: dtype of the returned tensors.

    Returns:
        (w_pos, w_neg), each [N].

    Raises:
        ValueError: On an unknown mode or negative recipe, targets of the wrong shape, or no rows.
    """
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in WEIGHT_MODES:
        raise ValueError(f"unknown node weight mode {mode!r}; choose one of {', '.join(WEIGHT_MODES)}")
    if negative not in NEGATIVE_WEIGHTS:
        raise ValueError(f"unknown negative weights {negative!r}; choose one of {', '.join(NEGATIVE_WEIGHTS)}")
    targets_np = np.asarray(targets.detach().cpu() if isinstance(targets, torch.Tensor) else targets)
    if targets_np.ndim != 2 or targets_np.shape[1] != len(taxonomy):
        raise ValueError(f"targets must be [rows, {len(taxonomy)}], got shape {targets_np.shape}")
    rows = float(targets_np.shape[0])
    if rows == 0:
        raise ValueError("node_weights needs at least one training row")
    k = float(len(taxonomy)) if mode == "class-wise" else 2.0
    positives, known_rows = node_counts(targets_np, known)
    w_pos = rescale_weights(_raw_weights(aggregated_frequencies(positives, taxonomy), rows, k), omega)
    if negative == "ones":
        w_neg = np.ones_like(w_pos)
    elif negative == "common":
        w_neg = w_pos.copy()
    else:
        inverse = aggregated_frequencies(known_rows - positives, taxonomy)
        w_neg = rescale_weights(_raw_weights(inverse, rows, k), omega)
    return torch.from_numpy(w_pos).to(dtype), torch.from_numpy(w_neg).to(dtype)
