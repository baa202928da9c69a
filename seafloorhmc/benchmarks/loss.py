"""Rare-node loss, forward + backward: seafloorhmc against the reference code's dense style.

The reference builds B×N×N broadcasts for h and h⁺ inside a Python loop over members (as the
released C-HMCNN / rare-node code does); both sides compute the same mean loss from the same
logits, class-wise node weights and BMA focal factor, and the script checks they agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..losses import RareNodeLoss, node_weights
from ..testing.reference import random_targets, random_taxonomy, reference_style_loss
from ..utils.benchmark import mib, peak_memory_bytes, time_interleaved

__all__ = ["DEFAULT_CASES", "SCALING_NODES", "REFERENCE_BYTES_LIMIT", "LossCase", "LossBench", "run_cases",
           "markdown_table"]

DEFAULT_CASES = ((13, 128, 20), (499, 128, 20), (4130, 4, 2))
SCALING_NODES = (125, 250, 499, 1000, 2000, 4130, 8000)
REFERENCE_BYTES_LIMIT = 3 * 2**30


@dataclass
class LossCase:
    """The measurements of one (nodes, batch, members) case.

    Attributes:
        nodes: Taxonomy nodes N.
        batch: Batch size B.
        members: Members M.
        fast_ms: seafloorhmc's forward + backward, median ms.
        reference_ms: The dense reference's, None when it was not run (too large).
        fast_peak_mb: seafloorhmc's peak memory in MiB.
        reference_peak_mb: The reference's peak memory in MiB.
        abs_diff: absolute loss difference between the two.
    """

    nodes: int
    batch: int
    members: int
    fast_ms: float
    reference_ms: float | None = None
    fast_peak_mb: float | None = None
    reference_peak_mb: float | None = None
    abs_diff: float | None = None

    @property
    def speedup(self) -> float | None:
        """Reference time / seafloorhmc time (None without a reference)."""
        return None if self.reference_ms is None else self.reference_ms / self.fast_ms


class LossBench:
    """The two loss implementations on one random tree, batch and set of member logits.

    Args:
        nodes: Taxonomy nodes N.
        batch: Batch size B.
        members: Members M.
        uncertainty: Focal uncertainty mode.
        seed: Seed of the tree, targets, weights and logits.
    """

    def __init__(self, nodes: int, batch: int, members: int, uncertainty: str = "bma", seed: int = 0):
        self.shape = (nodes, batch, members)
        self.tax = random_taxonomy(nodes, seed=seed)
        self.targets = random_targets(self.tax, batch, seed=seed + 1)
        self.w_pos, w_neg = node_weights(random_targets(self.tax, 4 * batch, seed=seed + 2), self.tax)
        self.logits = torch.randn(members, batch, nodes, generator=torch.Generator().manual_seed(seed),
                                  requires_grad=True)
        self.loss_fn = RareNodeLoss(self.tax, (self.w_pos, w_neg), uncertainty=uncertainty, focal_k=1.0,
                                    focal_min=0.25)
        self.uncertainty = uncertainty
        self.R = self.tax.descendant_matrix().float()

    def reference_fits(self) -> bool:
        """Whether the reference's B×N×N broadcasts fit the memory budget.

        Returns:
            True when they need at most ``REFERENCE_BYTES_LIMIT``.
        """
        nodes, batch, _ = self.shape
        return 8 * batch * nodes * nodes * 4 <= REFERENCE_BYTES_LIMIT

    def fast(self) -> None:
        """The seafloorhmc loss, forward + backward."""
        self.logits.grad = None
        self.loss_fn(self.logits, self.targets).backward()

    def reference(self) -> None:
        """The dense reference loss, forward + backward."""
        self.logits.grad = None
        reference_style_loss(self.logits, self.targets, self.tax, self.R, self.w_pos, self.uncertainty).backward()

    def abs_diff(self) -> float:
        """How far the two losses disagree, which should be rounding only.

        Returns:
            absolute value of seafloorhmc loss − reference loss.
        """
        with torch.no_grad():
            fast = self.loss_fn(self.logits, self.targets).item()
            ref = reference_style_loss(self.logits, self.targets, self.tax, self.R, self.w_pos, self.uncertainty).item()
        return abs(fast - ref)


def run_cases(shapes: Iterable[tuple[int, int, int]], uncertainty: str = "bma", rounds: int = 7,
              with_reference: bool = True) -> list[LossCase]:
    """Time every case first (interleaving fast and reference), then measure peak memory.

    Args:
        shapes: (nodes, batch, members) per case.
        uncertainty: Focal uncertainty mode.
        rounds: Timing rounds (3 for large cases without a reference).
        with_reference: Also run the reference where it fits.

    Returns:
        One measured case per shape.
    """
    benches = [LossBench(*shape, uncertainty=uncertainty) for shape in shapes]
    cases = []
    for bench in benches:
        ref = with_reference and bench.reference_fits()
        fns = {"fast": bench.fast, "reference": bench.reference} if ref else {"fast": bench.fast}
        times = time_interleaved(fns, rounds=rounds if ref or bench.shape[0] < 1000 else 3)
        cases.append(LossCase(*bench.shape, times["fast"] * 1e3, times["reference"] * 1e3 if ref else None,
                              abs_diff=bench.abs_diff() if ref else None))
    for bench, case in zip(benches, cases):
        case.fast_peak_mb = mib(peak_memory_bytes(bench.fast))
        if case.reference_ms is not None:
            case.reference_peak_mb = mib(peak_memory_bytes(bench.reference))
    return cases


def markdown_table(cases: list[LossCase]) -> str:
    """The cases as recorded in ``docs/benchmarks.md``.

    Args:
        cases: Measured cases.

    Returns:
        A Markdown table.
    """
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    lines = ["| N | B | M | seafloorhmc ms | dense reference ms | speed-up | seafloorhmc peak MiB | "
             "reference peak MiB | abs. loss diff |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in cases:
        speed = "–" if c.speedup is None else f"{c.speedup:.1f}×"
        lines.append(f"| {c.nodes} | {c.batch} | {c.members} | {c.fast_ms:.3f} | {fmt(c.reference_ms, '.2f')} "
                     f"| {speed} | "
                     f"{fmt(c.fast_peak_mb, '.1f')} | {fmt(c.reference_peak_mb, '.1f')} | {fmt(c.abs_diff, '.1e')} |")
    return "\n".join(lines)
