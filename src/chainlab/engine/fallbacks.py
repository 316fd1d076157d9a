"""``with_fallbacks``: when a runnable fails, try the next one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing
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
        tries = _Tries(self, input, frame)
        for runnable, option_input, option_frame in tries:
            try:
                return call_node(runnable, option_input, option_frame)
            except self.exceptions_to_handle as exc:
                tries.failed(exc)
        raise tries.error()

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        tries = _Tries(self, input, frame)
        for runnable, option_input, option_frame in tries:
            try:
                return await acall_node(runnable, option_input, option_frame)
            except self.exceptions_to_handle as exc:
                tries.failed(exc)
        raise tries.error()


class _Tries:
    """The decisions of one fallbacks call, shared by its sync and async drivers:
    which option to try next, with what input, and which error to raise at the end.
    The driver calls (or awaits) each option and reports its failure to :meth:`failed`."""

    def __init__(self, owner: RunnableWithFallbacks, input: Any, frame: Frame) -> None:
        owner._check(input, frame)
        self.owner, self.input, self.frame = owner, input, frame
        self.first: BaseException | None = None
        self.last: BaseException | None = None

    def __iter__(self) -> Iterator[tuple[Runnable[Any, Any], Any, Frame]]:
        """``(runnable, input, frame)`` of each option in turn, until one succeeds
        (the driver stops asking) or the run is cancelled."""
        for i, runnable in enumerate(self.owner.runnables):
            if self.last is not None and self.frame.scope.cancelled:
                return
            yield (
                runnable,
                self.owner._input_for(self.input, self.last),
                self.frame.child(runnable.get_name(), str(i)),
            )

    def failed(self, exc: BaseException) -> None:
        self.first, self.last = self.first or exc, exc

    def error(self) -> BaseException:
        """What to raise once every option failed (first or last, the other noted)."""
        return _settle(self.first, self.last, self.owner.raise_last)


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
    tries = _Tries(self, input, frame)
    for runnable, option_input, option_frame in tries:
        chunks = stream_node(runnable, option_input, option_frame)
        try:
            head = next(chunks)
        except StopIteration:
            return
        except self.exceptions_to_handle as exc:
            tries.failed(exc)
            continue
        yield head
        yield from chunks
        return
    raise tries.error()


async def _astream(self: RunnableWithFallbacks, input: Any, frame: Frame) -> AsyncIterator[Any]:
    """Async :func:`_stream`."""
    tries = _Tries(self, input, frame)
    for runnable, option_input, option_frame in tries:
        chunks = astream_node(runnable, option_input, option_frame)
        try:
            head = await anext(chunks)
        except StopAsyncIteration:
            return
        except self.exceptions_to_handle as exc:
            tries.failed(exc)
            continue
        async with aclosing(chunks):
            yield head
            async for chunk in chunks:
                yield chunk
        return
    raise tries.error()


RunnableWithFallbacks._stream = _stream  # type: ignore[method-assign,assignment]
RunnableWithFallbacks._astream = _astream  # type: ignore[method-assign,assignment]
