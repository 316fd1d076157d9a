"""RunnableSequence: ``a | b | c``, each step's output is the next step's input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

from chainlab.engine.base import Input, Output, Runnable, coerce_to_runnable
from chainlab.engine.describe import indent_after_first
from chainlab.engine.run import Frame, acall_node, call_node
from chainlab.engine.streaming import astream_node, atransform_node, stream_node, transform_node


class RunnableSequence(Runnable[Input, Output]):
    """Steps run one after another.

    >>> from chainlab import RunnableLambda
    >>> (RunnableLambda(lambda x: x + 1) | (lambda x: x * 10)).invoke(1)
    20
    """

    kind = "sequence"

    def __init__(
        self,
        *steps: Any,
        name: str | None = None,
        first: Any = None,
        middle: list[Any] | None = None,
        last: Any = None,
    ) -> None:
        parts = [*steps]
        if first is not None:
            parts = [first, *(middle or []), *parts]
        if last is not None:
            parts.append(last)
        flat: list[Runnable[Any, Any]] = []
        for part in parts:
            step = coerce_to_runnable(part, where=f"as step {len(flat)} of a sequence")
            if isinstance(step, RunnableSequence) and step.name is None:
                flat.extend(step.steps)  # (a | b) | c is a | b | c
            else:
                flat.append(step)
        if len(flat) < 2:
            raise ValueError(f"a RunnableSequence needs at least 2 steps, got {len(flat)}")
        self.steps: list[Runnable[Any, Any]] = flat
        self.name = name

    @property
    def first(self) -> Runnable[Any, Any]:
        return self.steps[0]

    @property
    def middle(self) -> list[Runnable[Any, Any]]:
        return self.steps[1:-1]

    @property
    def last(self) -> Runnable[Any, Any]:
        return self.steps[-1]

    def __or__(self, other: Any) -> RunnableSequence[Any, Any]:
        return RunnableSequence(*self.steps, coerce_to_runnable(other), name=self.name)

    def __ror__(self, other: Any) -> RunnableSequence[Any, Any]:
        return RunnableSequence(coerce_to_runnable(other), *self.steps, name=self.name)

    def _with_kwargs(self, kwargs: dict[str, Any]) -> RunnableSequence[Input, Output]:
        """Keyword arguments go to the first step, as in langchain_core."""
        first, *rest = self.steps
        return RunnableSequence(first._with_kwargs(kwargs), *rest, name=self.name)

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return [(str(i), "", step) for i, step in enumerate(self.steps)]

    def _invoke(self, input: Any, frame: Frame) -> Any:
        for i, step in enumerate(self.steps):
            input = call_node(step, input, frame.child(step.get_name(), str(i)))
        return input

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        for i, step in enumerate(self.steps):
            input = await acall_node(step, input, frame.child(step.get_name(), str(i)))
        return input

    def __repr__(self) -> str:
        return "\n| ".join(
            repr(s) if i == 0 else indent_after_first(repr(s), "| ")
            for i, s in enumerate(self.steps)
        )

    streams_input = True

    def _stream(self, input: Any, frame: Frame) -> Iterator[Any]:
        """The first step streams; each next one takes the chunks as they come (a
        step that cannot stream its input adds them up and runs once)."""
        first = self.steps[0]
        chunks = stream_node(first, input, frame.child(first.get_name(), "0"))
        return self._pipe(chunks, frame, 1)

    def _transform(self, chunks: Iterator[Any], frame: Frame) -> Iterator[Any]:
        return self._pipe(chunks, frame, 0)

    def _pipe(self, chunks: Iterator[Any], frame: Frame, start: int) -> Iterator[Any]:
        for i in range(start, len(self.steps)):
            step = self.steps[i]
            chunks = transform_node(step, chunks, frame.child(step.get_name(), str(i)))
        return chunks

    def _astream(self, input: Any, frame: Frame) -> AsyncIterator[Any]:
        first = self.steps[0]
        chunks = astream_node(first, input, frame.child(first.get_name(), "0"))
        return self._apipe(chunks, frame, 1)

    def _atransform(self, chunks: AsyncIterator[Any], frame: Frame) -> AsyncIterator[Any]:
        return self._apipe(chunks, frame, 0)

    async def _apipe(
        self, chunks: AsyncIterator[Any], frame: Frame, start: int
    ) -> AsyncIterator[Any]:
        for i in range(start, len(self.steps)):
            step = self.steps[i]
            chunks = atransform_node(step, chunks, frame.child(step.get_name(), str(i)))
        async with aclosing(chunks):  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk
