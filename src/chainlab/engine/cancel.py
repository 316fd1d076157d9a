"""Cooperative cancellation.

When a branch fails in fail-fast mode, its siblings that have not started never start,
and the ones already running are asked to stop: their *cancel scope* is cancelled.
Python cannot kill a thread, so running code stops only if it looks:

>>> import chainlab
>>> def step(x):
...     for _ in range(10):
...         if chainlab.cancelled():      # the run failed elsewhere: stop early
...             return None
...         chainlab.sleep(0.001)         # a sleep that wakes up on cancellation
...     return x
>>> chainlab.RunnableLambda(step).invoke(1)
1

Scopes nest: a RunnableParallel opens a child scope for its branches, so a failure
inside one branch of a partial-results parallel cancels only that branch's subtree.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from chainlab.engine import clock_hooks as _hooks
from chainlab.engine.clock import VirtualClock, note_cancel


class Cancelled(Exception):
    """Raised by :func:`sleep` / :func:`asleep` when the run was cancelled."""


class CancelScope:
    """A node of the cancellation tree; cancelled if it or any ancestor is."""

    __slots__ = ("_async_sleepers", "_cancelled", "_waiters", "parent", "reason")

    def __init__(self, parent: CancelScope | None = None) -> None:
        self.parent = parent
        self._cancelled = False
        self.reason: BaseException | None = None
        # shared by the whole tree, created once at the root: cancelling any scope
        # wakes every sleeper of the tree, and each checks whether it is concerned
        if parent is None:
            self._waiters = threading.Condition()
            self._async_sleepers: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = (
                set()
            )
        else:
            self._waiters = parent._waiters
            self._async_sleepers = parent._async_sleepers

    @property
    def cancelled(self) -> bool:
        scope: CancelScope | None = self
        while scope is not None:
            if scope._cancelled:
                return True
            scope = scope.parent
        return False

    def cancel(self, reason: BaseException | None = None) -> None:
        """Cancel this scope and everything under it; wake cooperative sleepers."""
        if self._cancelled:
            return
        self.reason = reason
        self._cancelled = True
        note_cancel()  # a virtual clock wakes this scope's sleepers before jumping
        with self._waiters:
            self._waiters.notify_all()
            sleepers = list(self._async_sleepers)
        for loop, future in sleepers:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, future)

    def child(self) -> CancelScope:
        return CancelScope(self)

    def wait_until(self, done: Callable[[], bool]) -> bool:
        """Block until ``done()`` (True) or until the scope is cancelled (False).

        Whoever makes ``done()`` true calls :meth:`wake` afterwards.
        """
        with self._waiters:
            while not done():
                if self.cancelled:
                    return False
                self._waiters.wait()
        return True

    def wake(self) -> None:
        """Wake the threads blocked in :meth:`wait_until` so they look again."""
        with self._waiters:
            self._waiters.notify_all()

    def sleep(self, seconds: float) -> None:
        """Sleep, but raise :class:`Cancelled` as soon as the scope is cancelled."""
        clock = clock_here()
        if clock is not None:
            if not clock.sleep(seconds, self._waiters, lambda: self.cancelled):
                raise Cancelled("the run was cancelled")
            return
        deadline = time.monotonic() + seconds
        with self._waiters:
            while not self.cancelled:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._waiters.wait(left)
        raise Cancelled("the run was cancelled")

    async def asleep(self, seconds: float) -> None:
        """Async sleep that also ends early when the scope is cancelled."""
        clock = clock_here()
        if clock is not None:
            if not await clock.asleep(seconds, lambda: self.cancelled):
                raise Cancelled("the run was cancelled")
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.cancelled:
            left = deadline - loop.time()
            if left <= 0:
                return
            future: asyncio.Future[None] = loop.create_future()
            timer = loop.call_later(left, _wake, future)
            entry = (loop, future)
            with self._waiters:
                self._async_sleepers.add(entry)
            try:
                await future
            finally:
                timer.cancel()
                with self._waiters:
                    self._async_sleepers.discard(entry)
        raise Cancelled("the run was cancelled")

    async def until_cancelled(self) -> None:
        """Wait, on no clock, until the scope is cancelled (a watch beside real I/O:
        a virtual clock never ends it by jumping ahead)."""
        loop = asyncio.get_running_loop()
        while not self.cancelled:
            future: asyncio.Future[None] = loop.create_future()
            entry = (loop, future)
            with self._waiters:
                self._async_sleepers.add(entry)
            try:
                if not self.cancelled:  # cancelled before we were listed: no wake comes
                    await future
            finally:
                with self._waiters:
                    self._async_sleepers.discard(entry)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def current_scope() -> CancelScope | None:
    """The cancel scope of the node running in this thread or task, if any."""
    from chainlab.engine.run import current_frame

    frame = current_frame()
    return frame.scope if frame is not None else None


def clock_here() -> VirtualClock | None:
    """The clock of the run this code belongs to (else the current one; None: real)."""
    from chainlab.engine.run import current_frame

    frame = current_frame()
    return frame.run.clock if frame is not None else _hooks.current_clock()


def cancelled() -> bool:
    """True when the run this code belongs to has been cancelled (False outside a run)."""
    scope = current_scope()
    return scope is not None and scope.cancelled


def sleep(seconds: float, *, cancellable: bool = True) -> None:
    """``time.sleep`` that raises :class:`Cancelled` early when the run is cancelled.

    On a virtual clock (:mod:`chainlab.engine.clock`) it waits virtual seconds.
    ``cancellable=False``: a wait nothing interrupts, like ``time.sleep`` (blocking
    I/O that never checks :func:`cancelled`), yet on the virtual clock too."""
    scope = current_scope()
    if not cancellable:
        clock = clock_here()
        if clock is None:
            time.sleep(seconds)
        else:
            clock.sleep(seconds)
    elif scope is None:
        clock = _hooks.current_clock()
        if clock is not None:
            clock.sleep(seconds)
            return
        time.sleep(seconds)
    else:
        scope.sleep(seconds)


async def asleep(seconds: float) -> None:
    """``asyncio.sleep`` that raises :class:`Cancelled` early when the run is cancelled.

    Under ``ainvoke`` a failed sibling also cancels the task itself, as usual in asyncio.
    On a virtual clock it waits virtual seconds.
    """
    scope = current_scope()
    if scope is None:
        clock = _hooks.current_clock()
        if clock is not None:
            await clock.asleep(seconds)
            return
        await asyncio.sleep(seconds)
    else:
        await scope.asleep(seconds)


SLICE = 0.1
"""The longest the main thread waits on a lock in one go (so it hears Ctrl-C)."""


def acquire_hearing_ctrl_c(lock: threading.Lock) -> None:
    """``lock.acquire()``; in the main thread in slices of :data:`SLICE` s: a Ctrl-C
    that arrives just before a lock wait begins is heard only once the wait ends (the
    signal handler runs between bytecodes, and a blocked ``acquire`` runs none)."""
    if threading.current_thread() is not threading.main_thread():
        lock.acquire()
        return
    while not lock.acquire(timeout=SLICE):
        pass
