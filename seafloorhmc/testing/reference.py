"""Dense, slow implementations written straight from the equations.

They exist to check the fast paths (tests, in float64) and to measure them (``scripts/bench_*.py``):
every function here materialises the B×N×N broadcast or loops over members and pairs the way the
C-HMCNN and rare-node reference code do. Never use them for training.
"""

from __future__ import annotations

import itertools

import torch

from ..taxonomy import Taxonomy

__all__ = ["EPS", "dense_max_constraint", "dense_mcloss", "dense_uncertainty", "dense_node_weights",
           "reference_style_loss", "random_taxonomy", "random_targets"]

EPS = 1e-10


def dense_max_constraint(x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """C-HMCNN's max-constraint written as its reference code computes it, to check the fast one.

    Args:
        x: Scores [..., N].
        R: Descendant matrix [N, N] (``Taxonomy.descendant_matrix()``).

    Returns:
        max_j R[i, j]·x[..., j] via a [..., N, N] broadcast; -inf where R is 0 so logits work too.
    """
    expanded = x.unsqueeze(-2).expand(*x.shape[:-1], R.shape[0], R.shape[1])
    masked = torch.where(R.bool(), expanded, torch.full_like(expanded, float("-inf")))
    return masked.max(-1).values


def dense_mcloss(logits: torch.Tensor, targets: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Element-wise MCLoss of one member from probabilities, as in C-HMCNN's code (no log clamp).

    Args:
        logits: Logits [B, N].
        targets: Ancestor-closed targets [B, N].
        R: Descendant matrix [N, N].

    Returns:
        The loss of each cell [B, N].
    """
    p = torch.sigmoid(logits)
    h = (R.unsqueeze(0) * p.unsqueeze(1)).max(-1).values
    h_pos = (R.unsqueeze(0) * (targets * p).unsqueeze(1)).max(-1).values
    out = (1 - targets) * h + targets * h_pos
    return -(targets * torch.log(out) + (1 - targets) * torch.log(1 - out))


def _h2(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log2(p + EPS) + (1 - p) * torch.log2(1 - p + EPS))


def dense_uncertainty(probs: torch.Tensor, mode: str) -> torch.Tensor:
    """Uncertainty from member probabilities, explicit loops over members and pairs.

    Args:
        probs: Member probabilities [M, B, N].
        mode: One of :data:`seafloorhmc.uncertainty.MODES` (no aliases).

    Returns:
        Uncertainty [B, N].

    Raises:
        ValueError: On an unknown mode.
    """
    m = probs.shape[0]
    mean = sum((probs[h] for h in range(m)), torch.zeros_like(probs[0])) / m
    if mode == "bma":
        return 1 - (torch.maximum(mean, 1 - mean) - torch.minimum(mean, 1 - mean))
    if mode == "predictive":
        return _h2(mean)
    if mode == "aleatoric":
        return sum((_h2(probs[h]) for h in range(m)), torch.zeros_like(probs[0])) / m
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
            var = sum(((probs[h] - mean) ** 2 for h in range(m)), torch.zeros_like(mean)) / (m - 1)
            std = var.sqrt()
        else:
            std = torch.zeros_like(mean)
        gate = 1 - torch.exp(-margin / (2 * std + EPS))
        return 1 - gate * margin
    raise ValueError(mode)


def dense_node_weights(targets: torch.Tensor, R: torch.Tensor, mode: str, omega: float) -> torch.Tensor:
    """Rarity weights w_pos from Xu et al. 2026's equations with a dense descendant matrix.

    Args:
        targets: Ancestor-closed targets [n, N].
        R: Descendant matrix [N, N].
        mode: ``"class-wise"`` or ``"binary"``.
        omega: The floor ω.

    Returns:
        w_pos float64 [N].
    """
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
    """The whole rare-node loss in the reference code's style, to check and time the fast loss.

    A Python loop over members, each building B×N×N broadcasts for h and h⁺; mean over members,
    examples and evaluated nodes.

    Args:
        member_logits: Member logits [M, B, N].
        targets: Ancestor-closed targets [B, N].
        taxonomy: The hierarchy (its ``eval_mask``).
        R: Descendant matrix [N, N].
        w_pos: Rarity weights [N], or None for none (negatives get weight 1).
        uncertainty: Focal uncertainty mode, or None for no focal factor.
        focal_k: Exponent of the focal factor.
        focal_min: Floor of the focal factor.
        weight_target: ``"positive"`` or ``"negative"``: the targets ``w_pos`` lands on.

    Returns:
        The scalar loss.
    """
    mask = taxonomy.eval_mask.to(member_logits.device)
    probs = torch.sigmoid(member_logits)
    scale = torch.ones_like(targets)
    if w_pos is not None:
        ones = torch.ones_like(w_pos)
        on_pos, on_neg = (w_pos, ones) if weight_target == "positive" else (ones, w_pos)
        scale = targets * on_pos + (1 - targets) * on_neg
    if uncertainty is not None:
        scale = scale * (focal_min + dense_uncertainty(probs.detach(), uncertainty) ** focal_k)
    total = member_logits.new_zeros(())
    for h in range(member_logits.shape[0]):
        p = probs[h]
        constr = (R.unsqueeze(0) * p.unsqueeze(1)).max(-1).values
        constr_pos = (R.unsqueeze(0) * (targets * p).unsqueeze(1)).max(-1).values
        out = (1 - targets) * constr + targets * constr_pos
        bce = torch.nn.functional.binary_cross_entropy(out[:, mask], targets[:, mask], reduction="none")
        total = total + (scale[:, mask] * bce).sum()
    return total / (member_logits.shape[0] * targets.shape[0] * int(mask.sum()))


def random_taxonomy(n_nodes: int, seed: int = 0, dag: bool = False, extra_parent_prob: float = 0.3) -> Taxonomy:
    """A random tree or DAG for tests and benchmarks.

    Args:
        n_nodes: Number of nodes; ids ``n0000``… in creation order.
        seed: Seed of the draw.
        dag: Give a node a second parent with probability ``extra_parent_prob``.
        extra_parent_prob: See ``dag``.

    Returns:
        The taxonomy: each node hangs under a uniformly drawn earlier node.
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
    """Random ancestor-closed targets for tests and benchmarks.

    Args:
        taxonomy: The hierarchy.
        batch: Number of rows.
        seed: Seed of the draw.
        labels_per_row: Random nodes labelled per row (repeats possible).

    Returns:
        Targets [batch, N].
    """
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(batch):
        picks = torch.randint(0, len(taxonomy), (labels_per_row,), generator=gen).tolist()
        rows.append(taxonomy.encode(picks, complete=True)[0])
    return torch.stack(rows)
