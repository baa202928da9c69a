"""Heads that turn features into member logits [M, B, N].

``EnsembleMLPHead`` is M independent C-HMCNN MLPs (linear → ReLU → dropout, repeated, then a
linear output) whose layers run as batched matrix products: one GEMM for the shared input layer
and one ``baddbmm`` per further layer, never a Python loop over members.

``MCDropoutHead`` is one such MLP sampled M times: the first layer runs once, then M dropout masks
are drawn and the remaining layers run on all M samples in one batched pass. At inference it keeps
sampling (``mc_inference``), while everything outside the head stays in eval mode.

Heads register in :data:`HEADS` under the names ``model.head`` takes, with a builder from the model
config and the name of the loss that trains them (:mod:`seafloorhmc.losses.factory`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry
from ..taxonomy import Taxonomy

if TYPE_CHECKING:
    from ..config import ModelConfig

__all__ = ["HEADS", "HeadSpec", "EnsembleMLPHead", "MCDropoutHead", "head_dropout"]


@dataclass(frozen=True)
class HeadSpec:
    """A registered head.

    Attributes:
        build: ``build(model_config, in_features, taxonomy)`` → the head module.
        loss: Name of the loss in :data:`seafloorhmc.losses.factory.LOSSES` that trains it.
        summary: One line for the docs.
    """

    build: Callable[[ModelConfig, int, Taxonomy], nn.Module]
    loss: str
    summary: str = ""


HEADS: Registry[HeadSpec] = Registry("head")


def head_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout for the head's hidden activations; on CPU a ``rand_like`` mask instead of ``bernoulli_``.

    On CPU ``F.dropout`` draws its mask with ``bernoulli_``, about 3.5× slower than ``rand_like``:
    with 20 members × 2 hidden layers at width 512 that was a fifth of the head's training cost
    (``scripts/bench_train.py``). Same distribution (keep with probability 1 − p, scale 1/(1 − p));
    other devices keep the fused ``F.dropout``.

    Args:
        x: Activations.
        p: Drop probability.
        training: Whether to drop (False returns ``x`` unchanged).

    Returns:
        The activations with dropout applied.
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, True)
    keep = torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))
    return x * keep


def _init_linear_(weight: torch.Tensor, bias: torch.Tensor, fan_in: int) -> None:
    """nn.Linear's default initialisation, applied member by member."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    nn.init.uniform_(weight, -bound, bound)  # kaiming_uniform(a=√5) reduces to U(±1/√fan_in)
    nn.init.uniform_(bias, -bound, bound)


class _BatchedMLP(nn.Module):
    """Per-member weights for every layer, laid out for batched products.

    The input layer is shared by all members, so its weight is stored [d_in, M, d_out] and runs as
    one GEMM over [d_in, M·d_out] (a view, no copy); later layers are [M, d_in, d_out] for
    ``baddbmm``. With one member every layer is a plain ``addmm``.
    """

    def __init__(self, in_features: int, out_features: int, members: int, hidden: int, layers: int) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a head needs at least one layer, got {layers}")
        dims = [in_features] + [hidden] * (layers - 1) + [out_features]
        self.members = members
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            weight = torch.empty(members, d_in, d_out)
            bias = torch.empty(members, 1, d_out)
            for m in range(members):
                _init_linear_(weight[m], bias[m], d_in)
            if i == 0:
                weight = weight.permute(1, 0, 2).contiguous()
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias))

    def member_weight(self, layer: int, member: int) -> torch.Tensor:
        """[d_in, d_out] weight of one member's layer (for inspection and tests)."""
        w = self.weights[layer]
        return w[:, member] if layer == 0 else w[member]

    def first_layer(self, features: torch.Tensor) -> torch.Tensor:
        """[B, D] shared input → [M, B, H] with a single GEMM."""
        w, b = self.weights[0], self.biases[0]
        d_in, m, d_out = w.shape
        if m == 1:  # views, not indexing: a select's backward would zero-fill a full-size gradient
            return torch.addmm(b.view(d_out), features, w.view(d_in, d_out)).unsqueeze(0)
        out = features @ w.view(d_in, m * d_out)
        return out.view(-1, m, d_out).transpose(0, 1) + b

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """[M', B, d_in] → [M', B, d_out] for layer i ≥ 1; one set of weights serves any M'."""
        w, b = self.weights[i], self.biases[i]
        if w.shape[0] == 1:
            flat = torch.addmm(b.view(w.shape[2]), x.reshape(-1, x.shape[-1]), w.view(w.shape[1], w.shape[2]))
            return flat.view(x.shape[0], x.shape[1], -1)
        return torch.baddbmm(b, x, w)

    @property
    def num_layers(self) -> int:
        """Number of linear layers."""
        return len(self.weights)


