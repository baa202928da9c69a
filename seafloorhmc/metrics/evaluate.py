"""``evaluate``: every number a run reports, as one JSON-serialisable dict (metrics.json)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..taxonomy import Taxonomy
from .calibration import ece_from_table, reliability_table
from .hierarchical import hierarchical_prf, violation_rates
from .inputs import check_binary, prepare
from .nodewise import by_depth, confusion_counts, macro, micro_prf, prf, rare_nodes
from .ranking import binary_average_precision, micro_average_precision, per_node_average_precision

__all__ = ["evaluate", "ECE_BINS", "RARE_QUANTILE"]

ECE_BINS = 15
RARE_QUANTILE = 0.25


def evaluate(probs, targets, taxonomy: Taxonomy, known=None, train_targets=None, threshold: float = 0.5,
             predicted=None) -> dict:
    """All test metrics of hierarchy-consistent probabilities against ancestor-closed targets.

    Args:
        probs: float [n, N], the mean of the constrained member probabilities.
        targets: {0, 1} [n, N], closed under ancestors.
        taxonomy: gives the evaluated nodes (``eval_mask``), depths and edges.
        known: optional bool [n, N]; unknown cells are left out of every label-based metric.
        train_targets: optional {0, 1} [m, N]; training counts define the rare nodes.
        threshold: ŷ = p > threshold (strict).
        predicted: optional {0, 1} [n, N], the predicted node sets when a head decides them itself
            (per-level argmax of the prototype head); replaces ŷ = p > threshold (``threshold`` is
            then unused; the decided sets are what ``bin_ap``, P/R/F1, hP/hR/hF and HVR score).

    Returns:
        A dict of plain floats, lists and dicts; keys are documented in the package docstring.
        Undefined values (AP without positives, averages over empty node sets) are None.

    Raises:
        ValueError: If an input has the wrong shape or values (the message names it), or the
            evaluation set is empty.
    """
    data = prepare(probs, targets, taxonomy, known, threshold)
    if predicted is not None:
        data.pred = check_binary(predicted, "predicted", data.p.shape)
    nodes = data.nodes
    y, p, pred, cells = data.y_eval, data.p_eval, data.pred_eval, data.cells_eval
    depths = np.asarray(taxonomy.depth)[nodes]

    tp, fp, fn = confusion_counts(pred, y, cells)
    precision, recall, f1 = prf(tp, fp, fn)
    support = y.sum(0)
    present = support > 0
    micro_p, micro_r, micro_f = micro_prf(tp, fp, fn)
    hp, hr, hf = hierarchical_prf(data.pred, data.y, data.cells, taxonomy)
    hvr, hvr_edges = violation_rates(data.pred, taxonomy)
    table = reliability_table(p[cells], y[cells], ECE_BINS)
    node_ap = per_node_average_precision(y, p, cells)

    out: dict[str, Any] = {
        "au_prc": micro_average_precision(y, p, cells),
        "bin_ap": binary_average_precision(y, pred, cells),
        "precision": macro(precision),
        "recall": macro(recall),
        "f1": macro(f1),
        "precision_present": macro(precision, present),
        "recall_present": macro(recall, present),
        "f1_present": macro(f1, present),
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": micro_f,
        "precision_by_depth": by_depth(precision, depths),
        "recall_by_depth": by_depth(recall, depths),
        "f1_by_depth": by_depth(f1, depths),
        "n_nodes_by_depth": {str(int(d)): int((depths == d).sum()) for d in np.unique(depths)},
        "hvr": hvr,
        "hvr_edges": hvr_edges,
        "h_precision": hp,
        "h_recall": hr,
        "h_f1": hf,
        "ece": ece_from_table(table),
        "reliability": table,
        "positive_rate": float(y.sum() / cells.sum()),
        "n_examples": int(data.p.shape[0]),
        "n_eval_nodes": int(len(nodes)),
        "n_eval_cells": int(cells.sum()),
        "threshold": data.threshold,
    }

    train_support = None
    if train_targets is not None:
        train = check_binary(train_targets, "train_targets")
        if train.ndim != 2 or train.shape[1] != len(taxonomy):
            raise ValueError(f"train_targets has shape {train.shape}, expected [m, {len(taxonomy)}]")
        train_support = train[:, nodes].sum(0)
        rare, cutoff = rare_nodes(train_support, RARE_QUANTILE)
        out.update({
            "rare_recall": macro(recall, rare) if rare.size else None,
            "rare_f1": macro(f1, rare) if rare.size else None,
            "rare_nodes": [taxonomy.nodes[i] for i in nodes[rare]],
            "rare_max_train_count": cutoff,
        })

    per_node = []
    for j, i in enumerate(nodes):
        row = {"node": taxonomy.nodes[i], "name": taxonomy.names[i], "depth": int(depths[j]),
               "support_test": int(support[j])}
        if train_support is not None:
            row["support_train"] = int(train_support[j])
        row.update({"tp": int(tp[j]), "fp": int(fp[j]), "fn": int(fn[j]),
                    "precision": float(precision[j]), "recall": float(recall[j]), "f1": float(f1[j]),
                    "ap": None if np.isnan(node_ap[j]) else float(node_ap[j])})
        per_node.append(row)
    out["per_node"] = per_node
    return out
