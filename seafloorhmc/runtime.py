"""Where and how a model runs: device, bf16 autocast, channels-last memory and the evaluation transform.

One :class:`Runtime` decides these for training, evaluation, prediction and the feature cache, so
a checkpoint scored by ``seafloorhmc evaluate`` or run by ``seafloorhmc predict`` computes exactly
what training computed on the same machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch

from .config import Config, ConfigError
from .data.transforms import eval_transform_for

__all__ = ["Runtime", "resolve_device"]

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device a setting names.

    Args:
        name: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``,
            or a device.

    Returns:
        The device.

    Raises:
        ConfigError: If CUDA is asked for but not available.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} but CUDA is not available on this machine; use train.device=cpu "
                          "(or auto)")
    return device


@dataclass(frozen=True)
class Runtime:
    """How tensors and models are placed and computed.

    Attributes:
        device: Where the model runs.
        amp: Whether forward passes run under bf16 autocast.
        channels_last: Whether image batches and the model use channels-last memory.
        eval_transform: The deterministic image transform of evaluation and prediction (None for
            feature data).
    """

    device: torch.device
    amp: bool = False
    channels_last: bool = False
    eval_transform: Callable | None = None

    @classmethod
    def from_config(cls, config: Config, device: str | torch.device | None = None,
                    images: bool = True) -> Runtime:
        """The runtime a configuration asks for on this machine.

        Args:
            config: The run's configuration (``train.device``, ``train.amp``,
                ``train.channels_last`` and the ``data`` keys of the evaluation transform).
            device: Overrides ``train.device`` (e.g. the local rank's GPU under torchrun).
            images: Whether the model sees images (False for feature vectors: no transform).

        Returns:
            The runtime.
        """
        dev = resolve_device(device if device is not None else config.train.device)
        cuda = dev.type == "cuda"
        amp = config.train.amp == "bf16" or (config.train.amp == "auto" and cuda)
        channels_last = config.train.channels_last == "on" or (config.train.channels_last == "auto" and cuda)
        return cls(dev, amp, channels_last, eval_transform_for(config) if images else None)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bf16 autocast on this device when ``amp`` is on, else nothing."""
        if not self.amp:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
            yield

    def prepare_model(self, model: ModuleT) -> ModuleT:
        """Move ``model`` to the device (and to channels-last memory when on).

        Args:
            model: The model.

        Returns:
            The same model, moved.
        """
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """Move an input batch to the device (channels-last for 4-D image batches when on).

        Args:
            x: Images [B, C, H, W] or features [B, D].

        Returns:
            The batch on the device.
        """
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x