class EnsembleMLPHead(nn.Module):
    """M independent C-HMCNN MLPs run as batched products: features [B, D] → member logits [M, B, N].

    Args:
        in_features: Width D of the features.
        num_nodes: Number of taxonomy nodes N.
        members: Number of ensemble members M.
        hidden: Width of the hidden layers (D when None).
        layers: Number of linear layers (≥ 1).
        dropout: Dropout after each hidden ReLU.

    Raises:
        ValueError: If ``layers`` < 1.
    """

    def __init__(self, in_features: int, num_nodes: int, members: int = 1, hidden: int | None = None,
                 layers: int = 3, dropout: float = 0.7) -> None:
        super().__init__()
        self.members = members
        self.dropout = dropout
        self.mlp = _BatchedMLP(in_features, num_nodes, members, hidden or in_features, layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Member logits of a batch.

        Args:
            features: Features [B, D].

        Returns:
            Unconstrained member logits [M, B, N].
        """
        x = self.mlp.first_layer(features)
        for i in range(1, self.mlp.num_layers):
            x = head_dropout(F.relu(x), self.dropout, self.training)
            x = self.mlp.layer(i, x)
        return x


class MCDropoutHead(nn.Module):
    """One C-HMCNN MLP sampled M times with MC dropout: features [B, D] → sample logits [M, B, N].

    Args:
        in_features: Width D of the features.
        num_nodes: Number of taxonomy nodes N.
        samples: Number of dropout samples M.
        hidden: Width of the hidden layers (D when None).
        layers: Number of linear layers (≥ 1).
        dropout: Dropout after each hidden ReLU (> 0).
        mc_inference: Keep sampling at inference (else one deterministic pass, [1, B, N]).

    Raises:
        ValueError: If ``dropout`` is not positive or ``layers`` < 1.
    """

    def __init__(self, in_features: int, num_nodes: int, samples: int = 20, hidden: int | None = None,
                 layers: int = 3, dropout: float = 0.7, mc_inference: bool = True) -> None:
        super().__init__()
        if dropout <= 0:
            raise ValueError("an MC-dropout head needs dropout > 0")
        self.members = samples
        self.dropout = dropout
        self.mc_inference = mc_inference
        self.mlp = _BatchedMLP(in_features, num_nodes, 1, hidden or in_features, layers)

    @property
    def sampling(self) -> bool:
        """Whether forward passes draw M dropout samples (training, or ``mc_inference``)."""
        return self.training or self.mc_inference

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Sample logits of a batch.

        Args:
            features: Features [B, D].

        Returns:
            Unconstrained logits [M, B, N] while sampling, else [1, B, N].
        """
        x = self.mlp.first_layer(features)  # [1, B, H], computed once
        if self.mlp.num_layers == 1:
            return x.expand(self.members, -1, -1) if self.sampling else x
        if self.sampling:
            x = x.expand(self.members, -1, -1)
        for i in range(1, self.mlp.num_layers):
            x = head_dropout(F.relu(x), self.dropout, self.sampling)
            x = self.mlp.layer(i, x)
        return x


def build_mlp_head(cfg: ModelConfig, in_features: int, taxonomy: Taxonomy) -> nn.Module:
    """The C-HMCNN MLP head: a batched ensemble of ``members`` MLPs, or MC-dropout samples of one.

    Args:
        cfg: The model config (``members``, ``member_type``, ``hidden``, ``head_layers``, ``dropout``).
        in_features: Width of the features the head sees.
        taxonomy: The label hierarchy (one output per node).

    Returns:
        An :class:`EnsembleMLPHead` or :class:`MCDropoutHead`.
    """
    if cfg.member_type == "mc_dropout":
        return MCDropoutHead(in_features, len(taxonomy), samples=cfg.members, hidden=cfg.hidden,
                             layers=cfg.head_layers, dropout=cfg.dropout)
    return EnsembleMLPHead(in_features, len(taxonomy), members=cfg.members, hidden=cfg.hidden,
                           layers=cfg.head_layers, dropout=cfg.dropout)


HEADS.register("mlp", HeadSpec(build_mlp_head, loss="rare_node",
                               summary="C-HMCNN MLP members (batched ensemble or MC-dropout) + max-constraint"))
