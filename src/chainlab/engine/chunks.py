"""Streamed chunks that add up: ``functools.reduce(operator.add, parallel.stream(x))``.

A RunnableParallel streams ``AddableDict({key: chunk})`` pieces; adding them gives the
whole output dict, as in langchain_core (where chunks of one key add up too: tokens).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any


class AddableDict(dict[str, Any]):
    """A dict that can be added to another: keys merge, values of a shared key add.

    >>> AddableDict(a="Hel") + AddableDict(a="lo", b=1)
    {'a': 'Hello', 'b': 1}
    """

    def __add__(self, other: dict[str, Any]) -> AddableDict:
        return _merged(self, other)

    def __radd__(self, other: dict[str, Any]) -> AddableDict:
        return _merged(other, self)


def _merged(left: dict[str, Any], right: dict[str, Any]) -> AddableDict:
    out = AddableDict(left)
    for key, value in right.items():
        if out.get(key) is None:
            out[key] = value
        elif value is not None:
            try:
                out[key] = out[key] + value
            except TypeError as exc:
                raise TypeError(
                    f"Cannot add incompatible types for key {key!r}: "
                    f"{type(out[key]).__name__!r} and {type(value).__name__!r}."
                ) from exc
    return out


def add(total: Any, chunk: Any) -> Any:
    """``total + chunk``; where they cannot be added, the later chunk wins (as in
    langchain_core's streaming); ``None`` is the empty total."""
    if total is None:
        return chunk
    try:
        return total + chunk
    except TypeError:
        return chunk


def add_all(chunks: Iterable[Any]) -> Any:
    """All chunks added up (None for no chunk)."""
    total = None
    for chunk in chunks:
        total = add(total, chunk)
    return total


async def aadd_all(chunks: AsyncIterator[Any]) -> Any:
    """Async :func:`add_all`."""
    total = None
    async for chunk in chunks:
        total = add(total, chunk)
    return total


async def aiter_of(items: Iterable[Any]) -> AsyncGenerator[Any, None]:
    """``items`` as an async iterator (an input given whole, as one stream)."""
    for item in items:
        yield item


def close_chunks(chunks: Any) -> None:
    """Close a stream now (a generator's ``finally`` runs), if it can be closed."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


async def aclose_chunks(chunks: Any) -> None:
    """Async :func:`close_chunks`: a consumer that stops early stops the work now,
    not at garbage collection."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
