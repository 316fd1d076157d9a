"""ProcessExecutor: leaf calls on a pool of worker processes, for CPU-bound steps.

Threads share one interpreter lock (the GIL): pure-Python CPU work on 2 threads takes
as long as doing it twice in a row. Processes each have their own interpreter, so
2 processes do it in half the time:

>>> from chainlab import ProcessExecutor, RunnableParallel
>>> def crunch(n):                       # pure-Python CPU work
...     return sum(i * i % 7 for i in range(n))
>>> with ProcessExecutor(max_workers=2) as processes:
...     chain = RunnableParallel(a=crunch, b=crunch).with_config(executor=processes)
...     chain.invoke(100_000)
{'a': 199999, 'b': 199999}

* The pool starts on first use, with every worker, and is reused by every later call
  (starting a process costs ~0.1-0.5 s). The first call waits until all the workers
  are up, so 2 workers run 2 calls at once from the first call on.
  ``config={"executor": "processes"}`` shares one pool of ``os.cpu_count()`` workers
  across the whole program.
* Workers are started with ``"spawn"`` (a fresh interpreter): forking a process that
  runs threads, as the engine does, can deadlock the child.
* Lambdas, closures and notebook functions travel by value (cloudpickle). A script
  (not a notebook) that uses processes needs the usual ``if __name__ == "__main__":``
  guard, as with any spawn-based pool. A script read from stdin (``python - <
  script.py``) works too: it has no file a worker could re-import, so the workers
  start without it (the calls never need it: they travel by value).
* At exit, workers still running a call (one a ``with_timeout`` gave up on may never
  return) or still starting are stopped: Python would otherwise wait for them before
  exiting. Idle workers are told to stop, even if the pool never took a call.
* A worker that dies (killed, out of memory) fails the calls it was running with
  ``BrokenProcessPool``; the next call starts a fresh pool.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from chainlab.executors.remote import RemoteExecutor
from chainlab.executors.worker import run_in_process, start_worker

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from chainlab.engine import Frame


class ProcessExecutor(RemoteExecutor):
    """Run leaf calls in a reused pool of worker processes.

    Args:
        max_workers: how many processes (default: ``os.cpu_count()``).
        start_method: ``"spawn"`` (default) or ``"forkserver"``.

    Use it per runnable (``step.with_config(executor=ProcessExecutor(4))``) or per run
    (``chain.invoke(x, config={"executor": executor})``); call :meth:`close` (or use
    ``with``) to stop the workers, or let them stop with the program.
    """

    where = "a worker process"

    def __init__(self, max_workers: int | None = None, *, start_method: str = "spawn") -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(
                f"start_method must be 'spawn' or 'forkserver', got {start_method!r} "
                "('fork' is unsafe in a process that runs threads)"
            )
        self.max_workers = max_workers or os.cpu_count() or 1
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._starting: ProcessPoolExecutor | None = None  # a pool whose workers start
        self.ready_workers = 0
        """How many workers said "ready" when the pool last started (all, unless one
        died while starting or took over 2 minutes)."""

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers})"

    @property
    def pool(self) -> ProcessPoolExecutor:
        """The pool of workers, started on first use and then reused."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} was closed; create a new one")
            if self._pool is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                context = multiprocessing.get_context(self.start_method)
                ready = context.Queue()
                pool = ProcessPoolExecutor(
                    self.max_workers,
                    mp_context=context,
                    initializer=start_worker,
                    initargs=(ready,),
                )
                weakref.finalize(self, pool.shutdown, wait=False, cancel_futures=True)
                _stop_at_exit(self)  # before the start: an exit during it kills it too
                self._starting = pool
                try:
                    with _no_unimportable_main():
                        _start_every_worker(pool, self.max_workers)
                        self.ready_workers = _wait_until_ready(pool, ready, self.max_workers)
                finally:
                    self._starting = None
                if _exiting:
                    _kill(pool)
                    raise RuntimeError(
                        f"{self!r}: the interpreter began to exit while the workers "
                        "started; they were stopped"
                    )
                self._pool = pool
            return self._pool

    def warm_up(self) -> ProcessExecutor:
        """Start all the workers now (each costs ~0.1-0.5 s), not on the first call;
        it returns once every worker takes calls."""
        self.pool  # noqa: B018 - starting the pool waits for every worker
        return self

    def close(self, wait: bool = True, *, kill: bool = False) -> None:
        """Stop the workers; calls still queued are cancelled. Safe to call twice.

        ``kill=True`` ends the workers at once, even in the middle of a call.
        """
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is None:
            return
        if kill:
            _kill(pool)
        pool.shutdown(wait=wait and not kill, cancel_futures=True)

    shutdown = close

    def _submit(self, payload: bytes, frame: Frame) -> Future[bytes]:
        from concurrent.futures.process import BrokenProcessPool

        pool = self.pool
        try:
            with _exit_lock:  # not after the exit hook looked for calls to stop
                if _exiting:
                    raise RuntimeError(f"{self!r}: the interpreter is exiting")
                return pool.submit(run_in_process, payload)
        except BrokenProcessPool:  # a worker died since the last call: start afresh
            self._discard(pool)
            return self.pool.submit(run_in_process, payload)

    def _failed(self, frame: Frame, exc: BaseException) -> BaseException:
        from concurrent.futures.process import BrokenProcessPool

        if not isinstance(exc, BrokenProcessPool):
            return exc
        with self._lock:
            pool = self._pool
        if pool is not None:
            self._discard(pool)
        error = BrokenProcessPool(
            f"a worker process died while {frame.path!r} was running or queued "
            "(killed, out of memory, or a crash in C code); the next call starts a "
            "fresh pool"
        )
        error.__cause__ = exc
        return error

    def _discard(self, pool: Any) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


