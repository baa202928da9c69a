"""Cost of a training step: bare encoder vs encoder + ensemble/MC-dropout head + rare-node loss.

All timings come from one process, interleaved round by round (``utils.benchmark``):

* ``encoder``: the bare timm encoder's forward + backward (``features.sum().backward()``);
* ``fwd+bwd, M members``: encoder → head → rare-node loss → backward;
* ``step, M members``: the same plus the optimiser step, i.e. a full training step.

Several head widths (``hidden``) can be measured in the same process; the one-member row of the
same width is the reference for "step vs 1 member".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import torch

from ..config import ModelConfig, TrainConfig
from ..data.synthetic.hierarchy import synthetic_taxonomy
from ..losses import RareNodeLoss, node_weights
from ..models import build_model
from ..testing.reference import random_targets
from ..training.optim import build_optimizer
from ..utils.benchmark import mib, peak_memory_bytes, time_interleaved

__all__ = ["StepTimes", "run", "markdown"]


@dataclass
class StepTimes:
    """The timings of one benchmark run.

    Attributes:
        encoder_ms: The bare encoder's forward + backward, median ms.
        rows: One dict per (member type, members, hidden): ``head_params``, ``fwd_bwd_ms``,
            ``step_ms``, ``step_peak_mib``.
        encoder_peak_mib: The bare encoder's peak memory in MiB.
    """

    encoder_ms: float
    rows: list[dict]
    encoder_peak_mib: float | None = None


def run(encoder: str = "resnet18", size: int = 64, batch: int = 32, members=(1, 20),
        member_types=("ensemble", "mc_dropout"), hidden: int | Sequence[int | None] | None = None, rounds: int = 7,
        device: str = "cpu") -> StepTimes:
    """Time the bare encoder and every (width, head type, members) combination, interleaved.

    Args:
        encoder: timm model name.
        size: Input size in pixels.
        batch: Batch size.
        members: Member counts to measure.
        member_types: ``"ensemble"`` and/or ``"mc_dropout"``.
        hidden: One head width, several, or None for the encoder's feature width (the paper's
            d → d → d).
        rounds: Timing rounds.
        device: Torch device.

    Returns:
        The timings.
    """
    torch.manual_seed(0)
    tax = synthetic_taxonomy()
    targets = random_targets(tax, batch, seed=1).to(device)
    weights = node_weights(random_targets(tax, 8 * batch, seed=2), tax)
    x = torch.randn(batch, 3, size, size, device=device)
    fns, setups = {}, {}
    bare = build_model(ModelConfig(encoder=encoder, members=1), tax)[0].encoder.to(device).train()

    def encoder_fb():
        bare.zero_grad(set_to_none=True)
        bare(x).sum().backward()

    fns["encoder"] = encoder_fb
    widths = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden]
    for width, member_type, m in product(widths, member_types, members):
        if member_type == "mc_dropout" and m == 1 and 1 in members and "ensemble" in member_types:
            continue  # one MC sample is the same network as a one-member ensemble
        cfg = ModelConfig(encoder=encoder, members=m, member_type=member_type, hidden=width)
        model, _ = build_model(cfg, tax)
        width = width or model.encoder.num_features
        model = model.to(device).train()
        loss_fn = RareNodeLoss(tax, weights, uncertainty="bma").to(device)
        opt = build_optimizer(model, TrainConfig(optimizer="adamw", lr=1e-4))  # as the engine does (fused)

        def fwd_bwd(model=model, loss_fn=loss_fn):
            model.zero_grad(set_to_none=True)
            loss_fn(model(x), targets).backward()

        def step(fwd_bwd=fwd_bwd, opt=opt):
            fwd_bwd()
            opt.step()

        key = f"{member_type}-{m}-h{width}"
        fns[f"fb:{key}"] = fwd_bwd
        fns[f"step:{key}"] = step
        setups[key] = (member_type, m, width, sum(p.numel() for p in model.head.parameters()))
    times = time_interleaved(fns, rounds=rounds, min_seconds=1.0)
    # memory after timing (see peak_memory_bytes); on CUDA the allocator's own high-water mark
    peaks = {name: peak_memory_bytes(fns[name], device) for name in ["encoder", *(f"step:{k}" for k in setups)]}
    rows = []
    for key, (member_type, m, width, head_params) in setups.items():
        rows.append({"member_type": member_type, "members": m, "hidden": width, "head_params": head_params,
                     "fwd_bwd_ms": times[f"fb:{key}"] * 1e3, "step_ms": times[f"step:{key}"] * 1e3,
                     "step_peak_mib": mib(peaks[f"step:{key}"])})
    return StepTimes(times["encoder"] * 1e3, rows, mib(peaks["encoder"]))


def markdown(result: StepTimes, encoder: str, size: int, batch: int) -> str:
    """The timings as recorded in ``docs/benchmarks.md``.

    Args:
        result: The output of :func:`run`.
        encoder: timm model name (for the heading).
        size: Input size (for the heading).
        batch: Batch size (for the heading).

    Returns:
        A heading line and a Markdown table.
    """
    one = {r["hidden"]: r for r in result.rows if r["members"] == 1 and r["member_type"] == "ensemble"}
    lines = [f"Bare {encoder} forward+backward at {size} px, batch {batch}: {result.encoder_ms:.1f} ms, "
             f"peak {_fmt_mib(result.encoder_peak_mib)} MiB",
             "",
             "| head | members | hidden | head params | fwd+bwd ms | head + loss overhead vs bare encoder "
             "| full step ms | step vs 1 member | step peak MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result.rows:
        overhead = r["fwd_bwd_ms"] / result.encoder_ms - 1
        ref = one.get(r["hidden"])
        ratio = r["step_ms"] / ref["step_ms"] if ref else float("nan")
        lines.append(f"| {r['member_type']} | {r['members']} | {r['hidden']} | {r['head_params']:,} | "
                     f"{r['fwd_bwd_ms']:.1f} | "
                     f"{overhead * 100:+.1f}% | {r['step_ms']:.1f} | {ratio:.2f}× | {_fmt_mib(r['step_peak_mib'])} |")
    return "\n".join(lines)


def _fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"
