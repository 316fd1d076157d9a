"""Streaming: a node's output in chunks, its span open until the last one.

A RunnableParallel streams ``AddableDict({key: chunk})`` as its branches stream; a
sequence streams its first step and pipes the chunks through the others
(``transform``); a generator function or a LangChain model streams its own chunks;
everything else yields its whole output once. A step that cannot take a stream adds
the incoming chunks up and runs once on the total, as in langchain_core.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from chainlab.engine.chunks import aadd_all, add_all
from chainlab.engine.errors import mark_origin
from chainlab.engine.leaf import _not_started, atake_slot, give_back_slot, give_back_slot_soon
from chainlab.engine.run import (
    Frame,
    _current,
    close_span,
    open_span,
    status_of,
    task_lane,
)

if TYPE_CHECKING:
    from chainlab.engine.base import Runnable


def stream_node(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Iterator[Any]:
    """Stream one node, with its span open until the last chunk."""
    return _traced(runnable, frame, input, runnable._stream(input, frame))


def transform_node(
    runnable: Runnable[Any, Any], chunks: Iterator[Any], frame: Frame
) -> Iterator[Any]:
    """Stream one node whose input arrives in ``chunks``: a node that streams its
    input through (``_transform``) starts at once; any other adds the chunks up first."""
    if not runnable.streams_input:
        return stream_node(runnable, add_all(chunks), frame)
    return _traced(runnable, frame, STREAMED, runnable._transform(chunks, frame))


STREAMED = "<streamed input>"
"""The input shown on the span of a node that takes its input as a stream."""


class _StreamSpan:
    """What both stream drivers decide (httpx's ``BaseClient`` style): the node's span
    opens with the stream, closes ``ok`` with the last chunk, or with the failure
    (``cancelled`` if the consumer closed the stream early)."""

    __slots__ = ("frame", "last", "traced")

    def __init__(
        self, runnable: Runnable[Any, Any], frame: Frame, input: Any, lane: str | None = None
    ) -> None:
        tracer = frame.run.tracer
        self.frame, self.last = frame, None
        self.traced = tracer is not None and not runnable.transparent
        if tracer is not None and self.traced:
            tracer.start(open_span(runnable, frame, input, lane))

    def failed(self, exc: BaseException) -> None:
        frame = self.frame
        mark_origin(exc, frame.path)  # so that a parallel can name the failed branch
        closed = isinstance(exc, GeneratorExit)
        if frame.parent is None or closed:
            frame.scope.cancel(exc)
        if self.traced:
            close_span(frame, "cancelled" if closed else status_of(exc, frame), error=exc)

    def ended(self) -> None:
        if self.traced:
            close_span(self.frame, "ok", self.last)


def _traced(
    runnable: Runnable[Any, Any], frame: Frame, input: Any, chunks: Iterator[Any]
) -> Iterator[Any]:
    span = _StreamSpan(runnable, frame, input)
    try:
        for chunk in chunks:
            span.last = chunk
            yield chunk
    except BaseException as exc:
        span.failed(exc)
        raise
    span.ended()


def astream_node(
    runnable: Runnable[Any, Any], input: Any, frame: Frame
) -> AsyncGenerator[Any, None]:
    """Async :func:`stream_node`."""
    return _atraced(runnable, frame, input, lambda: runnable._astream(input, frame))


async def atransform_node(
    runnable: Runnable[Any, Any], chunks: AsyncIterator[Any], frame: Frame
) -> AsyncGenerator[Any, None]:
    """Async :func:`transform_node`."""
    if not runnable.streams_input:
        stream = astream_node(runnable, await aadd_all(chunks), frame)
    else:
        stream = _atraced(runnable, frame, STREAMED, lambda: runnable._atransform(chunks, frame))
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


async def _atraced(
    runnable: Runnable[Any, Any],
    frame: Frame,
    input: Any,
    make: Callable[[], AsyncIterator[Any]],
) -> AsyncGenerator[Any, None]:
    span = _StreamSpan(runnable, frame, input, task_lane())
    try:
        chunks = make()
        try:
            async for chunk in chunks:
                span.last = chunk
                yield chunk
        finally:  # a consumer that stops early stops the work now, not at garbage collection
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
    except BaseException as exc:
        span.failed(exc)
        raise
    span.ended()


async def aiter_leaf(
    frame: Frame, agen: Callable[..., AsyncIterator[Any]], *args: Any
) -> AsyncGenerator[Any, None]:
    """Yield the chunks of an async generator as the leaf work of ``frame`` (the
    async twin of ``leaf.iter_leaf``): the slot is held until the last chunk."""
    await atake_slot(frame)
    chunks: AsyncIterator[Any] | None = None
    try:
        if frame.scope.cancelled:
            raise _not_started(frame)
        while True:
            token = _current.set(frame)
            try:
                if chunks is None:
                    chunks = agen(*args).__aiter__()
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            finally:
                _current.reset(token)
            yield chunk
    except BaseException:
        give_back_slot_soon(frame)
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        frame.ended = True
        give_back_slot(frame)
