"""One concurrency limit for a whole run, shared by threads and asyncio tasks.

``max_concurrency=N`` means: at most N *leaf* calls (functions, models) of this run at
once, wherever they sit in the tree and whichever driver (``invoke`` / ``ainvoke``)
runs them. Structural nodes (parallels, sequences) never hold a slot while they wait
for their children, so nesting cannot deadlock, even at N = 1.

Waiters are served first come, first served. A sync waiter blocks on its own lock; an
async waiter awaits a future that the releasing thread resolves on the waiter's loop.
On a virtual clock a waiter counts as waiting, and the releaser makes it busy again
before waking it (a hand-over, see :mod:`chainlab.engine.clock`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from chainlab.engine import clock_hooks as _clock
from chainlab.engine.cancel import acquire_hearing_ctrl_c


class Limiter:
    """A FIFO semaphore usable from threads and from event loops alike."""

    __slots__ = ("_blocked", "_free", "_lock", "_waiters", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = limit
        self._lock = threading.Lock()
        self._waiters: deque[threading.Lock | _AsyncWaiter] = deque()
        self._blocked: dict[int, _clock.Waiting] = {}  # waiter id -> its virtual-clock wait

    @property
    def in_use(self) -> int:
        return self.limit - self._free

    def acquire(self) -> None:
        """Take a slot, blocking this thread until one is free."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
            self._wait_on_clock(gate)
        _clock.poke()
        try:
            acquire_hearing_ctrl_c(gate)  # released by release(), which hands us its slot
        except BaseException:  # KeyboardInterrupt while waiting: give the slot back
            self._abandon(gate)
            raise

    async def aacquire(self) -> None:
        """Take a slot, suspending this task until one is free."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            entry = _AsyncWaiter(loop)
            self._waiters.append(entry)
            self._wait_on_clock(entry)
        _clock.poke()
        try:
            await entry.future
        except BaseException:  # cancelled while waiting (or closed with its dead loop)
            self._abandon(entry)
            raise

    def release(self) -> None:
        """Give a slot back, or hand it directly to the longest waiter."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiting = self._blocked.pop(id(waiter), None)
                if waiting is not None:
                    waiting.end()  # busy again before it wakes: a hand-over
                if isinstance(waiter, _AsyncWaiter):
                    try:
                        waiter.loop.call_soon_threadsafe(_resolve, waiter.future)
                    except RuntimeError:  # its loop is closed: nobody will take the slot
                        continue
                    waiter.granted = True
                else:
                    waiter.release()
                return
            self._free += 1

    def _wait_on_clock(self, waiter: threading.Lock | _AsyncWaiter) -> None:
        waiting = _clock.start_waiting(awaits=isinstance(waiter, _AsyncWaiter))
        if waiting is not None:
            self._blocked[id(waiter)] = waiting

    def _abandon(self, waiter: threading.Lock | _AsyncWaiter) -> None:
        with self._lock:
            try:
                self._waiters.remove(waiter)
                waiting = self._blocked.pop(id(waiter), None)
                if waiting is not None:
                    waiting.end()
                return  # never got a slot
            except ValueError:
                pass
            if isinstance(waiter, _AsyncWaiter) and not waiter.granted:
                return  # skipped (its loop had closed): it never got a slot either
        self.release()  # the slot was handed over just as we gave up: pass it on


class _AsyncWaiter:
    """An event-loop waiter: the future to resolve on its loop, and whether
    :meth:`Limiter.release` handed it a slot."""

    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
    else:  # the waiter was cancelled after the slot was handed over
        pass
