"""Named entries of one extension point: data formats, heads, losses, export formats.

An extension registers itself in the module that implements it; config validation, command-line
choices and documentation read the registry, so adding one is that module and its test.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

__all__ = ["Registry", "RegistryError"]

T = TypeVar("T")


class RegistryError(ValueError):
    """An unknown or duplicate name; the message lists the registered names."""


class Registry(Generic[T]):
    """A name → entry mapping that refuses duplicates and explains unknown names.

    Args:
        kind: What the entries are ("data format", "head", ...), used in messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str, entry: T) -> T: ...

    @overload
    def register(self, name: str, entry: None = None) -> Callable[[T], T]: ...

    def register(self, name: str, entry: T | None = None) -> T | Callable[[T], T]:
        """Register ``entry`` under ``name``; without ``entry``, return a decorator that does.

        Args:
            name: The name configs and the command line use.
            entry: The object to register (omit to use ``register`` as a decorator).

        Returns:
            The entry itself (so the decorated object is unchanged).

        Raises:
            RegistryError: If ``name`` is already registered.
        """
        def add(value: T) -> T:
            if name in self._entries:
                raise RegistryError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = value
            return value

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> T:
        """Remove and return the entry ``name`` (plugins and tests that register temporarily).

        Args:
            name: A registered name.

        Returns:
            The removed entry.

        Raises:
            RegistryError: If nothing is registered under ``name``.
        """
        entry = self.get(name)
        del self._entries[name]
        return entry

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Args:
            name: A registered name.

        Returns:
            The entry.

        Raises:
            RegistryError: If nothing is registered under ``name``; the message lists the names.
        """
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), list(self._entries), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RegistryError(f"unknown {self.kind} {name!r}{hint}; choose one of "
                                f"{', '.join(self._entries)}") from None

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (config validation and CLI choices list them).

        Returns:
            The names.
        """
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """Every entry with its name, in registration order.

        Returns:
            (name, entry) pairs.
        """
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
