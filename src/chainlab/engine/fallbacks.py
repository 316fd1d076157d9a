"""``with_fallbacks``: when a runnable fails, try the next one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from chainlab.engine.base import Input, Output, Runnable, coerce_to_runnable
from chainlab.engine.run import Frame, acall_node, call_node
from chainlab.engine.streaming import astream_node, stream_node


class RunnableWithFallbacks(Runnable[Input, Output]):
    """Try ``runnable``, then each fallback in turn, on ``exceptions_to_handle``.

    With ``exception_key="error"`` and a dict input, each fallback gets the previous
    error in its input under that key. If every option fails, ``invoke`` raises the
    first error and ``batch`` the last one (both as in LangChain); ``raise_last=True``
    makes it the last one everywhere; the other one is attached as a note.
    """

    kind = "fallbacks"

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        fallbacks: Sequence[Any],
        *,
        exceptions_to_handle: tuple[type[BaseException], ...] = (Exception,),
        exception_key: str | None = None,
        raise_last: bool = False,
        name: str | None = None,
    ) -> None:
        self.runnable = coerce_to_runnable(runnable, where="as the runnable of with_fallbacks")
        self.fallbacks = [coerce_to_runnable(f, where="as a fallback") for f in fallbacks]
        self.exceptions_to_handle = exceptions_to_handle
        self.exception_key = exception_key
        self.raise_last = raise_last
        self.name = name

    def __getattr__(self, name: str) -> Any:
        """An attribute of the main runnable (a model's ``temperature``...)."""
        if name.startswith("_") or name == "runnable":
            raise AttributeError(name)
        return getattr(self.runnable, name)

    @property
    def runnables(self) -> list[Runnable[Any, Any]]:
        return [self.runnable, *self.fallbacks]

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or f"fallbacks<{self.runnable.get_name()}>"
        return f"{base}{suffix}" if suffix else base

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return [
            (str(i), "try" if i == 0 else f"fallback {i}", r) for i, r in enumerate(self.runnables)
        ]

    def _raising_last(self) -> RunnableWithFallbacks:
        if self.raise_last:
            return self
        copy: RunnableWithFallbacks[Input, Output] = RunnableWithFallbacks(
            self.runnable,
            self.fallbacks,
            exceptions_to_handle=self.exceptions_to_handle,
            exception_key=self.exception_key,
            raise_last=True,
            name=self.name,
        )
        copy.config = self.config
        return copy

    def batch(self, inputs: Sequence[Any], config: Any = None, **kwargs: Any) -> list[Any]:
        """As :meth:`Runnable.batch`; an item whose options all fail gets the *last*
        option's error, as langchain_core's batch does."""
        return Runnable.batch(self._raising_last(), inputs, config, **kwargs)

    async def abatch(self, inputs: Sequence[Any], config: Any = None, **kwargs: Any) -> list[Any]:
        """Async :meth:`batch`."""
        return await Runnable.abatch(self._raising_last(), inputs, config, **kwargs)

    def _check(self, input: Any, frame: Frame) -> None:
        """Refuse a non-dict input up front (as langchain_core does) when the fallbacks
        need a dict to carry the error: caught later, it would count as a failure."""
        if self.exception_key is not None and not isinstance(input, Mapping):
            raise ValueError(
                f"{frame.path}: exception_key={self.exception_key!r} needs a dict input, "
                f"got {type(input).__name__}"
            )

    def _input_for(self, input: Any, error: BaseException | None) -> Any:
        if self.exception_key is None or error is None:
            return input
        return {**input, self.exception_key: error}

    def _invoke(self, input: Any, frame: Frame) -> Any:
        self._check(input, frame)
        first: BaseException | None = None
        last: BaseException | None = None
        for i, runnable in enumerate(self.runnables):
            try:
                return call_node(
                    runnable,
                    self._input_for(input, last),
                    frame.child(runnable.get_name(), str(i)),
                )
            except self.exceptions_to_handle as exc:
                first, last = first or exc, exc
                if frame.scope.cancelled:
                    break
        raise _settle(first, last, self.raise_last)

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        self._check(input, frame)
        first: BaseException | None = None
        last: BaseException | None = None
        for i, runnable in enumerate(self.runnables):
            try:
                return await acall_node(
                    runnable,
                    self._input_for(input, last),
                    frame.child(runnable.get_name(), str(i)),
                )
            except self.exceptions_to_handle as exc:
                first, last = first or exc, exc
                if frame.scope.cancelled:
                    break
        raise _settle(first, last, self.raise_last)


def _settle(
    first: BaseException | None, last: BaseException | None, raise_last: bool
) -> BaseException:
    assert first is not None
    assert last is not None
    if last is first:
        return first
    if raise_last:
        last.add_note(f"the first option had failed with {first!r}")
        return last
    first.add_note(f"every fallback failed too; the last one raised {last!r}")
    return first


def _stream(self: RunnableWithFallbacks, input: Any, frame: Frame) -> Iterator[Any]:
    """Stream the first option whose *first* chunk comes; a failure after that is the
    stream's (its chunks were already given out), as in langchain_core."""
    self._check(input, frame)
    first: BaseException | None = None
    last: BaseException | None = None
    for i, runnable in enumerate(self.runnables):
        chunks = stream_node(
            runnable, self._input_for(input, last), frame.child(runnable.get_name(), str(i))
        )
        try:
            head = next(chunks)
        except StopIteration:
            return
        except self.exceptions_to_handle as exc:
            first, last = first or exc, exc
            if frame.scope.cancelled:
                break
            continue
        yield head
        yield from chunks
        return
    raise _settle(first, last, self.raise_last)


async def _astream(self: RunnableWithFallbacks, input: Any, frame: Frame) -> AsyncIterator[Any]:
    """Async :func:`_stream`."""
    self._check(input, frame)
    first: BaseException | None = None
    last: BaseException | None = None
    for i, runnable in enumerate(self.runnables):
        chunks = astream_node(
            runnable, self._input_for(input, last), frame.child(runnable.get_name(), str(i))
        )
        try:
            head = await anext(chunks)
        except StopAsyncIteration:
            return
        except self.exceptions_to_handle as exc:
            first, last = first or exc, exc
            if frame.scope.cancelled:
                break
            continue
        try:
            yield head
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()
        return
    raise _settle(first, last, self.raise_last)


RunnableWithFallbacks._stream = _stream  # type: ignore[method-assign,assignment]
RunnableWithFallbacks._astream = _astream  # type: ignore[method-assign,assignment]
