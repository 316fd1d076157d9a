"""Streaming: a node's output in chunks, its span open until the last one.

A RunnableParallel streams ``{key: value}`` as each branch finishes; a sequence streams
its last step; everything else yields its whole output once.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any

from chainlab.engine.run import Frame, close_span, open_span, status_of, task_lane

if TYPE_CHECKING:
    from chainlab.engine.base import Runnable


def stream_node(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Iterator[Any]:
    """Stream one node, with its span open until the last chunk."""
    tracer = frame.run.tracer
    if tracer is not None and not runnable.transparent:
        tracer.start(open_span(runnable, frame, input))
    last = None
    try:
        for chunk in runnable._stream(input, frame):
            last = chunk
            yield chunk
    except BaseException as exc:
        if frame.parent is None or isinstance(exc, GeneratorExit):
            frame.scope.cancel(exc)
        if tracer is not None and not runnable.transparent:
            close_span(
                frame,
                "cancelled" if isinstance(exc, GeneratorExit) else status_of(exc, frame),
                error=exc,
            )
        raise
    if tracer is not None and not runnable.transparent:
        close_span(frame, "ok", last)


async def astream_node(
    runnable: Runnable[Any, Any], input: Any, frame: Frame
) -> AsyncGenerator[Any, None]:
    """Async :func:`stream_node`."""
    tracer = frame.run.tracer
    if tracer is not None and not runnable.transparent:
        tracer.start(open_span(runnable, frame, input, task_lane()))
    last = None
    try:
        chunks = runnable._astream(input, frame)
        try:
            async for chunk in chunks:
                last = chunk
                yield chunk
        finally:  # a consumer that stops early stops the work now, not at garbage collection
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
    except BaseException as exc:
        if frame.parent is None or isinstance(exc, GeneratorExit):
            frame.scope.cancel(exc)
        if tracer is not None and not runnable.transparent:
            close_span(
                frame,
                "cancelled" if isinstance(exc, GeneratorExit) else status_of(exc, frame),
                error=exc,
            )
        raise
    if tracer is not None and not runnable.transparent:
        close_span(frame, "ok", last)
