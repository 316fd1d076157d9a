"""What every executor that sends leaf calls elsewhere does the same way.

A :class:`RemoteExecutor` turns one leaf call into one task on a
``concurrent.futures``-style pool (a process pool, a Dask client's executor):

1. **pack**: ``cloudpickle`` the function and its input, in the calling thread, so an
   unpicklable leaf fails at once, naming its branch (``pickling.py``);
2. **submit**: hand the bytes to the pool (subclasses implement :meth:`_submit`);
3. **wait**: block this engine thread (``invoke``) or await (``ainvoke``) while watching
   the run's cancel scope: when the run gives up on the call (a sibling failed, a
   timeout), drop the task if it has not started and raise ``Cancelled``. A task that
   already started runs to its end (nothing can stop it), and is still counted as
   work until then, exactly like a thread running user code: under ``invoke`` this
   engine thread stays with it until it ends; under ``ainvoke`` (and on Ctrl-C) the
   caller moves on at once and the call is counted by ``abandoned_calls()`` and keeps
   its ``max_concurrency`` slot until its future is done;
4. **unpack**: return the result or re-raise the original exception, and move the
   leaf's span to the real remote start/end on a lane naming the worker.

The concurrency limit, the fan-out, tracing and cancellation all stay here, in the
calling process: a remote worker never waits for another, so nothing can deadlock on
worker slots.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import CancelledError, Future, wait
from typing import TYPE_CHECKING, Any

import cloudpickle

from chainlab.engine import Cancelled, Runnable, abandon_call
from chainlab.executors.errors import RemoteTraceback
from chainlab.executors.pickling import pack

if TYPE_CHECKING:
    from collections.abc import Callable

    from chainlab.engine import Frame

POLL_S = 0.05
"""How often a waiting leaf looks at its cancel scope (bounds fail-fast latency)."""


class RemoteExecutor:
    """Base class: runs each leaf call as one task of a ``concurrent.futures`` pool.

    Subclasses implement :meth:`_submit` (and usually :meth:`close`).
    """

    where = "a remote worker"
    """How errors name the place (``"a worker process"``, ``"Dask"``)."""

    # -- the executor boundary (see chainlab.engine.executors.LeafExecutor) -----------

    def call(self, frame: Frame, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run ``fn(*args)`` remotely; block this thread until it is done."""
        if frame.scope.cancelled:
            raise self._cancelled(frame)
        future = self._submit(pack(frame, fn, args, self.where), frame)
        try:
            outcome = self._wait(frame, future)
        except Cancelled:  # the run gave up (a timeout, a failed sibling)
            self._cancel(future)  # dropped if it has not started, else:
            self._stay_until_done(frame, future)  # as a thread running it would
            raise
        except BaseException:  # Ctrl-C: stop waiting now, the call runs on
            self._give_up(frame, future)
            raise
        return self._unpack(frame, outcome)

    async def acall(self, frame: Frame, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run ``fn(*args)`` remotely without blocking the event loop."""
        if frame.scope.cancelled:
            raise self._cancelled(frame)
        future = self._submit(pack(frame, fn, args, self.where), frame)
        waiter = asyncio.wrap_future(future)
        try:
            while True:
                done, _ = await asyncio.wait((waiter,), timeout=POLL_S)
                if done:
                    break
                if frame.scope.cancelled:
                    raise self._cancelled(frame)
            try:
                outcome = waiter.result()
            except asyncio.CancelledError:
                raise self._cancelled(frame) from None
            except BaseException as exc:
                raise self._failed(frame, exc)  # noqa: B904 (exc itself, or a clearer error)
        except BaseException:  # cancelled: the task must end now, the call runs on
            self._give_up(frame, future)
            raise
        return self._unpack(frame, outcome)

    # -- what subclasses provide --------------------------------------------------------

    def _submit(self, payload: bytes, frame: Frame) -> Future[bytes]:
        """Start the task that runs ``payload`` (see ``worker.py``); return its future."""
        raise NotImplementedError

    def _cancel(self, future: Future[bytes]) -> None:
        """Drop the task if it has not started (a started one cannot be stopped)."""
        future.cancel()

    def _failed(self, frame: Frame, exc: BaseException) -> BaseException:
        """The error to raise when the pool itself failed (not the user's function,
        whose errors come back as values): ``exc`` itself, or a clearer one."""
        return exc

    def close(self) -> None:
        """Release the workers this executor started (safe to call twice)."""

    def __enter__(self) -> RemoteExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------------------

    def _wait(self, frame: Frame, future: Future[bytes]) -> bytes:
        """The task's outcome; raises ``Cancelled`` as soon as the run gives up on it."""
        while True:
            try:
                return future.result(timeout=POLL_S)
            except TimeoutError:
                if future.done():  # the task itself failed with a TimeoutError
                    raise
                if frame.scope.cancelled:
                    raise self._cancelled(frame) from None
            except CancelledError:
                raise self._cancelled(frame) from None
            except BaseException as exc:
                if _raised_by(future, exc):  # the pool failed, not the user's function
                    raise self._failed(frame, exc)  # noqa: B904 (exc itself, or a clearer error)
                raise  # Ctrl-C while waiting

    def _stay_until_done(self, frame: Frame, future: Future[bytes]) -> None:
        """Block until the task ends, so the call holds its slot (and, after a
        ``with_timeout``, counts as abandoned) as long as it really runs."""
        try:
            while not future.done():
                wait((future,), timeout=POLL_S)  # in slices: Ctrl-C still gets through
        except BaseException:
            self._give_up(frame, future)
            raise

    def _give_up(self, frame: Frame, future: Future[bytes]) -> None:
        """Stop waiting for ``future`` now: drop its task if it has not started, else
        count it in ``abandoned_calls()`` until it ends, holding ``frame``'s slot."""
        if future.done():
            return
        self._cancel(future)
        abandon_call(frame, future)

    def _cancelled(self, frame: Frame) -> Cancelled:
        return Cancelled(
            f"{frame.path} was cancelled while on {self.where} "
            "(best effort: a call that already started there runs to its end)"
        )

    def _unpack(self, frame: Frame, outcome: bytes) -> Any:
        ok, value, tb, start_wall, end_wall, lane = cloudpickle.loads(outcome)
        span = frame.span
        if span is not None:
            # wall clock (comparable across processes) -> this process's perf_counter
            now = time.perf_counter_ns()
            offset = clock_offset()
            start = min(max(start_wall + offset, span.start_ns), now)
            span.start_ns = start
            if not isinstance(value, Runnable):  # a returned runnable runs here, inside
                span.end_ns = min(max(end_wall + offset, start), now)
            span.lane = lane
        if ok:
            return value
        raise value from RemoteTraceback(tb) if tb else None


_offset: tuple[int, int] = (0, 0)  # (valid until, in perf_counter ns; the offset)


def clock_offset() -> int:
    """``perf_counter_ns() - time_ns()``: turns a worker's wall-clock times into ours.

    Read as the tightest of three paired reads (a pair split by a context switch would
    shift every remote bar) and kept for a second, so the bars of one worker, converted
    with the same offset, never overlap by a conversion error.
    """
    global _offset
    now = time.perf_counter_ns()
    if now < _offset[0]:
        return _offset[1]
    best: tuple[int, int] | None = None
    for _ in range(3):
        before, wall, after = time.perf_counter_ns(), time.time_ns(), time.perf_counter_ns()
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) // 2 - wall)
    assert best is not None
    _offset = (now + 1_000_000_000, best[1])
    return best[1]


def _raised_by(future: Future[Any], exc: BaseException) -> bool:
    return future.done() and not future.cancelled() and future.exception() is exc
