r"""Per-node uncertainty from the probabilities of M ensemble members (or MC-dropout samples).

All modes follow the released code of Xu et al. 2026, "Improving Detection of Rare Nodes in
Hierarchical Multi-Label Learning" (DalhousieAI/Hierarchical_Multi-Label_Imb_Focal_Weighted_Loss):
binary, per node, logs base 2, ``EPS = 1e-10`` inside logs, computed without gradient:

=============  ==========================================================  ==========
mode           u                                                           range
=============  ==========================================================  ==========
bma            1 - \|2 p̄ - 1\|  (binary Bayesian-model-average margin)     [0, 1]
predictive     H2(p̄)                                                       [0, 1]
aleatoric      mean_h H2(p_h)                                              [0, 1]
epistemic_js   mean over ordered pairs g != h of JS(p_g, p_h)              [0, 1]
epistemic_kl   mean over ordered pairs g != h of max(KL(p_g || p_h), 0)    [0, inf)
gmu            1 - γ m,  m = \|2 p̄ - 1\|,  γ = 1 - exp(-m / (2 s + EPS))   [0, 1]
=============  ==========================================================  ==========

p̄ is the member mean and s the member standard deviation (Bessel-corrected). Degenerate cases:
with one member the epistemic modes are 0 (no disagreement to measure) and ``gmu`` equals ``bma``
(s = 0 makes the gate γ = 1), unlike the reference code, which returns 1 - p there.
"""

from __future__ import annotations

from typing import get_args

import torch

from .choices import UNCERTAINTY_ALIASES, UncertaintyMode

__all__ = ["MODES", "EPS", "node_uncertainty", "binary_entropy"]

EPS = 1e-10
MODES: tuple[str, ...] = get_args(UncertaintyMode)
ALIASES = UNCERTAINTY_ALIASES


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """H2(p) in bits, with EPS inside the logs (as the reference code computes it).

    Args:
        p: Bernoulli probabilities, any shape.

    Returns:
        The entropies, shaped like p.
    """
    return -(p * torch.log2(p + EPS) + (1 - p) * torch.log2(1 - p + EPS))


def _pairwise_js(probs: torch.Tensor) -> torch.Tensor:
    """Mean Bernoulli JS divergence over ordered member pairs; memory O(M·B·N)."""
    m = probs.shape[0]
    entropies = binary_entropy(probs)
    total = torch.zeros_like(probs[0])
    for g in range(m - 1):
        mix = 0.5 * (probs[g] + probs[g + 1:])
        js = binary_entropy(mix) - 0.5 * (entropies[g] + entropies[g + 1:])
        total += js.sum(0)
    return 2 * total / (m * (m - 1))


def _pairwise_kl(probs: torch.Tensor) -> torch.Tensor:
    """Mean clamped Bernoulli KL over ordered member pairs."""
    m = probs.shape[0]
    log_p, log_q = torch.log2(probs + EPS), torch.log2(1 - probs + EPS)
    total = torch.zeros_like(probs[0])
    for g in range(m):
        kl = probs[g] * (log_p[g] - log_p) + (1 - probs[g]) * (log_q[g] - log_q)
        total += kl.clamp_min(0).sum(0)
    return total / (m * (m - 1))


def node_uncertainty(member_probs: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-node uncertainty of an ensemble's (or MC-dropout samples') predictions, the focal factor's input.

    Args:
        member_probs: Member probabilities [M, B, N] (or [M, ..., N]).
        mode: One of :data:`MODES` (see the module table), or an alias: ``mean`` (bma), ``pcs``
            (gmu), ``epistemic`` (epistemic_js).

    Returns:
        Uncertainty [B, N] (or [..., N]), without gradient.

    Raises:
        ValueError: On an unknown mode or no members.
    """
    mode = ALIASES.get(mode, mode)
    if mode not in MODES:
        raise ValueError(f"unknown uncertainty mode {mode!r}; choose one of {', '.join(MODES)}")
    with torch.no_grad():
        probs = member_probs.detach()
        m = probs.shape[0]
        if m == 0:
            raise ValueError("node_uncertainty needs at least one member")
        mean = probs.mean(0)
        if mode == "bma":
            return 1 - (2 * mean - 1).abs()
        if mode == "predictive":
            return binary_entropy(mean)
        if mode == "aleatoric":
            return binary_entropy(probs).mean(0)
        if mode in ("epistemic_js", "epistemic_kl"):
            if m == 1:
                return torch.zeros_like(mean)
            return _pairwise_js(probs) if mode == "epistemic_js" else _pairwise_kl(probs)
        margin = (2 * mean - 1).abs()
        spread = probs.std(0, unbiased=True) if m > 1 else torch.zeros_like(mean)
        gate = 1 - torch.exp(-margin / (2 * spread + EPS))
        return 1 - gate * margin
