"""Batches: one runnable over many inputs, all items in ONE run.

Because the whole batch is one run, ``max_concurrency`` bounds the leaf calls of all
items together, and after a failure (without ``return_exceptions``) no queued item
starts. Each item gets a root frame of its own (node id ``root``, path ``name[i]``), so
every item maps onto the same graph.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from chainlab.engine.cancel import CancelScope
from chainlab.engine.config import config_list, validate_config
from chainlab.engine.fanout import Join, afan_out, aiter_completed, fan_out
from chainlab.engine.lending import (
    alend_while_waiting,
    areclaim_slot,
    lend_slot,
    lend_while_waiting,
    reclaim_slot,
)
from chainlab.engine.run import (
    ROOT_ID,
    Frame,
    acall_node,
    call_node,
    shared_limit,
    skip_span,
    start_run,
)

if TYPE_CHECKING:
    from chainlab.engine.base import Runnable

Configs = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


def batch_frames(
    runnable: Runnable[Any, Any], config: Configs, n: int
) -> tuple[list[Frame], CancelScope]:
    """One frame per item, all in one run (so one limiter and one tracer)."""
    configs = config_list(config, n)
    if not configs:
        return [], CancelScope()
    first = start_run(runnable, configs[0])
    name = runnable.get_name()
    if first.parent is not None:  # batch called from inside a running chain
        scope = first.scope.child()
        frames = [first.parent.child(f"{name}[{i}]", "call:" + name, scope) for i in range(n)]
        for frame in frames:  # the config's changes, and its limit, shared by every item
            frame.config, frame.limiters = first.config, first.limiters
        return shared_limit(runnable, frames), scope
    frames = [first]
    for cfg in configs[1:]:
        validate_config(cfg)
        frames.append(Frame(first.run, None, "", ROOT_ID, first.scope, cfg, first.limiters))
    for i, frame in enumerate(frames):
        frame.segment = f"{frame.config.get('run_name') or name}[{i}]"
    return shared_limit(runnable, frames), first.scope


def _skipper(
    runnable: Runnable[Any, Any], frames: list[Frame], inputs: Sequence[Any]
) -> Callable[[int], None]:
    return lambda i: skip_span(runnable, frames[i], inputs[i])


def _holder(frames: list[Frame]) -> Frame | None:
    """The leaf whose code made this batch call, if any (it lends its slot while it waits)."""
    return frames[0].parent if frames else None


def _start(
    runnable: Runnable[Any, Any],
    inputs: Sequence[Any],
    frames: list[Frame],
    scope: CancelScope,
    return_exceptions: bool,
    stream: bool = False,
) -> Join:
    """Start every item on the pool (threads); the caller waits on the join."""
    return fan_out(
        [functools.partial(call_node, runnable, x, f) for x, f in zip(inputs, frames, strict=True)],
        scope,
        skip=_skipper(runnable, frames, inputs),
        name=lambda i: frames[i].path,
        window=frames[0].window if frames else None,
        fail_fast=not return_exceptions,
        stream=stream,
    )


def batch(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> list[Any]:
    frames, scope = batch_frames(runnable, config, len(inputs))
    holder = _holder(frames)
    lent = lend_slot(holder)
    try:
        return _start(runnable, inputs, frames, scope, return_exceptions).wait()
    finally:
        if lent:
            assert holder is not None
            reclaim_slot(holder)


async def abatch(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> list[Any]:
    frames, scope = batch_frames(runnable, config, len(inputs))
    holder = _holder(frames)
    lent = lend_slot(holder)
    try:
        return await afan_out(
            [
                functools.partial(acall_node, runnable, x, f)
                for x, f in zip(inputs, frames, strict=True)
            ],
            scope,
            skip=_skipper(runnable, frames, inputs),
            fail_fast=not return_exceptions,
        )
    finally:
        if lent:
            assert holder is not None
            await areclaim_slot(holder)


def batch_as_completed(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> Iterator[tuple[int, Any]]:
    frames, scope = batch_frames(runnable, config, len(inputs))
    join = _start(runnable, inputs, frames, scope, return_exceptions, stream=True)
    yield from lend_while_waiting(_holder(frames), _completed(join, scope, return_exceptions))


def _completed(
    join: Join, scope: CancelScope, return_exceptions: bool
) -> Iterator[tuple[int, Any]]:
    try:
        for index, value, error in join.as_completed():
            if error is not None and not return_exceptions:
                raise error
            yield index, (error if error is not None else value)
    finally:
        if join.remaining:  # the consumer stopped early: stop the rest
            scope.cancel()


async def abatch_as_completed(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> AsyncIterator[tuple[int, Any]]:
    frames, scope = batch_frames(runnable, config, len(inputs))

    def item(i: int) -> Callable[[], Any]:
        async def call() -> Any:
            try:
                return await acall_node(runnable, inputs[i], frames[i])
            except Exception as exc:
                if return_exceptions:
                    return exc
                raise

        return call

    calls = [item(i) for i in range(len(inputs))]
    completed = aiter_completed(calls, scope, skip=_skipper(runnable, frames, inputs))
    async with aclosing(alend_while_waiting(_holder(frames), completed)) as items:
        async for index, value in items:  # closed at once if the consumer stops early
            yield index, value