_running: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()
_hooked = False
_exiting = False
_exit_lock = threading.Lock()


def _stop_at_exit(executor: ProcessExecutor) -> None:
    """Stop ``executor``'s workers when the interpreter exits, before Python's own exit
    hook of ``concurrent.futures``, which waits for every call still running."""
    global _hooked
    _running.add(executor)
    if not _hooked:  # registered after concurrent.futures' hook, so it runs before it
        threading._register_atexit(_kill_running)  # type: ignore[attr-defined]
        _hooked = True


def _kill_running() -> None:
    """At exit: stop workers running calls nobody waits for any more, and workers
    still starting (a run that gave up before the pool was up leaves no call on it)."""
    global _exiting
    with _exit_lock:
        _exiting = True
    for executor in list(_running):
        starting = executor._starting
        if starting is not None:
            _kill(starting)
        pool = executor._pool
        if pool is not None and getattr(pool, "_pending_work_items", None):
            executor.close(kill=True)


def _kill(pool: Any) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


@contextlib.contextmanager
def _no_unimportable_main() -> Iterator[None]:
    """A ``__main__`` read from stdin (``python - < script.py``) has no file: a spawned
    worker would die trying to re-import it. Hide it while the workers start (chainlab's
    calls travel by value and never need it)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or os.path.exists(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def _wait_until_ready(pool: Any, ready: Any, max_workers: int, timeout: float = 120.0) -> int:
    """Wait until every worker has said "ready" (its initializer ran; it now waits for
    calls). Without this, the first calls after a start queue on whichever worker
    came up first while the others still boot: 2 calls on 2 workers ran one after the
    other. A worker that dies while starting breaks the pool: the next call says so."""
    deadline = time.monotonic() + timeout
    started = 0
    while started < max_workers and time.monotonic() < deadline and not _exiting:
        processes = getattr(pool, "_processes", None) or {}
        if getattr(pool, "_broken", False) or (
            processes and all(not p.is_alive() for p in processes.values())
        ):
            break
        try:
            ready.get(timeout=0.05)
        except queue.Empty:
            continue
        started += 1
    return started


def _start_every_worker(pool: Any, max_workers: int) -> None:
    """Start all the workers now. With 'spawn' a pool starts one worker per call that
    finds none idle; after calls made one at a time it has one worker, and the next
    side-by-side calls would queue on it, one after the other."""
    launch = getattr(pool, "_launch_processes", None)  # CPython 3.11+; before any submit
    manage = getattr(pool, "_start_executor_manager_thread", None)
    if launch is not None and manage is not None:
        launch()
        # The pool's manager thread is what tells idle workers to stop (at shutdown and
        # at exit); a submit starts it, but a pool with no call yet (warm_up(), or a run
        # that gave up while the workers started) had none, and the exit then waited
        # for its idle workers forever.
        manage()
    else:  # another implementation: one submit each (returns at once; they start meanwhile)
        for _ in range(max_workers):
            pool.submit(os.getpid)
