"""Weight schedules: move the node weights toward a uniform ω during training (paper baselines).

``W(t) = W0 + (ω - W0)·t`` with t from the schedule. The released code restarts the ramp every
epoch (``per="epoch"``: t runs over the batches of an epoch); ``per="run"`` ramps once over the
whole training run instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from ..choices import Schedule, SchedulePer

__all__ = ["WeightSchedule", "SCHEDULES"]

SCHEDULES: tuple[str, ...] = get_args(Schedule)
_ALIASES = {"lin": "linear", "exp": "exponential", "alt": "alternating"}


@dataclass(frozen=True)
class WeightSchedule:
    """How fast the node weights move toward ω, one of the rare-node paper's baselines.

    Attributes:
        kind: ``none``, ``linear``, ``exponential`` (t^k) or ``alternating`` (0, 1, 0, ...);
            aliases ``lin``, ``exp``, ``alt``.
        k: Exponent of the exponential schedule.
        per: ``"epoch"`` (restart every epoch, as the released code does) or ``"run"``.

    Raises:
        ValueError: On an unknown kind or ``per``.
    """

    kind: str = "none"
    k: float = 3.0
    per: str = "epoch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _ALIASES.get(self.kind, self.kind))
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown weight schedule {self.kind!r}; choose one of {', '.join(SCHEDULES)}")
        if self.per not in get_args(SchedulePer):
            raise ValueError(f"schedule 'per' must be 'epoch' or 'run', got {self.per!r}")

    def factor(self, step: int, total: int) -> float:
        """How far the weights have moved toward ω.

        Args:
            step: The current step (0-based).
            total: Number of steps in the ramp.

        Returns:
            Fraction t in [0, 1] of the way from the initial weights to ω.
        """
        if self.kind == "none":
            return 0.0
        if self.kind == "alternating":
            return float(step % 2)
        frac = step / (total - 1) if total > 1 else 0.0
        frac = min(max(frac, 0.0), 1.0)
        return frac if self.kind == "linear" else frac ** self.k
