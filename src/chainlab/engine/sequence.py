"""RunnableSequence: ``a | b | c``, each step's output is the next step's input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

from chainlab.engine.base import Runnable, coerce_to_runnable
from chainlab.engine.run import Frame, acall_node, call_node
from chainlab.engine.streaming import astream_node, stream_node


class RunnableSequence(Runnable[Any, Any]):
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

    def __or__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(*self.steps, coerce_to_runnable(other), name=self.name)

    def __ror__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(coerce_to_runnable(other), *self.steps, name=self.name)

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

    def _stream(self, input: Any, frame: Frame) -> Iterator[Any]:
        """All steps but the last run normally; the last one streams."""
        *head, last = self.steps
        for i, step in enumerate(head):
            input = call_node(step, input, frame.child(step.get_name(), str(i)))
        yield from stream_node(last, input, frame.child(last.get_name(), str(len(head))))

    async def _astream(self, input: Any, frame: Frame) -> AsyncIterator[Any]:
        *head, last = self.steps
        for i, step in enumerate(head):
            input = await acall_node(step, input, frame.child(step.get_name(), str(i)))
        chunks = astream_node(last, input, frame.child(last.get_name(), str(len(head))))
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk
