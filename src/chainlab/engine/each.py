"""RunnableEach (``runnable.map()``): one runnable over every item of a list, at once.

``batch`` is called by *you* on many inputs; ``.map()`` is a step *inside* a chain
whose input is a list (for example the search queries a model just generated).
"""

from __future__ import annotations

from typing import Any, TypeVar

from chainlab.engine.base import Input, Output, Runnable, coerce_to_runnable
from chainlab.engine.errors import name_failed_child
from chainlab.engine.fanout import FanOut, Tasks, Threads
from chainlab.engine.run import Frame, acall_node, call_node, shared_limit, skip_span

F = TypeVar("F", bound=FanOut)


class RunnableEach(Runnable[list[Input], list[Output]]):
    """Apply ``bound`` to each item of the input list, items in parallel.

    >>> from chainlab import RunnableLambda
    >>> RunnableLambda(lambda x: x * 2).map().invoke([1, 2, 3])
    [2, 4, 6]
    """

    kind = "map"

    def __init__(self, *, bound: Runnable[Any, Any], name: str | None = None) -> None:
        self.bound = coerce_to_runnable(bound, where="as the bound runnable of RunnableEach")
        self.name = name

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or f"map<{self.bound.get_name()}>"
        return f"{base}{suffix}" if suffix else base

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return [("*", "each item", self.bound)]

    grace: float | None = None
    """After an item failed, how long (s) to wait for the items still running (None: the
    driver's default; a workflow's Map waits longer)."""

    def _invoke(self, input: list[Any], frame: Frame) -> list[Any]:
        fan, items, frames = self._fan_out(Threads, input, frame)
        for item, f in zip(items, frames, strict=True):
            fan.start(call_node, self.bound, item, f)
        return fan.wait()

    async def _ainvoke(self, input: list[Any], frame: Frame) -> list[Any]:
        fan, items, frames = self._fan_out(Tasks, input, frame)
        for item, f in zip(items, frames, strict=True):
            fan.start(acall_node, self.bound, item, f)
        return await fan.wait()

    def _fan_out(
        self, driver: type[F], input: Any, frame: Frame
    ) -> tuple[F, list[Any], list[Frame]]:
        """The fan-out over the items, the items, and their frames (one cancel scope)."""
        if isinstance(input, str | bytes | dict) or not hasattr(input, "__iter__"):
            got = f"{type(input).__name__}: {input!r:.60}"
            raise TypeError(f"{frame.path}: .map() needs a list input, got {got}")
        items = list(input)
        scope = frame.scope.child()
        frames = shared_limit(
            self.bound, [frame.child(str(i), "*", scope) for i in range(len(items))]
        )
        fan = driver(
            scope,
            grace=self.grace,
            window=frames[0].window if frames else None,
            skip=lambda i: skip_span(self.bound, frames[i], items[i]),
            name=lambda i: frames[i].path,
            noted=lambda exc: self._name_failure(exc, frames),
        )
        return fan, items, frames

    def _name_failure(self, exc: BaseException, frames: list[Frame]) -> None:
        name_failed_child(exc, frames, self.get_name(), lambda f: f"item {f.segment}")
