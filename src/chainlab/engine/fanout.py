"""Fan-out and fan-in: run N independent calls at once, collect N results.

This is the heart of RunnableParallel, ``.map()`` and ``batch``. One picture:

    caller ──fan-out──▶ worker 1: pulls call 0, then the next free index, ...
                        worker 2: pulls call 1, ...           (pool threads / tasks)
           ◀─fan-in──── Join: results[i], the first error, "all done"

* Workers pull indices from a shared counter, so a fast worker drains trivial calls
  before the others even wake up, and slow calls each get their own worker.
* With a concurrency limit ``window``, only ``window`` workers are started.
* Fail fast: the first error wakes the caller at once; the calls nobody has pulled
  yet are recorded as cancelled and never start; the cancel scope tells the running
  ones to stop if they can.
* The caller never runs a call itself: it stays free to raise (and to receive Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from queue import SimpleQueue
from typing import Any

from chainlab.engine import clock_hooks as _clock
from chainlab.engine.cancel import Cancelled, CancelScope
from chainlab.engine.errors import also_failed
from chainlab.engine.pool import get_pool

CANCEL_GRACE = 1.0
"""Seconds a cancelled sibling task gets to finish before the error is raised anyway."""

Call = Callable[[], Any]
ACall = Callable[[], Coroutine[Any, Any, Any]]
Skip = Callable[[int], None]


class Join:
    """Where the results of one fan-out come together."""

    __slots__ = (
        "_completions",
        "_done",
        "_lock",
        "_settled",
        "_waiting",
        "error",
        "fail_fast",
        "remaining",
        "results",
        "scope",
    )

    def __init__(self, n: int, scope: CancelScope, fail_fast: bool, stream: bool) -> None:
        self.results: list[Any] = [None] * n
        self.remaining = n
        self.error: BaseException | None = None
        self.scope = scope
        self.fail_fast = fail_fast
        self._lock = threading.Lock()
        self._done = threading.Lock()
        self._done.acquire()
        self._completions: SimpleQueue[tuple[int, Any, BaseException | None]] | None = (
            SimpleQueue() if stream else None
        )
        self._settled: threading.Event | None = None  # see settle()
        self._waiting: _clock.Waiting | None = None  # the caller, on a virtual clock
        if n == 0:
            self._done.release()

    @property
    def stopped(self) -> bool:
        """True once the fan-out failed (fail-fast) or its scope was cancelled."""
        return self.error is not None or self.scope.cancelled

    def finish(self, index: int, value: Any, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self.results[index] = value
            elif self.fail_fast and self.error is None:
                self.error = error
                self.scope.cancel(error)
            elif self.fail_fast and not isinstance(error, Cancelled) and self.error is not None:
                also_failed(self.error, error)
            elif not self.fail_fast:
                self.results[index] = error
            self.remaining -= 1
            finished = self.remaining == 0 or (self.error is error and error is not None)
            if self.remaining == 0 and self._settled is not None:
                self._settled.set()
            if finished:
                self._hand_over()
        if self._completions is not None:
            self._completions.put((index, value, error))
            with self._lock:
                self._hand_over()
        if finished and self._done.locked():
            try:
                self._done.release()
            except RuntimeError:  # released twice by a race between the last two
                pass

    def _hand_over(self) -> None:
        """(Under the lock) the waiting caller is busy again before it wakes."""
        if self._waiting is not None:
            self._waiting.end()
            self._waiting = None

    def _wait_on_clock(self, ready: Callable[[], bool]) -> None:
        """On a virtual clock, the caller waits (unless ``ready()``) for a hand-over."""
        with self._lock:
            if not ready() and self._waiting is None:
                self._waiting = _clock.start_waiting()
        _clock.poke()

    def wait(self) -> list[Any]:
        """Block until every call is done (or the first failure), then fan in."""
        self._wait_on_clock(lambda: self.remaining == 0 or self.error is not None)
        try:
            self._done.acquire()
        except BaseException as exc:  # Ctrl-C while waiting: stop everything
            self.scope.cancel(exc)
            raise
        if self.error is not None:
            raise self.error
        return self.results

    def settle(self, seconds: float) -> bool:
        """After a failure, wait (at most ``seconds``) until every call has ended or been
        skipped, not only the first failure; True if they all have."""
        with self._lock:
            if self.remaining == 0:
                return True
            self._settled = threading.Event()
        return self._settled.wait(seconds)

    def wait_for(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for the fan-out to settle; True if it did."""
        self._wait_on_clock(lambda: self.remaining == 0 or self.error is not None)
        try:
            if self._done.acquire(timeout=seconds):
                self._done.release()
                return True
            return False
        finally:
            with self._lock:
                self._hand_over()  # timed out: nobody handed over, busy again

    def as_completed(self) -> Iterator[tuple[int, Any, BaseException | None]]:
        """Yield ``(index, value, error)`` as calls finish; stop at the first failure."""
        assert self._completions is not None
        queue = self._completions
        for _ in range(len(self.results)):
            self._wait_on_clock(lambda: not queue.empty())
            try:
                item = self._completions.get()
            except BaseException as exc:
                self.scope.cancel(exc)
                raise
            yield item
            if item[2] is not None and self.fail_fast:
                return


