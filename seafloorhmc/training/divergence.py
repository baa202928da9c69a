"""One rule for divergence: what counts, where it is checked, and what the error says.

A run diverges when, in any step, the loss or the gradient norm is not finite, or when an epoch's
mean training loss ends far above the loss the untrained model started from (``EXPLOSION_FACTOR``
times; the loss of the first step, before any update, is the reference). Non-finite predictions
on the validation split are the same failure seen from the other side (evaluation raises
:class:`~seafloorhmc.errors.DivergenceError` itself). Every case stops the run with a
:class:`~seafloorhmc.errors.DivergenceError` naming the epoch and step, counted from 1, the batch's
images and the likely causes; the epoch that diverged is not saved, so the last checkpoint is a
sound one.

Why an explosion factor of 10 against the first step: at initialisation every loss here sits near
its chance level (binary cross-entropy ≈ 0.69 per cell, cross-entropy ≈ log K), and training only
lowers it; node weights and focal factors are bounded (spec §3), so a well-behaved run never ends
an epoch at ten times its starting loss, while a learning rate far too high (``train.lr=1e4`` on
the tiny test problems) sits 30-50 times above it from the first epoch on and never recovers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from ..errors import DIVERGENCE_CAUSES, DivergenceError

__all__ = ["DivergenceError", "NonFiniteLossError", "DivergenceGuard", "EXPLOSION_FACTOR", "gradient_norm"]

EXPLOSION_FACTOR = 10.0
_REFERENCE_FLOOR = 1e-3  # a starting loss of ~0 (a perfectly fitted start) still leaves a margin


class NonFiniteLossError(DivergenceError):
    """The loss or its gradient became NaN or infinite; the message says where."""


def gradient_norm(parameters: Iterable[torch.nn.Parameter], max_norm: float | None = None) -> torch.Tensor:
    """The total L2 norm of the gradients (clipped to ``max_norm`` when given), as a 0-d tensor, no sync.

    Args:
        parameters: The trained parameters.
        max_norm: Clip the gradients to this total norm (``train.grad_clip``); None: measure only.

    Returns:
        The norm before clipping (0 when no parameter has a gradient).
    """
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return torch.zeros(())
    if max_norm:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    return torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])


class DivergenceGuard:
    """Checks every step's loss and gradient and every epoch's mean loss (module docstring).

    Args:
        factor: How far above the starting loss an epoch's mean loss counts as an explosion.
    """

    def __init__(self, factor: float = EXPLOSION_FACTOR) -> None:
        self.factor = float(factor)
        self.reference: float | None = None

    def check_step(self, loss: torch.Tensor, grad_norm: torch.Tensor, epoch: int, step: int,
                   describe_batch: Callable[[], str]) -> float:
        """Raise if the step's loss or gradient norm is not finite; otherwise return the loss value.

        One host sync for both numbers (the loop needs the loss value anyway).

        Args:
            loss: The step's loss (0-d).
            grad_norm: The total gradient norm (0-d, :func:`gradient_norm`).
            epoch: The epoch, counted from 1.
            step: The step within the epoch, counted from 1.
            describe_batch: Names the batch's images (called only on failure).

        Returns:
            The loss as a float.

        Raises:
            NonFiniteLossError: Naming the epoch, step, batch and likely causes.
        """
        value, norm = torch.stack([loss.detach().float(), grad_norm.detach().float().to(loss.device)]).tolist()
        if not math.isfinite(value):
            what = f"non-finite loss ({value})"
        elif not math.isfinite(norm):
            what = f"non-finite gradient (its norm overflowed to {norm}) with a finite loss ({value:.4g})"
        else:
            if self.reference is None:
                self.reference = value  # the untrained model's loss: the first step comes before any update
            return value
        raise NonFiniteLossError(f"{what} at epoch {epoch}, step {step}; batch {describe_batch()} — "
                                 f"{DIVERGENCE_CAUSES}")

    def check_epoch(self, epoch: int, mean_loss: float) -> None:
        """Raise if an epoch's mean training loss exploded far above the starting loss.

        Args:
            epoch: The epoch, counted from 1.
            mean_loss: Its mean training loss.

        Raises:
            DivergenceError: Naming the epoch, both losses and the likely causes.
        """
        if self.reference is None or not math.isfinite(mean_loss):
            return
        limit = self.reference + (self.factor - 1.0) * max(abs(self.reference), _REFERENCE_FLOOR)
        if mean_loss > limit:
            raise DivergenceError(
                f"training diverged at epoch {epoch}: mean training loss {mean_loss:.4g} is more than "
                f"{self.factor:g}× the starting loss {self.reference:.4g}; {DIVERGENCE_CAUSES}")

    def state_dict(self) -> dict:
        """What a checkpoint keeps so that a resumed run judges against the same start.

        Returns:
            ``{"reference": float or None}``.
        """
        return {"reference": self.reference}

    def load_state_dict(self, state: dict | None) -> None:
        """Restore :meth:`state_dict` (a checkpoint without one leaves the reference unset).

        Args:
            state: What :meth:`state_dict` returned, or None.
        """
        self.reference = (state or {}).get("reference")
