"""Seeds for everything, and child seeds derived from one experiment seed."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "rng_state", "set_rng_state"]


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); optionally ask torch for deterministic kernels.

    Args:
        seed: The seed.
        deterministic: Ask for deterministic kernels (slower; cuDNN autotuning off).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.backends.cudnn.benchmark = not deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def rng_state() -> dict:
    """Python, numpy and torch RNG states, storable with ``torch.save`` and ``weights_only`` loading.

    Returns:
        The states as tensors and plain values (CUDA's too where available).
    """
    state = {
        "python": _python_state_to_tensor(random.getstate()),
        "numpy": _numpy_state_to_tensor(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the RNG states :func:`rng_state` captured, so a resumed run continues identically.

    Args:
        state: The output of :func:`rng_state`.
    """
    random.setstate(_python_state_from_tensor(state["python"]))
    np.random.set_state(_numpy_state_from_tensor(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_tensor(state) -> dict:
    version, internal, gauss = state
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def _python_state_from_tensor(data: dict):
    return data["version"], tuple(int(v) for v in data["internal"].tolist()), data["gauss"]


def _numpy_state_to_tensor(state) -> dict:
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_from_tensor(data: dict):
    return (data["name"], data["keys"].numpy().astype(np.uint32), data["pos"], data["has_gauss"], data["cached"])