def fan_out(
    calls: list[Call],
    scope: CancelScope,
    *,
    skip: Skip,
    window: int | None = None,
    fail_fast: bool = True,
    stream: bool = False,
) -> Join:
    """Start ``calls`` on the engine's pool and return their :class:`Join`.

    ``skip(i)`` is called instead of ``calls[i]`` once the fan-out has stopped.
    """
    n = len(calls)
    join = Join(n, scope, fail_fast, stream)
    counter = itertools.count()

    def worker(context: contextvars.Context) -> None:
        for index in counter:
            if index >= n:
                return
            if join.stopped:
                skip(index)
                join.finish(index, None, Cancelled("not started: the fan-out was cancelled"))
                continue
            try:
                value = context.run(calls[index])
            except BaseException as exc:
                join.finish(index, None, exc)
            else:
                join.finish(index, value, None)

    pool = get_pool()
    workers = n if window is None else min(n, window)
    with _clock.busy():  # a virtual clock waits until every worker is submitted
        for _ in range(workers):
            pool.run(worker, contextvars.copy_context())
    return join


async def afan_out(
    calls: list[ACall],
    scope: CancelScope,
    *,
    skip: Skip,
    fail_fast: bool = True,
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
    done: asyncio.Future[None] = loop.create_future()
    remaining = n

    def settle(task: asyncio.Task[Any]) -> None:
        nonlocal remaining
        if done.done():
            late = None if task.cancelled() else task.exception()
            first = None if done.cancelled() else done.exception()
            if late is not None and first is not None and not isinstance(late, Cancelled):
                also_failed(first, late)
            return
        if task.cancelled():  # user code cancelled itself: that fails the fan-out
            done.set_exception(asyncio.CancelledError("a branch was cancelled"))
            return
        error = task.exception()
        if fail_fast and error is not None:
            # cancel now, in this callback: a queued sibling that the failed leaf's
            # freed slot is waking up runs after us, sees the scope and never starts
            scope.cancel(error)
            done.set_exception(error)
            return
        remaining -= 1
        if remaining == 0:
            done.set_result(None)

    tasks = [loop.create_task(call()) for call in calls]
    for task in tasks:
        task.add_done_callback(settle)
    try:
        await done
    except BaseException as exc:
        scope.cancel(exc)
        await _cancel_all(tasks, skip)
        raise
    return [t.exception() or t.result() if not fail_fast else t.result() for t in tasks]


async def aiter_completed(
    calls: list[ACall], scope: CancelScope, *, skip: Skip
) -> AsyncGenerator[tuple[int, Any], None]:
    """Yield ``(index, value)`` as the calls finish; the first failure raises."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int] = asyncio.Queue()
    tasks = [loop.create_task(call()) for call in calls]
    for index, task in enumerate(tasks):
        task.add_done_callback(functools.partial(_announce, queue, index))
    try:
        for _ in range(len(tasks)):
            index = await queue.get()
            yield index, tasks[index].result()
    finally:
        if any(not t.done() for t in tasks):
            scope.cancel()
            await _cancel_all(tasks, skip)


async def _cancel_all(tasks: list[asyncio.Task[Any]], skip: Skip) -> None:
    """Cancel the unfinished tasks and let them finish (a few loop turns for
    well-behaved code; at most 1 s for code that swallows cancellation)."""
    unfinished = []
    for index, task in enumerate(tasks):
        if not task.done():
            task.cancel()
            skip(index)  # recorded as cancelled unless it had already started
            unfinished.append(task)
    if unfinished:
        await asyncio.wait(unfinished, timeout=CANCEL_GRACE)


def _announce(queue: asyncio.Queue[int], index: int, _: object) -> None:
    queue.put_nowait(index)
