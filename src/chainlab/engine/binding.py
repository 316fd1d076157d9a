"""``with_listeners``: call functions when a runnable starts, ends or fails."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chainlab.engine.base import Input, Output, Runnable
from chainlab.engine.run import Frame


@dataclass
class ListenerRun:
    """What a listener receives: langchain_core's ``Run`` fields that matter here."""

    name: str
    inputs: Any
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    outputs: Any = None
    error: BaseException | None = None
    start_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    end_time: datetime | None = None


class RunnableListeners(Runnable[Input, Output]):
    """``bound``, calling ``on_start(run)`` / ``on_end(run)`` / ``on_error(run)`` around
    each call (a listener with two parameters also gets the config). It has no span
    of its own: the bound runnable's span is the call."""

    def __init__(
        self,
        bound: Runnable[Input, Output],
        *,
        on_start: Callable[..., Any] | None = None,
        on_end: Callable[..., Any] | None = None,
        on_error: Callable[..., Any] | None = None,
    ) -> None:
        for key, value in (("on_start", on_start), ("on_end", on_end), ("on_error", on_error)):
            if value is not None and not callable(value):
                raise TypeError(
                    f"{bound.get_name()}.with_listeners({key}=...) needs a function, "
                    f"got {type(value).__name__}"
                )
        self.bound = bound
        self.listeners = (on_start, on_end, on_error)
        self.kind = bound.kind
        self.transparent = True
        self.streams_input = bound.streams_input
        self.name = bound.name

    def __repr__(self) -> str:
        return repr(self.bound)

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return self.bound.get_name(suffix, name=name)

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return self.bound._children()

    def _call(self, which: int, run: ListenerRun, frame: Frame) -> None:
        listener = self.listeners[which]
        if listener is None:
            return
        if which:
            run.end_time = datetime.now(UTC)
        if _arity(listener) >= 2:
            listener(run, frame.public_config())
        else:
            listener(run)

    def _start(self, input: Any, frame: Frame) -> ListenerRun:
        run = ListenerRun(name=self.get_name(), inputs=input)
        self._call(0, run, frame)
        return run

    def _end(self, run: ListenerRun, output: Any, frame: Frame) -> Any:
        run.outputs = output
        self._call(1, run, frame)
        return output

    def _fail(self, run: ListenerRun, exc: BaseException, frame: Frame) -> None:
        run.error = exc
        self._call(2, run, frame)

    def _invoke(self, input: Input, frame: Frame) -> Output:
        run = self._start(input, frame)
        try:
            output = self.bound._invoke(input, frame)
        except Exception as exc:
            self._fail(run, exc, frame)
            raise
        return self._end(run, output, frame)

    async def _ainvoke(self, input: Input, frame: Frame) -> Output:
        run = self._start(input, frame)
        try:
            output = await self.bound._ainvoke(input, frame)
        except Exception as exc:
            self._fail(run, exc, frame)
            raise
        return self._end(run, output, frame)

    def _stream(self, input: Input, frame: Frame) -> Iterator[Output]:
        return self._watched(self.bound._stream(input, frame), input, frame)

    def _transform(self, chunks: Iterator[Input], frame: Frame) -> Iterator[Output]:
        return self._watched(self.bound._transform(chunks, frame), None, frame)

    def _watched(self, chunks: Iterator[Any], input: Any, frame: Frame) -> Iterator[Any]:
        with _Watch(self, input, frame) as watch:
            for chunk in chunks:
                watch.seen(chunk)
                yield chunk

    def _astream(self, input: Input, frame: Frame) -> AsyncIterator[Output]:
        return self._awatched(self.bound._astream(input, frame), input, frame)

    def _atransform(self, chunks: AsyncIterator[Input], frame: Frame) -> AsyncIterator[Output]:
        return self._awatched(self.bound._atransform(chunks, frame), None, frame)

    async def _awatched(
        self, chunks: AsyncIterator[Any], input: Any, frame: Frame
    ) -> AsyncIterator[Any]:
        with _Watch(self, input, frame) as watch:
            async for chunk in chunks:
                watch.seen(chunk)
                yield chunk


class _Watch:
    """A stream under listeners (both drivers): ``on_start`` first, then ``on_end`` with
    the chunks added up, or ``on_error`` if the stream raised an ``Exception``."""

    def __init__(self, binding: RunnableListeners, input: Any, frame: Frame) -> None:
        self.binding, self.frame, self.total = binding, frame, None
        self.run = binding._start(input, frame)

    def seen(self, chunk: Any) -> None:
        from chainlab.engine.chunks import add

        self.total = add(self.total, chunk)

    def __enter__(self) -> _Watch:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if error is None:
            self.binding._end(self.run, self.total, self.frame)
        elif isinstance(error, Exception):
            self.binding._fail(self.run, error, self.frame)


def _arity(func: Callable[..., Any]) -> int:
    try:
        return len(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return 1
