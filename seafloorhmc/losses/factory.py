"""The loss a configuration asks for: each head names its loss, each loss builds itself from the config.

Losses register a ``from_config`` builder in :data:`LOSSES` in their own module
(:class:`~seafloorhmc.losses.rare_node.RareNodeLoss`, :class:`~seafloorhmc.losses.hcal.HCALLoss`);
:func:`build_loss` picks the one the configured head declares (``HEADS[head].loss``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from ..config import Config
from ..models.heads import HEADS
from ..registry import Registry
from ..taxonomy import Taxonomy

__all__ = ["LOSSES", "LossBuilder", "build_loss"]


class LossBuilder(Protocol):
    """``builder(config, taxonomy, train_targets, train_known, describe_row)`` → a loss module."""

    def __call__(self, config: Config, taxonomy: Taxonomy, train_targets: torch.Tensor,
                 train_known: torch.Tensor | None = None,
                 describe_row: Callable[[int], str] | None = None) -> nn.Module:
        """Build the loss.

        Args:
            config: The run configuration.
            taxonomy: The label hierarchy.
            train_targets: Ancestor-closed targets [n, N] of the training split proper.
            train_known: Optional known-cell mask [n, N] of those rows.
            describe_row: Names training row i in error messages.

        Returns:
            The loss module.
        """
        ...


LOSSES: Registry[LossBuilder] = Registry("loss")


def build_loss(config: Config, taxonomy: Taxonomy, train_targets: torch.Tensor,
               train_known: torch.Tensor | None = None,
               describe_row: Callable[[int], str] | None = None) -> nn.Module:
    """The loss of ``config.model.head``, built from the training rows actually used.

    Args:
        config: The run configuration (its ``loss`` section and ``model.head``).
        taxonomy: The label hierarchy.
        train_targets: Ancestor-closed targets [n, N] of the training split proper (node weights
            are computed from them; LPROS clones excluded).
        train_known: Optional known-cell mask [n, N] of those rows (partial labels).
        describe_row: Names training row i in error messages (e.g. its image path).

    Returns:
        The loss module, called as ``loss(member_logits, targets, known)``.
    """
    return LOSSES.get(HEADS.get(config.model.head).loss)(config, taxonomy, train_targets, train_known, describe_row)
