"""Passing data along: RunnablePassthrough, ``.assign()`` and ``.pick()``.

These are structure, not work: they never take a slot of the concurrency limit.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from chainlab.engine.base import Other, Runnable
from chainlab.engine.chunks import AddableDict, add, aiter_of
from chainlab.engine.lambdas import (
    acall_with_config,
    accepts_config,
    call_with_config,
    takes_kwargs,
)
from chainlab.engine.leaf import arun_leaf, arun_sync_leaf, run_coroutine_leaf, run_leaf
from chainlab.engine.parallel import RunnableParallel, key_list
from chainlab.engine.run import Frame


class RunnablePassthrough(Runnable[Other, Other]):
    """Return the input unchanged (optionally calling ``func(input)`` on the side).

    >>> from chainlab import RunnableParallel
    >>> RunnableParallel(original=RunnablePassthrough(), n=len).invoke("abc")
    {'original': 'abc', 'n': 3}
    """

    kind = "passthrough"
    streams_input = True

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        afunc: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        input_type: Any = None,
    ) -> None:
        if func is not None and inspect.iscoroutinefunction(func):
            func, afunc = None, func
        self.func = func
        self.afunc = afunc
        self.name = name
        side = func if func is not None else afunc
        self._config_arg = side is not None and accepts_config(side)  # as in langchain_core
        if side is not None:
            self.kind = "leaf"  # it calls user code: that is work
        self.custom_input_type = input_type

    def __repr__(self) -> str:
        return "RunnablePassthrough()"

    def _with_kwargs(self, kwargs: dict[str, Any]) -> RunnablePassthrough[Other]:
        """Invoke keyword arguments go to ``func`` (none: nothing to pass them to)."""
        for side in (self.func, self.afunc):
            if side is not None and not takes_kwargs(side, kwargs):
                raise TypeError(
                    f"RunnablePassthrough({getattr(side, '__name__', side)!s}): its function "
                    f"takes no keyword argument {', '.join(kwargs)}"
                )
        bound = [functools.partial(f, **kwargs) if f else None for f in (self.func, self.afunc)]
        copy: RunnablePassthrough[Other] = RunnablePassthrough(
            *bound, name=self.name, input_type=self.custom_input_type
        )
        copy._config_arg, copy.kind = self._config_arg, self.kind
        return copy

    @classmethod
    def assign(cls, **kwargs: Any) -> RunnableAssign:  # type: ignore[override]
        """Pass a dict through, adding keys computed in parallel from it.

        >>> RunnablePassthrough.assign(n=lambda d: len(d["text"])).invoke({"text": "hey"})
        {'text': 'hey', 'n': 3}
        """
        return RunnableAssign(RunnableParallel(kwargs))

    def _invoke(self, input: Any, frame: Frame) -> Any:
        config = (frame.public_config(),) if self._config_arg else ()
        if self.func is not None:
            run_leaf(frame, call_with_config, self.func, input, *config)
        elif self.afunc is not None:
            run_coroutine_leaf(frame, acall_with_config, self.afunc, input, *config)
        return input

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        config = (frame.public_config(),) if self._config_arg else ()
        if self.afunc is not None:
            await arun_leaf(frame, acall_with_config, self.afunc, input, *config)
        elif self.func is not None:
            await arun_sync_leaf(frame, call_with_config, self.func, input, *config)
        return input

    def _transform(self, chunks: Iterator[Any], frame: Frame) -> Iterator[Any]:
        """Chunks go through as they come; ``func`` sees them added up, at the end."""
        total = None
        for chunk in chunks:
            total = add(total, chunk)
            yield chunk
        if self.func is not None or self.afunc is not None:
            self._invoke(total, frame)

    async def _atransform(self, chunks: AsyncIterator[Any], frame: Frame) -> AsyncIterator[Any]:
        total = None
        async for chunk in chunks:
            total = add(total, chunk)
            yield chunk
        if self.func is not None or self.afunc is not None:
            await self._ainvoke(total, frame)


class RunnableAssign(Runnable[dict[str, Any], dict[str, Any]]):
    """``{**input, **mapper(input)}``: the mapper's branches run in parallel."""

    kind = "assign"

    def __init__(
        self, mapper: RunnableParallel | Mapping[str, Any], *, name: str | None = None
    ) -> None:
        self.mapper = mapper if isinstance(mapper, RunnableParallel) else RunnableParallel(mapper)
        self.name = name

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or f"assign<{key_list(self.mapper.steps__)}>"
        return f"{base}{suffix}" if suffix else base

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return self.mapper._children()

    @staticmethod
    def _check(input: Any, frame: Frame) -> None:
        if not isinstance(input, Mapping):
            raise ValueError(  # ValueError, as in langchain_core
                f"{frame.path}: .assign() needs a dict input, got {type(input).__name__}: "
                f"{input!r:.60}"
            )

    def _invoke(self, input: dict[str, Any], frame: Frame) -> dict[str, Any]:
        self._check(input, frame)
        return {**input, **self.mapper._invoke(input, frame)}

    async def _ainvoke(self, input: dict[str, Any], frame: Frame) -> dict[str, Any]:
        self._check(input, frame)
        return {**input, **await self.mapper._ainvoke(input, frame)}

    streams_input = True

    def _stream(self, input: dict[str, Any], frame: Frame) -> Iterator[dict[str, Any]]:
        return self._transform(iter([input]), frame)

    def _astream(self, input: dict[str, Any], frame: Frame) -> AsyncIterator[dict[str, Any]]:
        return self._atransform(aiter_of([input]), frame)

    def _transform(self, chunks: Iterator[Any], frame: Frame) -> Iterator[dict[str, Any]]:
        """First the input's chunks (less the keys the mapper computes) as they come,
        then the mapper's chunks, as in langchain_core."""
        total = None
        for chunk in chunks:
            total, kept = self._passed(chunk, total, frame)
            if kept:
                yield kept
        if total is not None:
            yield from self.mapper._transform(iter([total]), frame)

    def _passed(self, chunk: Any, total: Any, frame: Frame) -> tuple[Any, AddableDict]:
        """The input so far, and what of this chunk passes straight through (both drivers)."""
        self._check(chunk, frame)
        kept = AddableDict({k: v for k, v in chunk.items() if k not in self.mapper.steps__})
        return add(total, chunk), kept

    async def _atransform(
        self, chunks: AsyncIterator[Any], frame: Frame
    ) -> AsyncIterator[dict[str, Any]]:
        total = None
        async for chunk in chunks:
            total, kept = self._passed(chunk, total, frame)
            if kept:
                yield kept
        if total is not None:
            async for out in self.mapper._atransform(aiter_of([total]), frame):
                yield out


