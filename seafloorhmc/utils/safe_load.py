"""Why a file could not be loaded, in one line, without advice to load it unsafely.

``torch.load(weights_only=True)`` refuses pickles that would build arbitrary Python objects (and so
could run code) with a long message that suggests retrying with ``weights_only=False``, which
seafloorhmc never does; a truncated file gives a paragraph about zip archives. :func:`load_error_reason`
turns either into a short reason for an error message that names the file.
"""

from __future__ import annotations

import re

__all__ = ["load_error_reason"]

_GLOBAL = re.compile(r"(?:Unsupported global|unsupported GLOBAL)[:\s]+(?:GLOBAL\s+)?([\w.]+)")


def load_error_reason(err: BaseException) -> str:
    """A one-line reason for a failed ``torch.load(weights_only=True)`` (or any loader).

    Args:
        err: The exception the loader raised.

    Returns:
        ``"it holds Python objects (posix.system), which are never unpickled because loading them
        could run code"`` for an unsafe pickle; otherwise the first sentence of the message.
    """
    text = str(err)
    if ("Weights only load failed" in text or "non-allowlisted" in text or "weights_only=True blocked" in text
            or type(err).__name__ == "UnpicklingError"):
        found = _GLOBAL.search(text)
        what = f" ({found.group(1)})" if found else ""
        return (f"it holds Python objects{what} beyond plain tensors, which are never unpickled because loading "
                "them could run code; save plain tensors (a state_dict) or safetensors instead")
    first = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    return f"{type(err).__name__}: {sentence}" if sentence else type(err).__name__
