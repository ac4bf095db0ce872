"""Response headers of the bounded HTTP client (:mod:`sipe_setup.core.net.http`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["HttpHeaders"]


class HttpHeaders:
    """Response headers in the order received; lookups ignore case. Immutable."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(items)

    def get(self, name: str, default: str = "") -> str:
        """The first value of ``name``, or ``default``."""
        wanted = name.lower()
        return next((v for n, v in self._items if n.lower() == wanted), default)

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in order (``WWW-Authenticate`` comes several times)."""
        wanted = name.lower()
        return [v for n, v in self._items if n.lower() == wanted]

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"HttpHeaders({list(self._items)!r})"
