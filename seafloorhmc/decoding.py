"""Turning per-level scores into predicted label paths, and scoring those decisions.

* ``independent`` (HCAL, Jiang et al. 2025, arXiv:2508.13452): each level takes its own argmax.
  Nothing ties the levels together, so a prediction can break the hierarchy; HVR measures how often.
* ``consistent``: the valid path (one per leaf, see :class:`~seafloorhmc.levels.TaxonomyLevels`)
  with the highest Σ_k log softmax_k — the most probable path if the levels were independent.
  Never violates the hierarchy.

:func:`evaluate_decodings` scores both with the usual metrics on the decided node sets (instead of
thresholded probabilities) plus level-wise ones: ``accuracy_by_level`` (top-1 per level on the
examples whose label reaches it), ``path_accuracy`` (every labelled level right) and
``hvr_levels`` (HCAL's hierarchy violation rate on the per-level choices; the node-set ``hvr`` can
miss a stop slot that jumps to another branch). The chosen decoding's numbers are unprefixed, the
other's carry its name as prefix (``consistent_f1``).
"""

from __future__ import annotations

import torch

from .levels import TaxonomyLevels
from .metrics.evaluate import evaluate
from .taxonomy import Taxonomy

__all__ = ["DECODINGS", "decode", "decode_independent", "decode_consistent", "level_metrics", "evaluate_decodings",
           "DECISION_KEYS"]

DECODINGS = ("independent", "consistent")
# metrics that depend on the decided node sets (the rest depend on the probabilities only)
DECISION_KEYS = (
    "bin_ap", "precision", "recall", "f1", "precision_present", "recall_present", "f1_present", "micro_precision",
    "micro_recall", "micro_f1", "precision_by_depth", "recall_by_depth", "f1_by_depth", "hvr", "hvr_edges",
    "h_precision", "h_recall", "h_f1", "rare_recall", "rare_f1", "hvr_levels", "accuracy_by_level", "path_accuracy",
)


def decode_independent(scores: torch.Tensor, levels: TaxonomyLevels) -> torch.Tensor:
    """HCAL's decoding: each level's argmax, whether or not the levels agree.

    Args:
        scores: Slot logits [B, S].
        levels: The levels the slots belong to.

    Returns:
        The argmax slot of each level, long [B, L].
    """
    return torch.stack([s.argmax(-1) for s in levels.split(scores)], dim=1)


def path_log_scores(scores: torch.Tensor, levels: TaxonomyLevels) -> torch.Tensor:
    """Score of every valid path: Σ over levels of the log-softmax score of the path's slot.

    Args:
        scores: Slot logits [B, S].
        levels: The levels the slots belong to.

    Returns:
        Tensor [B, P], one column per leaf path.
    """
    total = torch.zeros(scores.shape[0], levels.leaf_paths.shape[0], dtype=scores.dtype, device=scores.device)
    paths = levels.leaf_paths.to(scores.device)
    for k, s in enumerate(levels.split(scores)):
        total += torch.log_softmax(s, dim=-1)[:, paths[:, k]]
    return total


def decode_consistent(scores: torch.Tensor, levels: TaxonomyLevels) -> torch.Tensor:
    """The most probable valid path if the levels were independent; never breaks the hierarchy.

    Args:
        scores: Slot logits [B, S].
        levels: The levels the slots belong to.

    Returns:
        The slots of the best-scoring valid path, long [B, L].
    """
    best = path_log_scores(scores, levels).argmax(-1)
    return levels.leaf_paths.to(scores.device)[best]


def decode(scores: torch.Tensor, levels: TaxonomyLevels, decoding: str = "independent") -> torch.Tensor:
    """Per-level choices by the decoding a config names.

    Args:
        scores: Slot logits [B, S].
        levels: The levels the slots belong to.
        decoding: One of :data:`DECODINGS`.

    Returns:
        Slot choices long [B, L].

    Raises:
        ValueError: On an unknown decoding.
    """
    if decoding == "independent":
        return decode_independent(scores, levels)
    if decoding == "consistent":
        return decode_consistent(scores, levels)
    raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")


def level_metrics(choices: torch.Tensor, truth: torch.Tensor, levels: TaxonomyLevels) -> dict:
    """Per-level accuracy, full-path accuracy and the level-wise HVR.

    Args:
        choices: Chosen slot indices long [n, L].
        truth: True slot indices long [n, L]; −1 = level not labelled (left out).
        levels: The levels the slots belong to.

    Returns:
        ``hvr_levels``, ``accuracy_by_level`` (level name → accuracy) and ``path_accuracy`` (over
        examples with at least one labelled level); None where undefined.
    """
    labelled = truth >= 0
    correct = (choices == truth) & labelled
    accuracy = {}
    for k, name in enumerate(levels.level_names()):
        n = int(labelled[:, k].sum())
        accuracy[name] = float(correct[:, k].sum()) / n if n else None
    has_label = labelled.any(1)
    all_right = (correct | ~labelled).all(1) & has_label
    n_paths = int(has_label.sum())
    return {
        "hvr_levels": float(levels.violations(choices).float().mean()) if len(choices) else None,
        "accuracy_by_level": accuracy,
        "path_accuracy": float(all_right.sum()) / n_paths if n_paths else None,
    }


def evaluate_decodings(probs, targets, taxonomy: Taxonomy, level_choices: dict[str, torch.Tensor], known=None,
                       train_targets=None, main: str = "independent") -> dict:
    """:func:`seafloorhmc.metrics.evaluate` on each decoding's node sets, plus :func:`level_metrics`.

    Args:
        probs: Node probabilities [n, N] (from :meth:`TaxonomyLevels.node_probabilities`).
        targets: Ancestor-closed node targets [n, N].
        taxonomy: The tree of the N nodes.
        level_choices: Decoding name → its slot choices long [n, L].
        known: Optional bool [n, N]; unknown cells are left out of node-wise metrics.
        train_targets: Training targets, which decide the rare nodes.
        main: The decoding whose numbers are unprefixed; every other decoding adds its
            :data:`DECISION_KEYS` prefixed with its name.

    Returns:
        The metrics, with ``decoding`` naming the main one.

    Raises:
        ValueError: If ``main`` is not among ``level_choices``.
    """
    if main not in level_choices:
        raise ValueError(f"decoding {main!r} was not computed (have {', '.join(level_choices)})")
    levels = TaxonomyLevels(taxonomy)
    truth = levels.encode(torch.as_tensor(targets))
    out: dict = {}
    for name in [main] + [n for n in level_choices if n != main]:
        choices = torch.as_tensor(level_choices[name]).long()
        scores = evaluate(probs, targets, taxonomy, known=known, train_targets=train_targets,
                          predicted=levels.multi_hot(choices))
        scores.update(level_metrics(choices, truth, levels))
        if name == main:
            out = {**scores, "decoding": main}
        else:
            out.update({f"{name}_{key}": scores[key] for key in DECISION_KEYS if key in scores})
    return out
