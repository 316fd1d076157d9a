"""The engine's one elastic thread pool.

langchain_core builds a ``ThreadPoolExecutor`` of ``cpu_count + 4`` threads for every
``invoke`` of a RunnableParallel: 32 branches that each wait 50 ms take 6 rounds on a
2-core machine. chainlab keeps one process-wide pool instead:

* a thread is created only when work arrives and no thread is idle,
* idle threads wait for the next piece of work and exit after ``idle_timeout`` s,
* there is no small cap: waiting on I/O costs a thread almost nothing.

>>> from chainlab.engine.pool import get_pool
>>> get_pool().submit(sum, [1, 2, 3]).result()
6
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from chainlab.engine.clock_hooks import current_clock

T = TypeVar("T")

MAX_THREADS = int(os.environ.get("CHAINLAB_MAX_THREADS", "2048"))


class ElasticPool:
    """A thread pool that grows on demand and shrinks when idle."""

    def __init__(self, max_threads: int = MAX_THREADS, idle_timeout: float = 30.0) -> None:
        self.max_threads = max_threads
        self.idle_timeout = idle_timeout
        self._work: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for work that no queued item has claimed yet
        self._threads = 0
        self._serial = 0

    @property
    def size(self) -> int:
        """Threads alive in the pool now."""
        return self._threads

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a pool thread; ``fn`` must handle its own errors."""
        clock = current_clock()
        if clock is not None:  # a virtual clock counts the job as busy from now on
            fn = clock.job(fn)
        self._work.put((fn, args))
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # that idle thread will take this item
                return
            if self._threads >= self.max_threads:
                return  # queued: the next thread to finish takes it
            self._threads += 1
            self._serial += 1
            name = f"chainlab-{self._serial}"
        threading.Thread(target=self._worker, name=name, daemon=True).start()

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

    def _worker(self) -> None:
        work = self._work
        while True:
            try:
                item = work.get(timeout=self.idle_timeout)
            except Empty:
                with self._lock:
                    if self._idle > 0:  # nobody counts on this thread: retire it
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue  # an item was promised to this thread; it is on its way
            if item is None:
                with self._lock:
                    self._threads -= 1
                return
            fn, args = item
            try:
                fn(*args)
            except BaseException:  # pragma: no cover - callers catch their own errors
                pass
            finally:
                del item, fn, args
            with self._lock:
                self._idle += 1


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
