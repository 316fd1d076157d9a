"""RunnableEach (``runnable.map()``): one runnable over every item of a list, at once.

``batch`` is called by *you* on many inputs; ``.map()`` is a step *inside* a chain
whose input is a list (for example the search queries a model just generated).
"""

from __future__ import annotations

import functools
from typing import Any

from chainlab.engine.base import Input, Output, Runnable, coerce_to_runnable
from chainlab.engine.errors import name_failed_child
from chainlab.engine.fanout import Join, afan_out, fan_out
from chainlab.engine.run import Frame, acall_node, call_node, shared_limit, skip_span


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

    def _items(self, input: Any, frame: Frame) -> tuple[list[Any], list[Frame]]:
        if isinstance(input, str | bytes | dict) or not hasattr(input, "__iter__"):
            got = f"{type(input).__name__}: {input!r:.60}"
            raise TypeError(f"{frame.path}: .map() needs a list input, got {got}")
        items = list(input)
        scope = frame.scope.child()
        return items, shared_limit(
            self.bound, [frame.child(str(i), "*", scope) for i in range(len(items))]
        )

    def _invoke(self, input: list[Any], frame: Frame) -> list[Any]:
        items, frames = self._items(input, frame)
        join = fan_out(
            [
                functools.partial(call_node, self.bound, x, f)
                for x, f in zip(items, frames, strict=True)
            ],
            frames[0].scope if frames else frame.scope,
            skip=lambda i: skip_span(self.bound, frames[i], items[i]),
            name=lambda i: frames[i].path,
            window=frames[0].window if frames else None,
        )
        try:
            return self._wait(join, frames)
        except BaseException as exc:
            self._name_failure(exc, frames)
            raise

    def _wait(self, join: Join, frames: list[Frame]) -> list[Any]:
        """Wait for the items under ``invoke`` (a workflow's Map, on a failure, also
        waits for the items it stopped)."""
        return join.wait()

    async def _ainvoke(self, input: list[Any], frame: Frame) -> list[Any]:
        items, frames = self._items(input, frame)
        try:
            return await afan_out(
                [
                    functools.partial(acall_node, self.bound, x, f)
                    for x, f in zip(items, frames, strict=True)
                ],
                frames[0].scope if frames else frame.scope,
                skip=lambda i: skip_span(self.bound, frames[i], items[i]),
            )
        except BaseException as exc:
            self._name_failure(exc, frames)
            raise

    def _name_failure(self, exc: BaseException, frames: list[Frame]) -> None:
        name_failed_child(exc, frames, self.get_name(), lambda f: f"item {f.segment}")
