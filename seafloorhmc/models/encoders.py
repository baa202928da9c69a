"""Image encoders from timm: local pretrained weights, frozen or deliberately weakened.

Nothing is ever downloaded. Pretrained weights come from a local file (safetensors, or a
``torch.load(weights_only=True)`` checkpoint, possibly wrapped in ``state_dict``/``model`` and
with ``module.`` prefixes). Loading is strict about the trunk: missing, unexpected or mis-shaped
keys are an error naming them, so a checkpoint for another architecture cannot load silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import timm
import torch
from timm.models import load_state_dict as timm_load_state_dict
from torch import nn

from ..utils.safe_load import load_error_reason

__all__ = ["EncoderError", "Encoder", "build_encoder", "load_encoder_weights", "mix_with_random_init"]

_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "encoder.", "backbone.", "model.")


class EncoderError(ValueError):
    """An encoder that cannot be built or a weights file that does not fit it."""


@dataclass
class Encoder:
    """A feature extractor and what the rest of the pipeline needs to know about it.

    Attributes:
        module: The timm model without classifier: images → pooled features.
        num_features: Width of the features.
        name: The timm model name.
    """

    module: nn.Module
    num_features: int
    name: str


def _strip_prefixes(state: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes while that makes more keys match the model.

    Wrappers: DDP ``module.``, compile ``_orig_mod.``, SSL ``encoder.`` ...
    """
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                stripped = {k[len(prefix):]: v for k, v in state.items()}
                if len(model_keys & stripped.keys()) >= len(model_keys & state.keys()):
                    state, changed = stripped, True
    return state


def load_encoder_weights(model: nn.Module, path: str | Path) -> int:
    """Load local pretrained trunk weights strictly, so a file for another architecture cannot load silently.

    Args:
        model: The timm model (classifier removed).
        path: A safetensors file or a ``weights_only`` torch checkpoint (possibly wrapped in
            ``state_dict``/``model``, with wrapper prefixes); classifier weights are ignored.

    Returns:
        How many tensors were loaded.

    Raises:
        EncoderError: If the file is missing or unreadable, or keys or shapes do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise EncoderError(f"encoder weights file {path} does not exist")
    try:
        state = timm_load_state_dict(str(path), use_ema=False, weights_only=True)
    except Exception as err:  # noqa: BLE001 - report any unreadable or unsafe file the same way
        raise EncoderError(f"cannot read encoder weights {path}: {load_error_reason(err)}") from None
    model_state = model.state_dict()
    state = _strip_prefixes(dict(state), set(model_state))
    pretrained_cfg = getattr(model, "pretrained_cfg", None)
    classifier = pretrained_cfg.get("classifier") if pretrained_cfg is not None else None
    classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier or ())
    state = {k: v for k, v in state.items() if not any(k.startswith(c + ".") for c in classifiers)}
    missing = [k for k in model_state if k not in state]
    unexpected = [k for k in state if k not in model_state]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise EncoderError(f"weights {path} do not fit encoder {type(model).__name__}: " + "; ".join(parts))
    for key, value in state.items():
        if value.shape != model_state[key].shape:
            raise EncoderError(f"weights {path}: tensor {key!r} has shape {tuple(value.shape)}, "
                               f"the encoder expects {tuple(model_state[key].shape)}")
    model.load_state_dict(state, strict=True)
    return len(state)


def mix_with_random_init(model: nn.Module, name: str, alpha: float, seed: int, **create_kwargs) -> None:
    """Weaken a pretrained encoder: θ ← (1 − α)·θ + α·θ_random for every floating tensor.

    The "weak encoder" noise factor of Xu et al. 2026's released code (``mix_enc_weights``); integer
    buffers are unchanged.

    Args:
        model: The encoder, changed in place.
        name: Its timm model name.
        alpha: Weight α of the random initialisation (0 leaves the model unchanged).
        seed: Seed of θ_random, a fresh initialisation of the same architecture.
        **create_kwargs: Passed to ``timm.create_model`` (as when ``model`` was built).
    """
    if alpha == 0.0:
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = timm.create_model(name, pretrained=False, **create_kwargs).state_dict()
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                value.mul_(1 - alpha).add_(fresh[key].to(value.dtype), alpha=alpha)


def build_encoder(name: str, weights: str | Path | None = None, freeze: bool = False, noise_alpha: float = 0.0,
                  noise_seed: int = 0, drop_rate: float = 0.0) -> Encoder:
    """A timm model with its classifier removed (``num_classes=0``): images → pooled features.

    Nothing is downloaded: pretrained weights come only from ``weights``.

    Args:
        name: A timm model name.
        weights: Local pretrained weights (see :func:`load_encoder_weights`); None for random init.
        freeze: Freeze the encoder (no gradients, eval mode).
        noise_alpha: Weaken the weights (see :func:`mix_with_random_init`).
        noise_seed: Seed of that random initialisation.
        drop_rate: timm's dropout before the (removed) classifier.

    Returns:
        The encoder and its feature width.

    Raises:
        EncoderError: If timm does not know the name (or the weights do not fit).
    """
    kwargs: dict[str, Any] = {"num_classes": 0, "drop_rate": drop_rate}
    try:
        module = timm.create_model(name, pretrained=False, **kwargs)
    except RuntimeError as err:
        raise EncoderError(f"unknown timm encoder {name!r}: {err}") from None
    if weights:
        load_encoder_weights(module, weights)
    mix_with_random_init(module, name, noise_alpha, noise_seed, **kwargs)
    if freeze:
        module.requires_grad_(False)
        module.eval()
    # timm models define num_features as an int; nn.Module.__getattr__ types it as Tensor | Module
    num_features = getattr(module, "head_hidden_size", None) or cast(int, module.num_features)
    return Encoder(module=module, num_features=int(num_features), name=name)
