"""RunnableParallel: one input, many branches at once, one dict out.

    input ──┬─▶ branch "joke" ──┐
            ├─▶ branch "poem" ──┼─▶ {"joke": ..., "poem": ...}
            └─▶ branch "fact" ──┘
           fan-out           fan-in

Under ``invoke`` each branch runs on a thread of the engine's pool; under ``ainvoke``
each branch is a task. The first failing branch fails the whole parallel at once
(fail-fast) with a note naming the branch; siblings not yet started never start.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from chainlab.engine.base import Runnable, coerce_to_runnable
from chainlab.engine.errors import name_failed_child
from chainlab.engine.fanout import afan_out, aiter_completed, fan_out
from chainlab.engine.run import Frame, acall_node, call_node, skip_span


class RunnableParallel(Runnable[Any, dict[str, Any]]):
    """Run several runnables on the same input concurrently; return a dict of outputs.

    >>> from chainlab import RunnableParallel
    >>> RunnableParallel(double=lambda x: 2 * x, square=lambda x: x * x).invoke(3)
    {'double': 6, 'square': 9}

    A dict inside a chain is the same thing: ``{"a": f, "b": g} | h``.
    """

    kind = "parallel"

    def __init__(
        self,
        steps__: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        merged = {**(steps__ or {}), **kwargs}
        steps: dict[str, Runnable[Any, Any]] = {}
        for key, value in merged.items():
            if not isinstance(key, str):
                raise TypeError(f"RunnableParallel branch names must be str, got {key!r}")
            steps[key] = coerce_to_runnable(value, where=f"for branch {key!r} of RunnableParallel")
        self.steps__ = steps
        self.name = name

    @property
    def steps(self) -> dict[str, Runnable[Any, Any]]:
        return self.steps__

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or f"RunnableParallel<{','.join(self.steps__)}>"
        return f"{base}{suffix}" if suffix else base

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return [(key, key, step) for key, step in self.steps__.items()]

    # -- fan-out / fan-in ---------------------------------------------------------------

    def _branches(self, frame: Frame) -> tuple[list[str], list[Runnable[Any, Any]], list[Frame]]:
        scope = frame.scope.child()  # a failure here cancels these branches only
        keys = list(self.steps__)
        steps = list(self.steps__.values())
        return keys, steps, [frame.child(key, scope=scope) for key in keys]

    def _invoke(self, input: Any, frame: Frame) -> dict[str, Any]:
        keys, steps, frames = self._branches(frame)
        join = fan_out(
            [functools.partial(call_node, s, input, f) for s, f in zip(steps, frames, strict=True)],
            frames[0].scope if frames else frame.scope,
            skip=lambda i: skip_span(steps[i], frames[i], input),
            window=frame.window,
        )
        try:
            results = join.wait()
        except BaseException as exc:
            self._name_failure(exc, frames)
            raise
        return dict(zip(keys, results, strict=True))

    async def _ainvoke(self, input: Any, frame: Frame) -> dict[str, Any]:
        keys, steps, frames = self._branches(frame)
        try:
            results = await afan_out(
                [
                    functools.partial(acall_node, s, input, f)
                    for s, f in zip(steps, frames, strict=True)
                ],
                frames[0].scope if frames else frame.scope,
                skip=lambda i: skip_span(steps[i], frames[i], input),
            )
        except BaseException as exc:
            self._name_failure(exc, frames)
            raise
        return dict(zip(keys, results, strict=True))

    def _stream(self, input: Any, frame: Frame) -> Iterator[dict[str, Any]]:
        """Yield ``{key: value}`` as each branch finishes."""
        keys, steps, frames = self._branches(frame)
        scope = frames[0].scope if frames else frame.scope
        join = fan_out(
            [functools.partial(call_node, s, input, f) for s, f in zip(steps, frames, strict=True)],
            scope,
            skip=lambda i: skip_span(steps[i], frames[i], input),
            window=frame.window,
            stream=True,
        )
        try:
            for index, value, error in join.as_completed():
                if error is not None:
                    self._name_failure(error, frames)
                    raise error
                yield {keys[index]: value}
        finally:
            if join.remaining:  # the consumer stopped early, or a branch failed
                scope.cancel()

    async def _astream(self, input: Any, frame: Frame) -> AsyncIterator[dict[str, Any]]:
        keys, steps, frames = self._branches(frame)
        scope = frames[0].scope if frames else frame.scope
        calls: list[Callable[[], Any]] = [
            functools.partial(acall_node, s, input, f) for s, f in zip(steps, frames, strict=True)
        ]
        try:
            async for index, value in aiter_completed(
                calls, scope, skip=lambda i: skip_span(steps[i], frames[i], input)
            ):
                yield {keys[index]: value}
        except BaseException as exc:
            self._name_failure(exc, frames)
            raise

    def _name_failure(self, exc: BaseException, frames: list[Frame]) -> None:
        name_failed_child(exc, frames, self.get_name(), lambda f: f"branch {f.segment!r}")


RunnableMap = RunnableParallel
"""``RunnableMap`` is another name for :class:`RunnableParallel`, as in LangChain."""
