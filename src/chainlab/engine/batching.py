"""Batches: one runnable over many inputs, all items in ONE run.

Because the whole batch is one run, ``max_concurrency`` bounds the leaf calls of all
items together, and after a failure (without ``return_exceptions``) no queued item
starts. Each item gets a root frame of its own (node id ``root``, path ``name[i]``), so
every item maps onto the same graph.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from chainlab.engine.cancel import CancelScope
from chainlab.engine.config import config_list, validate_config
from chainlab.engine.fanout import FanOut, Tasks, Threads
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
    RootRun,
    acall_node,
    awatched_run,
    call_node,
    shared_limit,
    skip_span,
    start_run,
    watched_run,
)

if TYPE_CHECKING:
    from chainlab.engine.base import Runnable

F = TypeVar("F", bound=FanOut)
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


def _fan_out(
    driver: type[F],
    runnable: Runnable[Any, Any],
    inputs: Sequence[Any],
    frames: list[Frame],
    scope: CancelScope,
    return_exceptions: bool,
) -> F:
    """Every item of the batch started on ``driver`` (failures are values if
    ``return_exceptions``)."""
    fan = driver(
        scope,
        on_error="partial" if return_exceptions else "raise",
        window=frames[0].window if frames else None,
        skip=lambda i: skip_span(runnable, frames[i], inputs[i]),
        name=lambda i: frames[i].path,
    )
    run = acall_node if driver is Tasks else call_node
    for item, frame in zip(inputs, frames, strict=True):
        fan.start(run, runnable, item, frame)
    return fan


def _holder(frames: list[Frame]) -> Frame | None:
    """The leaf whose code made this batch call, if any (it lends its slot while it waits)."""
    return frames[0].parent if frames else None


def _batch(
    driver: type[F],
    mode: str,
    runnable: Runnable[Any, Any],
    inputs: Sequence[Any],
    config: Configs,
    return_exceptions: bool,
) -> tuple[F, RootRun, Frame | None]:
    """What ``batch`` and ``abatch`` share: the fan-out over the items, the run's hooks,
    and the leaf that lends its slot meanwhile (None if none does)."""
    frames, scope = batch_frames(runnable, config, len(inputs))
    fan = _fan_out(driver, runnable, inputs, frames, scope, return_exceptions)
    run = RootRun(frames[0] if frames else None, mode, len(inputs), runnable.get_name())
    holder = _holder(frames)
    return fan, run, holder if lend_slot(holder) else None


def batch(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> list[Any]:
    fan, run, lender = _batch(Threads, "batch", runnable, inputs, config, return_exceptions)
    with run:
        try:
            return fan.wait()
        finally:
            if lender is not None:
                reclaim_slot(lender)


async def abatch(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> list[Any]:
    fan, run, lender = _batch(Tasks, "abatch", runnable, inputs, config, return_exceptions)
    with run:
        try:
            return await fan.wait()
        finally:
            if lender is not None:
                await areclaim_slot(lender)


def batch_as_completed(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> Iterator[tuple[int, Any]]:
    frames, scope = batch_frames(runnable, config, len(inputs))
    fan = _fan_out(Threads, runnable, inputs, frames, scope, return_exceptions)
    completed = lend_while_waiting(_holder(frames), fan.as_completed())
    yield from watched_run(frames[0], "batch_as_completed", completed) if frames else completed


async def abatch_as_completed(
    runnable: Runnable[Any, Any], inputs: Sequence[Any], config: Configs, return_exceptions: bool
) -> AsyncIterator[tuple[int, Any]]:
    frames, scope = batch_frames(runnable, config, len(inputs))
    fan = _fan_out(Tasks, runnable, inputs, frames, scope, return_exceptions)
    completed = alend_while_waiting(_holder(frames), fan.as_completed())
    if frames:
        completed = awatched_run(frames[0], "abatch_as_completed", completed)
    async with aclosing(completed) as items:
        async for index, value in items:  # closed at once if the consumer stops early
            yield index, value