class RunnablePick(Runnable[dict[str, Any], Any]):
    """Keep some keys of a dict: a str key gives its value (None if missing), a list
    gives a smaller dict (None if none of the keys is there), as in langchain_core.

    >>> RunnablePick("a").invoke({"a": 1, "b": 2})
    1
    >>> RunnablePick(["a"]).invoke({"a": 1, "b": 2})
    {'a': 1}
    """

    kind = "passthrough"

    def __init__(self, keys: str | list[str], *, name: str | None = None) -> None:
        self.keys = keys
        self.name = name

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        keys = self.keys if isinstance(self.keys, str) else ",".join(self.keys)
        base = name or self.name or f"pick<{keys}>"
        return f"{base}{suffix}" if suffix else base

    def _invoke(self, input: dict[str, Any], frame: Frame) -> Any:
        if not isinstance(input, Mapping):
            raise ValueError(
                f"{frame.path}: .pick() needs a dict input, got {type(input).__name__}"
            )
        if isinstance(self.keys, str):
            return input.get(self.keys)
        picked = {key: input[key] for key in self.keys if key in input}
        return picked or None  # none of the keys: None, as in langchain_core

    async def _ainvoke(self, input: dict[str, Any], frame: Frame) -> Any:
        return self._invoke(input, frame)

    streams_input = True

    def _picked(self, chunk: Any, frame: Frame) -> Any:
        """The picked part of one streamed chunk, or None when it has none."""
        if not isinstance(chunk, Mapping):
            raise ValueError(f"{frame.path}: .pick() needs dict chunks, got {type(chunk).__name__}")
        if isinstance(self.keys, str):
            return chunk.get(self.keys)
        return AddableDict({k: chunk[k] for k in self.keys if k in chunk}) or None

    def _transform(self, chunks: Iterator[Any], frame: Frame) -> Iterator[Any]:
        """Each chunk's picked part, as it comes (chunks without it are dropped)."""
        for chunk in chunks:
            picked = self._picked(chunk, frame)
            if picked is not None:
                yield picked

    async def _atransform(self, chunks: AsyncIterator[Any], frame: Frame) -> AsyncIterator[Any]:
        async for chunk in chunks:
            picked = self._picked(chunk, frame)
            if picked is not None:
                yield picked
