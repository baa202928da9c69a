"""Losses: MCLoss, node-wise imbalance weights, the uncertainty focal factor, schedules, HCAL, and the loss factory."""

from .factory import LOSSES, build_loss
from .focal import focal_factor
from .hcal import HCALLoss
from .mcloss import mcloss_elements, mcloss_logits, weighted_mcloss_sum
from .node_weights import (
    NEGATIVE_WEIGHTS,
    WEIGHT_MODES,
    aggregated_frequencies,
    node_counts,
    node_weights,
    rescale_weights,
)
from .rare_node import REDUCTIONS, WEIGHT_TARGETS, RareNodeLoss
from .schedules import SCHEDULES, WeightSchedule

__all__ = [
    "RareNodeLoss", "HCALLoss", "LOSSES", "build_loss", "WeightSchedule", "node_weights", "node_counts",
    "aggregated_frequencies", "rescale_weights", "focal_factor", "mcloss_elements", "mcloss_logits",
    "weighted_mcloss_sum", "WEIGHT_MODES", "NEGATIVE_WEIGHTS", "WEIGHT_TARGETS", "REDUCTIONS", "SCHEDULES",
]
