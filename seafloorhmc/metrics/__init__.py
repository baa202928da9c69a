"""Evaluation metrics for hierarchical multi-label predictions.

:func:`evaluate` returns one JSON-serialisable dict (the body of ``metrics.json``):

=========================================  ==================================================================
key                                        meaning
=========================================  ==================================================================
``au_prc``                                 micro AP over evaluated known cells (C-HMCNN's AU(PRC), "optimistic AP")
``bin_ap``                                 the same on ŷ = [p > threshold] (= R·P + (1−R)·π)
``precision``, ``recall``, ``f1``          macro over all evaluated nodes, 0/0 := 0 (Xu et al. 2026)
``*_present``                              the same over evaluated nodes with ≥ 1 positive test cell
``micro_precision|recall|f1``              pooled counts over evaluated known cells
``precision|recall|f1_by_depth``           {"depth": macro value}; ``n_nodes_by_depth`` counts the nodes
``rare_recall|f1``, ``rare_nodes``         over the bottom quartile of training counts (with ``train_targets``);
                                           ``rare_max_train_count`` is the count cutoff (ties included)
``hvr``, ``hvr_edges``                     hierarchy violation rate per example / per predicted non-root cell
``h_precision``, ``h_recall``, ``h_f1``    Kiritchenko micro hP/hR/hF (prediction closed under ancestors)
``ece``, ``reliability``                   15-bin ECE of cell probabilities and its per-bin table
``per_node``                               one dict per evaluated node: counts, P/R/F1, AP (None without positives)
``positive_rate``, ``n_*``, ``threshold``  π, sizes (examples, evaluated nodes and cells) and the threshold used
=========================================  ==================================================================

The building blocks are importable for other callers (experiments, plots).
"""

from .calibration import ece_from_table, reliability_table
from .evaluate import ECE_BINS, RARE_QUANTILE, evaluate
from .hierarchical import ancestor_closure, hierarchical_prf, violation_rates
from .nodewise import by_depth, confusion_counts, macro, micro_prf, prf, rare_nodes
from .ranking import binary_average_precision, micro_average_precision, per_node_average_precision

#: Metrics where a smaller value is better (epoch selection and sweep statistics rank them reversed).
LOWER_IS_BETTER = frozenset({"loss", "ece", "hvr", "hvr_edges", "brier"})

__all__ = ["LOWER_IS_BETTER",
    "evaluate", "ECE_BINS", "RARE_QUANTILE",
    "micro_average_precision", "binary_average_precision", "per_node_average_precision",
    "confusion_counts", "prf", "macro", "micro_prf", "by_depth", "rare_nodes",
    "violation_rates", "ancestor_closure", "hierarchical_prf",
    "reliability_table", "ece_from_table",
]
