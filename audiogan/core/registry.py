"""A tiny name -> class registry whose errors list the valid names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from audiogan.core.errors import AudioganError

T = TypeVar("T")
C = TypeVar("C", bound=type)  # a registered class keeps its own type for the type checker


class UnknownNameError(AudioganError, ValueError):
    """Raised when a name is not in a registry; the message lists the valid names."""


class Registry(Generic[T]):
    """Maps stable lowercase names to classes (subclasses of ``T``).

    Example:
        >>> GENERATORS = Registry("generator")
        >>> @GENERATORS.register("hifigan")
        ... class HiFiGAN: ...
        >>> GENERATORS.build("hifigan")
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator registering the class under ``name`` (lowercase, unique); the class
        is returned unchanged."""
        if name != name.lower() or not name:
            raise ValueError(f"{self.kind} registry names must be non-empty lowercase: {name!r}")

        def decorator(obj: C) -> C:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> type[T]:
        """Return the class registered as ``name``; the error lists the valid names."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid names: {valid}"
            ) from None

    def build(self, name: str, **params: Any) -> T:
        """Instantiate the entry ``name`` with keyword ``params``.

        A wrong parameter name becomes a ``TypeError`` naming the registry entry.
        """
        factory = self.get(name)
        try:
            return factory(**params)
        except TypeError as exc:
            raise TypeError(f"{self.kind} {name!r}: {exc}") from exc

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"
