"""Dense, slow implementations written straight from the equations.

They exist to check the fast paths (tests, in float64) and to measure them (``scripts/bench_*.py``):
every function here materialises the B×N×N broadcast or loops over members and pairs the way the
C-HMCNN and rare-node reference code do. Never use them for training.
"""

from __future__ import annotations

import itertools

import torch

from ..taxonomy import Taxonomy

EPS = 1e-10


def dense_max_constraint(x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """max_j R[i, j]·x[..., j] via a [..., N, N] broadcast; -inf where R is 0 so logits work too."""
    expanded = x.unsqueeze(-2).expand(*x.shape[:-1], R.shape[0], R.shape[1])
    masked = torch.where(R.bool(), expanded, torch.full_like(expanded, float("-inf")))
    return masked.max(-1).values


def dense_mcloss(logits: torch.Tensor, targets: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Element-wise MCLoss of one member [B, N] from probabilities, as in C-HMCNN (no log clamp)."""
    p = torch.sigmoid(logits)
    h = (R.unsqueeze(0) * p.unsqueeze(1)).max(-1).values
    h_pos = (R.unsqueeze(0) * (targets * p).unsqueeze(1)).max(-1).values
    out = (1 - targets) * h + targets * h_pos
    return -(targets * torch.log(out) + (1 - targets) * torch.log(1 - out))


def _h2(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log2(p + EPS) + (1 - p) * torch.log2(1 - p + EPS))


def dense_uncertainty(probs: torch.Tensor, mode: str) -> torch.Tensor:
    """Uncertainty from member probabilities [M, B, N], explicit loops over members and pairs."""
    m = probs.shape[0]
    mean = sum(probs[h] for h in range(m)) / m
    if mode == "bma":
        return 1 - (torch.maximum(mean, 1 - mean) - torch.minimum(mean, 1 - mean))
    if mode == "predictive":
        return _h2(mean)
    if mode == "aleatoric":
        return sum(_h2(probs[h]) for h in range(m)) / m
    if mode in ("epistemic_js", "epistemic_kl"):
        if m == 1:
            return torch.zeros_like(mean)
        total = torch.zeros_like(mean)
        for g, h in itertools.permutations(range(m), 2):
            p, q = probs[g], probs[h]
            if mode == "epistemic_js":
                total = total + _h2((p + q) / 2) - (_h2(p) + _h2(q)) / 2
            else:
                kl = p * (torch.log2(p + EPS) - torch.log2(q + EPS)) + (1 - p) * (
                    torch.log2(1 - p + EPS) - torch.log2(1 - q + EPS))
                total = total + kl.clamp_min(0)
        return total / (m * (m - 1))
    if mode == "gmu":
        margin = torch.abs(2 * mean - 1)
        if m > 1:
            var = sum((probs[h] - mean) ** 2 for h in range(m)) / (m - 1)
            std = var.sqrt()
        else:
            std = torch.zeros_like(mean)
        gate = 1 - torch.exp(-margin / (2 * std + EPS))
        return 1 - gate * margin
    raise ValueError(mode)


def dense_node_weights(targets: torch.Tensor, R: torch.Tensor, mode: str, omega: float) -> torch.Tensor:
    """Rarity weights w_pos from the spec's equations with a dense descendant matrix."""
    rows, n = targets.shape
    counts = (targets > 0.5).to(torch.float64).sum(0)
    freq = R.to(torch.float64) @ counts
    k = n if mode == "class-wise" else 2
    raw = torch.empty(n, dtype=torch.float64)
    for i in range(n):
        raw[i] = 1.0 if freq[i] == 0 or freq[i] == rows else rows / (k * freq[i])
    w_min, w_max = raw.min(), raw.max()
    return omega + w_max * (raw - w_min) / (w_max - w_min)


def reference_style_loss(
    member_logits: torch.Tensor,
    targets: torch.Tensor,
    taxonomy: Taxonomy,
    R: torch.Tensor,
    w_pos: torch.Tensor | None,
    uncertainty: str | None = "bma",
    focal_k: float = 1.0,
    focal_min: float = 0.25,
    weight_target: str = "positive",
) -> torch.Tensor:
    """The whole rare-node loss in the reference code's style: a Python loop over members, each
    building B×N×N broadcasts for h and h⁺; mean over members, examples and evaluated nodes.
    """
    mask = taxonomy.eval_mask.to(member_logits.device)
    probs = torch.sigmoid(member_logits)
    scale = torch.ones_like(targets)
    if w_pos is not None:
        on_pos, on_neg = (w_pos, torch.ones_like(w_pos)) if weight_target == "positive" else (torch.ones_like(w_pos), w_pos)
        scale = targets * on_pos + (1 - targets) * on_neg
    if uncertainty is not None:
        scale = scale * (focal_min + dense_uncertainty(probs.detach(), uncertainty) ** focal_k)
    total = 0.0
    for h in range(member_logits.shape[0]):
        p = probs[h]
        constr = (R.unsqueeze(0) * p.unsqueeze(1)).max(-1).values
        constr_pos = (R.unsqueeze(0) * (targets * p).unsqueeze(1)).max(-1).values
        out = (1 - targets) * constr + targets * constr_pos
        bce = torch.nn.functional.binary_cross_entropy(out[:, mask], targets[:, mask], reduction="none")
        total = total + (scale[:, mask] * bce).sum()
    return total / (member_logits.shape[0] * targets.shape[0] * int(mask.sum()))


def random_taxonomy(n_nodes: int, seed: int = 0, dag: bool = False, extra_parent_prob: float = 0.3) -> Taxonomy:
    """A random tree (each node hangs under a uniformly drawn earlier node) or DAG (a second
    parent with probability ``extra_parent_prob``); node ids ``n0000``… in creation order.
    """
    gen = torch.Generator().manual_seed(seed)
    names = [f"n{i:04d}" for i in range(n_nodes)]
    edges = []
    for i in range(1, n_nodes):
        parent = int(torch.randint(0, i, (1,), generator=gen))
        edges.append((names[parent], names[i]))
        if dag and i > 1 and float(torch.rand(1, generator=gen)) < extra_parent_prob:
            other = int(torch.randint(0, i, (1,), generator=gen))
            if other != parent:
                edges.append((names[other], names[i]))
    return Taxonomy.from_edges(edges, nodes=names)


def random_targets(taxonomy: Taxonomy, batch: int, seed: int = 0, labels_per_row: int = 2) -> torch.Tensor:
    """Ancestor-closed targets [batch, N] from ``labels_per_row`` random nodes per row."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(batch):
        picks = torch.randint(0, len(taxonomy), (labels_per_row,), generator=gen).tolist()
        rows.append(taxonomy.encode(picks, complete=True)[0])
    return torch.stack(rows)
