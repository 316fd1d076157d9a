"""The asyncio fan-out: one task per call (``afan_out``, ``aiter_completed``).

The twin of ``fanout.py`` for ``ainvoke``: the first failure cancels the sibling tasks,
lets them finish (a few loop turns; at most :data:`CANCEL_GRACE` for code that swallows
cancellation) and raises, so no task is left pending and no failure goes unretrieved.
A ``CancelledError`` that a call's own code raises (nobody cancelled its task) is that
call's failure, like any exception, never a cancellation of the caller; a fatal
``BaseException`` (``SystemExit``...) fails the fan-out whatever its mode.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

from chainlab.engine import clock_hooks as _clock
from chainlab.engine.cancel import Cancelled, CancelScope
from chainlab.engine.errors import also_failed, stops

CANCEL_GRACE = 1.0
"""Seconds a cancelled sibling task gets to finish before the error is raised anyway."""

ACall = Callable[[], Coroutine[Any, Any, Any]]
Skip = Callable[[int], None]


class Raised:
    """The outcome of a task whose own code raised ``CancelledError`` although nobody
    cancelled it: a failure of that call, not a cancellation of the caller."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def own_cancellation(call: ACall) -> Any:
    """Await ``call()``; a ``CancelledError`` its code raised by itself (the task was not
    cancelled) comes back as :class:`Raised`, so asyncio does not mark the task cancelled."""
    try:
        return await call()
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # a real cancellation (a failed sibling, the caller, a timeout)
        return Raised(exc)


def _outcome(task: asyncio.Task[Any]) -> tuple[Any, BaseException | None]:
    """``(value, error)`` of a finished, not cancelled task."""
    error = task.exception()
    if error is not None:
        return None, error
    value = task.result()
    if isinstance(value, Raised):
        return None, value.error
    return value, None


async def afan_out(
    calls: list[ACall],
    scope: CancelScope,
    *,
    skip: Skip,
    fail_fast: bool = True,
    grace: float = CANCEL_GRACE,
) -> list[Any]:
    """The asyncio twin of :func:`fan_out`: one task per call.

    Tasks are cheap (10,000 waiting calls cost a few MB), so there is no window:
    the run's limiter, awaited inside each leaf, does the throttling. The first
    failure cancels the sibling tasks and raises at once.
    """
    n = len(calls)
    if n == 0:
        return []
    loop = asyncio.get_running_loop()
    # the first failure is the future's *result*, raised here: a future's exception is
    # thrown into the awaiting coroutine, and a thrown GeneratorExit would close it
    done: asyncio.Future[BaseException | None] = loop.create_future()
    remaining = n

    def settle(task: asyncio.Task[Any]) -> None:
        nonlocal remaining
        if task.cancelled():  # by us once the fan-out is over; else from outside
            if not done.done():
                done.set_result(asyncio.CancelledError("a branch was cancelled"))
            return
        _, error = _outcome(task)
        if done.done():
            first = None if done.cancelled() else done.result()
            if error is not None and first is not None and not isinstance(error, Cancelled):
                also_failed(first, error)
            return
        if error is not None and stops(error, fail_fast):
            # cancel now, in this callback: a queued sibling that the failed leaf's
            # freed slot is waking up runs after us, sees the scope and never starts
            scope.cancel(error)
            done.set_result(error)
            return
        remaining -= 1
        if remaining == 0:
            done.set_result(None)

    tasks = [_clock.create_task(loop, own_cancellation(call)) for call in calls]
    for task in tasks:
        task.add_done_callback(settle)
    try:
        first = await done
        if first is not None:
            raise first
    except BaseException as exc:
        scope.cancel(exc)
        await cancel_all(tasks, skip, grace)
        raise
    outcomes = [_outcome(t) for t in tasks]
    return [value if error is None else error for value, error in outcomes]


async def aiter_completed(
    calls: list[ACall],
    scope: CancelScope,
    skip: Skip,
    fail_fast: bool = True,
    grace: float = CANCEL_GRACE,
) -> AsyncGenerator[tuple[int, Any], None]:
    """Yield ``(index, value)`` as the calls finish; the first failure raises (the
    failures of siblings that ended meanwhile are attached to it as notes). Without
    ``fail_fast`` a failure that is not fatal is yielded as the value."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int] = asyncio.Queue()
    tasks = [_clock.create_task(loop, own_cancellation(call)) for call in calls]
    for index, task in enumerate(tasks):
        task.add_done_callback(functools.partial(_announce, queue, index))
    first: BaseException | None = None
    try:
        for _ in range(len(tasks)):
            index = await queue.get()
            value, error = _outcome(tasks[index])
            if error is not None and stops(error, fail_fast):
                first = error
                raise first
            yield index, (value if error is None else error)
    finally:
        if any(not t.done() for t in tasks):
            scope.cancel(first)
            await cancel_all(tasks, skip, grace)
        collect_late_failures(tasks, first)


def collect_late_failures(tasks: list[asyncio.Task[Any]], first: BaseException | None) -> None:
    """Retrieve every ended task's failure (so asyncio never logs "Task exception was
    never retrieved"), attaching the real ones to ``first`` as notes."""
    for task in tasks:
        if not task.done() or task.cancelled():
            continue
        _, error = _outcome(task)
        if error is None or first is None or error is first or isinstance(error, Cancelled):
            continue
        also_failed(first, error)


async def cancel_all(
    tasks: list[asyncio.Task[Any]], skip: Skip, grace: float = CANCEL_GRACE
) -> None:
    """Cancel the unfinished tasks and let them finish (a few loop turns for
    well-behaved code; at most ``grace`` seconds for code that swallows cancellation)."""
    unfinished = []
    for index, task in enumerate(tasks):
        if not task.done():
            task.cancel()
            skip(index)  # recorded as cancelled unless it had already started
            unfinished.append(task)
    if unfinished:
        await asyncio.wait(unfinished, timeout=grace)


def _announce(queue: asyncio.Queue[int], index: int, _: object) -> None:
    queue.put_nowait(index)
