"""Lazy package attributes (PEP 562): a name's module is imported on first use.

Why: ``seafloorhmc``, ``seafloorhmc.prediction`` and ``seafloorhmc.experiments`` export names whose
modules load torch; the command line checks a request and lists its choices without paying for that.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: Mapping[str, str],
                    namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose public names load on first use.

    Args:
        package: The package's ``__name__``.
        names: Public name → the module defining it (absolute, or relative to ``package`` with a dot).
        namespace: The package's ``globals()``; a loaded name is stored there, so it loads once.

    Returns:
        (``__getattr__``, ``__dir__``) to assign in the package.
    """
    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
