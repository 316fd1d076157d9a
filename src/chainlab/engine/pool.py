"""The engine's one elastic thread pool.

langchain_core builds a ``ThreadPoolExecutor`` of ``cpu_count + 4`` threads for every
``invoke`` of a RunnableParallel: 32 branches that each wait 50 ms take 6 rounds on a
2-core machine. chainlab keeps one process-wide pool instead:

* a thread is created only when work arrives and no thread is idle,
* idle threads wait for the next piece of work and exit after ``idle_timeout`` s,
* the cap (``CHAINLAB_MAX_THREADS``) counts threads that *run*: a thread that waits
  for something it cannot help with (a deadline, an event loop) steps out of the cap
  while it waits (:meth:`ElasticPool.blocking`), and a thread running a call the engine
  gave up on leaves the pool for good (:meth:`ElasticPool.detach`).

A fan-out never queues behind the cap: it asks :meth:`ElasticPool.try_run` and, when
no thread can be had, its waiting caller runs the work itself (``fanout.py``).

>>> from chainlab.engine.pool import get_pool
>>> get_pool().submit(sum, [1, 2, 3]).result()
6
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from chainlab.engine.clock import Job
from chainlab.engine.clock_hooks import current_clock

T = TypeVar("T")
Item = tuple[Callable[..., Any], tuple[Any, ...]]

MAX_THREADS = max(1, int(os.environ.get("CHAINLAB_MAX_THREADS", "2048")))


class PoolThread(threading.Thread):
    """A worker of an :class:`ElasticPool`; ``detached`` once it left the pool."""

    detached = False
    chainlab_followed = True  # a virtual clock follows what it runs (clock_hooks)


class ElasticPool:
    """A thread pool that grows on demand and shrinks when idle."""

    def __init__(self, max_threads: int = MAX_THREADS, idle_timeout: float = 30.0) -> None:
        self.max_threads = max_threads
        self.idle_timeout = idle_timeout
        self._work: SimpleQueue[Item | None] = SimpleQueue()  # each item has a thread
        self._overflow: deque[Item] = deque()  # items waiting for a thread to be free
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for work that no queued item has claimed yet
        self._threads = 0
        self._blocked = 0  # pool threads stepped out of the cap (see blocking())
        self._serial = 0

    @property
    def size(self) -> int:
        """Threads in the pool now (detached ones are no longer counted)."""
        return self._threads

    @property
    def idle(self) -> int:
        """Threads waiting for work now (they exit after ``idle_timeout`` s of it)."""
        return self._idle

    def try_run(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Start ``fn(*args)`` on a pool thread now, if one is idle or the cap allows a
        new one; False (and nothing queued) if not."""
        job = _counted(fn)
        if self._try_run(job, args):
            return True
        if isinstance(job, Job):
            job.discard()
        return False

    def _try_run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # that idle thread will take this item
                self._work.put((fn, args))
                return True
            if self._threads - self._blocked >= self.max_threads:
                return False
            self._threads += 1
            self._serial += 1
            name = f"chainlab-{self._serial}"
        thread = PoolThread(target=self._worker, args=((fn, args),), name=name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # the system refuses more threads: the caller copes
            with self._lock:
                self._threads -= 1
            return False
        return True

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a pool thread; queued if the pool is at its cap (the
        next thread to finish takes it). ``fn`` must handle its own errors."""
        job = _counted(fn)  # on a virtual clock: busy from now, queued or not
        if not self._try_run(job, args):
            with self._lock:
                self._overflow.append((job, args))
            self._drain_overflow()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Like ``Executor.submit``: run ``fn(*args)`` and return a future."""
        future: Future[T] = Future()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self.run(call)
        return future

    @contextmanager
    def blocking(self) -> Iterator[None]:
        """Around a wait the calling pool thread cannot help with (a deadline, an event
        loop's work): it leaves its place in the cap to another thread meanwhile."""
        thread = threading.current_thread()
        if not isinstance(thread, PoolThread) or thread.detached:
            yield
            return
        with self._lock:
            self._blocked += 1
        self._drain_overflow()
        try:
            yield
        finally:
            with self._lock:
                self._blocked -= 1

    def detach(self, thread: threading.Thread) -> None:
        """``thread`` runs a call the engine gave up on: it no longer counts in the pool
        (so it never holds a place healthy work needs) and exits when the call ends."""
        if not isinstance(thread, PoolThread):
            return
        with self._lock:
            if thread.detached:
                return
            thread.detached = True
            self._threads -= 1
        self._drain_overflow()

    def _drain_overflow(self) -> None:
        """Start threads for queued items while the cap allows."""
        while True:
            with self._lock:
                if not self._overflow or self._threads - self._blocked >= self.max_threads:
                    return
                fn, args = self._overflow.popleft()
            if not self.try_run(fn, *args):
                with self._lock:
                    self._overflow.appendleft((fn, args))
                return

    def _next(self, thread: PoolThread) -> Item | None:
        """The next item for ``thread``, or None when it should exit."""
        with self._lock:
            if thread.detached:
                return None
            if self._overflow:
                return self._overflow.popleft()
            if self._threads - self._blocked > self.max_threads:  # over the cap: retire
                self._threads -= 1
                return None
            self._idle += 1
        while True:
            try:
                item = self._work.get(timeout=self.idle_timeout)
            except Empty:
                with self._lock:
                    if self._idle > 0:  # nobody counts on this thread: retire it
                        self._idle -= 1
                        self._threads -= 1
                        return None
                continue  # an item was promised to this thread; it is on its way
            if item is None:  # told to exit (tests): an unclaimed item
                with self._lock:
                    self._idle -= 1
                    self._threads -= 1
            return item

    def _worker(self, first: Item) -> None:
        thread = threading.current_thread()
        assert isinstance(thread, PoolThread)
        item: Item | None = first
        while item is not None:
            fn, args = item
            try:
                fn(*args)
            except BaseException:  # pragma: no cover - callers catch their own errors
                pass
            finally:
                del item, fn, args
            item = self._next(thread)


_pool: ElasticPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> ElasticPool:
    """The process-wide pool (created on first use)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ElasticPool()
    return _pool


def _counted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, counted as a busy job on the current virtual clock (if any)."""
    clock = current_clock()
    return fn if clock is None else clock.job(fn)
