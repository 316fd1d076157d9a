"""Fan-out and fan-in: run N independent calls at once, collect N results.

This is the heart of RunnableParallel, ``.map()`` and ``batch``, which all use it the
same way (a nursery, after trio's)::

    fan = Threads(scope, on_error="raise")     # or Tasks(...) under ainvoke
    for step in steps:
        fan.start(call_node, step, input, frame)  # fan-out
    results = fan.wait()                          # fan-in (or the first failure)

:class:`FanOut` holds what both drivers decide (the policy, the wait after a failure,
the fan-in); :class:`Threads` runs the calls on a :class:`Join`, :class:`Tasks` as
asyncio tasks (``afanout.py``). One picture of the threads:

    caller ──fan-out──▶ worker 1: pulls call 0, then the next free index, ...
      │                 worker 2: pulls call 1, ...           (pool threads / tasks)
      │  ◀─fan-in────── Join: results[i], the first error, "all done"
      └─ waits, watching: adds workers while calls wait that no worker has taken;
         runs them itself when the pool has no thread to give (waiting costs no worker)

* Workers pull indices from a shared counter, so a fast worker drains trivial calls
  alone, and threads follow the calls that really wait: a fan-out starts one worker;
  while calls are waiting to be taken and, at two looks :data:`TICK` seconds apart,
  no running call made progress and the waiter woke on time (every worker is blocked:
  sleeping, on I/O, on its own children), the waiting caller multiplies the workers
  by four, up to one per call (or ``window``, a concurrency limit). It grows again only
  once those workers have arrived: on a busy machine, where threads start late and
  a whole process pauses now and then, it does not read the pauses as blocked calls.
* When the pool cannot give a thread (its cap is reached), the waiting caller runs the
  calls itself: structure waiting for its children never starves them, at any cap.
* Fail fast: the first error wakes the caller at once; the calls nobody has pulled
  yet are recorded as cancelled and never start; the cancel scope tells the running
  ones to stop if they can, and they are counted as abandoned until they end
  (``abandon.py``). A ``BaseException`` that is not an ``Exception`` (``SystemExit``,
  ``KeyboardInterrupt``, ...) always fails the fan-out, whatever its mode: it is never
  a result.
* While a worker is free, the caller does not run a call itself: it stays free to raise
  (and to receive Ctrl-C).
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from queue import Empty, SimpleQueue
from typing import Any, Literal

from chainlab.engine import clock_hooks as _clock
from chainlab.engine.abandon import AbandonableCall
from chainlab.engine.afanout import (  # re-exported: one module to import fan-outs from
    CANCEL_GRACE,
    ACall,
    Raised,
    Skip,
    afan_out,
    aiter_completed,
)
from chainlab.engine.cancel import Cancelled, CancelScope, acquire_hearing_ctrl_c
from chainlab.engine.errors import also_failed, stops
from chainlab.engine.pool import get_pool

TICK = 0.0005
"""Seconds without any call finishing after which a waiting caller adds workers."""

MAX_TICK = 0.016
"""The longest a waiting caller goes without looking, while calls are waiting."""

Call = Callable[[], Any]
Name = Callable[[int], str]

_here = threading.local()  # .join: the fan-out whose call this thread is running


class Join:
    """Where the results of one fan-out come together (and who runs its calls)."""

    __slots__ = (
        "_abandoned",
        "_below",
        "_calls",
        "_completions",
        "_help",
        "_limit",
        "_lock",
        "_name",
        "_next",
        "_parent",
        "_pending",
        "_running",
        "_settled",
        "_signal",
        "_skip",
        "_starting",
        "_waiting",
        "_workers",
        "error",
        "fail_fast",
        "remaining",
        "results",
        "scope",
    )

    def __init__(
        self,
        calls: list[Call],
        scope: CancelScope,
        fail_fast: bool,
        stream: bool,
        *,
        skip: Skip = lambda _: None,
        name: Name = lambda i: f"call {i}",
        window: int | None = None,
    ) -> None:
        n = len(calls)
        self.results: list[Any] = [None] * n
        self.remaining = n
        self.error: BaseException | None = None
        self.scope = scope
        self.fail_fast = fail_fast
        self._calls = calls
        self._skip = skip
        self._name = name
        self._limit = n if window is None else max(1, min(n, window))
        self._lock = threading.Lock()
        self._signal = threading.Lock()  # released to wake the waiter: done, or a result
        self._signal.acquire()
        self._completions: SimpleQueue[tuple[int, Any, BaseException | None]] | None = (
            SimpleQueue() if stream else None
        )
        self._settled: _clock.Handover | None = None  # see settle()
        self._waiting: _clock.Waiting | None = None  # the blocked waiter, on a virtual clock
        self._starting: _clock.Busy | None = None  # the caller, from start() until it waits
        self._next = 0  # the next call nobody has pulled
        self._workers = 0  # pool workers pulling calls (or on their way)
        self._pending = 0  # of which not arrived yet
        self._help = False  # no thread could be had: the waiter runs calls itself
        self._below: dict[int, int] = {}  # running call -> calls finished in its fan-outs
        self._parent: tuple[Join, int] | None = getattr(_here, "call", None)
        self._running: dict[int, threading.Thread] = {}
        self._abandoned: dict[int, AbandonableCall] = {}

    @property
    def stopped(self) -> bool:
        """True once the fan-out failed (fail-fast) or its scope was cancelled."""
        return self.error is not None or self.scope.cancelled

    @property
    def over(self) -> bool:
        """Every call is done, or the fan-out failed: nothing more to wait for."""
        return self.remaining == 0 or self.error is not None

    # -- who runs the calls ----------------------------------------------------------

    def start(self) -> Join:
        """Start the first worker (the waiter runs the calls if no thread can be had).

        On a virtual clock the caller counts as busy from here until it waits (or goes
        off to other code, :meth:`caller_leaves`): a caller that is no node (a top-level
        ``batch``) would otherwise let the clock jump past the first call's sleep
        before it could add the workers for the others, and the batch ran one by one."""
        if self._calls:
            self._starting = _clock.Busy()
            self._add_workers(1)
        return self

    def caller_leaves(self) -> None:
        """The caller runs other code before it waits again (it yields a result): it no
        longer counts as busy for this fan-out (safe to call twice)."""
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.end()

    def _add_workers(self, wanted: int) -> None:
        with self._lock:
            wanted = min(wanted, len(self._calls) - self._next - self._pending)
            wanted = min(wanted, self._limit - self._workers)
            if wanted <= 0:
                return
            self._workers += wanted
            self._pending += wanted
        pool = get_pool()
        for started in range(wanted):
            if not pool.try_run(self._worker, contextvars.copy_context()):
                with self._lock:
                    self._workers -= wanted - started
                    self._pending -= wanted - started
                    self._help = True
                return

    def _worker(self, context: contextvars.Context) -> None:
        with self._lock:
            self._pending -= 1
        context.run(self._pull_and_run, True)

    def _pull_and_run(self, counted: bool) -> None:
        """Run calls until none is left to pull (a pool worker, or the helping waiter)."""
        outer = getattr(_here, "call", None)
        try:
            self._pull_loop(counted)
        finally:
            _here.call = outer

    def _pull_loop(self, counted: bool) -> None:
        thread = threading.current_thread()
        calls = self._calls
        while True:
            with self._lock:
                index = self._next
                if index >= len(calls):
                    if counted:
                        self._workers -= 1
                    return
                self._next = index + 1
                stopped = self.stopped
                if not stopped:
                    self._running[index] = thread
            if stopped:
                self._skip(index)
                self.finish(index, None, Cancelled("not started: the fan-out was cancelled"))
                continue
            _here.call = (self, index)  # fan-outs this call starts report their progress
            try:  # each call in its own copy of the caller's context, as on its own thread
                value = contextvars.copy_context().run(calls[index])
            except BaseException as exc:
                self.finish(index, None, exc)
            else:
                self.finish(index, value, None)

    def _help_here(self) -> None:
        self._help = False
        contextvars.copy_context().run(self._pull_and_run, False)

    # -- fan-in ------------------------------------------------------------------------

    def finish(self, index: int, value: Any, error: BaseException | None) -> None:
        with self._lock:
            self._running.pop(index, None)
            self._below.pop(index, None)
            if error is None:
                self.results[index] = value
            elif self.error is None and stops(error, self.fail_fast):
                self.error = error
                self.scope.cancel(error)
            elif self.error is not None:
                if not isinstance(error, Cancelled):
                    also_failed(self.error, error)
            else:
                self.results[index] = error
            self.remaining -= 1
            wake = self.remaining == 0 or self.error is error or self._completions is not None
            if self.remaining == 0 and self._settled is not None:
                self._settled.wake()
            abandoned = self._abandoned.pop(index, None)
        above = self._parent
        while above is not None:  # progress, for the waiters watching above (no lock:
            join, call = above  # a lost count only delays a growth by one tick)
            join._below[call] = join._below.get(call, 0) + 1
            above = join._parent
        if abandoned is not None:
            abandoned.ended()
        if self._completions is not None:
            self._completions.put((index, value, error))
        if wake:
            self.wake()

    def _await_signal(self) -> None:
        """Block until woken (a result, the end); meanwhile add workers while calls wait
        that none has taken, and run them here if the pool has no thread to give."""
        growing = self._starting or _clock.Busy()  # the clock waits while workers may
        self._starting = None  # be added
        try:
            self._watch(growing)
        finally:
            growing.end()

    def _watch(self, growing: _clock.Busy) -> None:
        seen = self._progress_below()
        tick = TICK
        suspects = 0  # the calls that looked blocked at the last look
        while True:
            if self._help:
                growing.end()
                self._help_here()
                return
            if self._next + self._pending < len(self._calls) and self._workers < self._limit:
                looked = time.perf_counter()
                if self._signal.acquire(timeout=tick):
                    return
                idle = _woke_on_time(looked, tick)
                now = self._progress_below()
                stuck = sum(1 for call, done in now.items() if seen.get(call) == done)
                seen = now
                add, suspects, tick = _growth(stuck, idle, self._pending, suspects, tick)
                if add:
                    self._add_workers(add)
            else:
                self._block(growing)
                acquire_hearing_ctrl_c(self._signal)
                return

    def _block(self, growing: _clock.Busy) -> None:
        """On a virtual clock, the waiter blocks from now on (unless a wake-up is
        pending): it is not busy until :meth:`wake` hands over to it."""
        if _clock.current_clock() is None:
            return
        with self._lock:
            if self._waiting is None and self._signal.locked():
                self._waiting = _clock.start_waiting()
        growing.end()
        _clock.poke()

    def _progress_below(self) -> dict[int, int]:
        """For each running call, how many calls its own fan-outs have finished: a call
        whose count stays the same for a tick is blocked (sleeping, on I/O, ...)."""
        with self._lock:
            return {call: self._below.get(call, 0) for call in self._running}

    def wait(self) -> list[Any]:
        """Block until every call is done (or the first failure), then fan in."""
        try:
            while not self.over:
                self._await_signal()
        except BaseException as exc:  # Ctrl-C while waiting: stop everything
            self.scope.cancel(exc)
            self.abandon_running()
            raise
        finally:
            self.caller_leaves()  # (over before it waited at all)
        if self.error is not None:
            self.abandon_running()
            raise self.error
        return self.results

    def abandon_running(self) -> None:
        """The caller gives up on the calls still running: count them as abandoned
        (their threads leave the pool) until they end."""
        with self._lock:
            running = [(i, t) for i, t in self._running.items() if i not in self._abandoned]
            calls = [(i, AbandonableCall(self._name(i), t)) for i, t in running]
            self._abandoned.update(calls)
        for _, call in calls:
            call.abandon()

    def settle(self, seconds: float) -> bool:
        """After a failure, wait (at most ``seconds``) until every call has ended or been
        skipped, not only the first failure; True if they all have."""
        with self._lock:
            if self.remaining == 0:
                return True
            self._settled = _clock.Handover()
        return self._settled.wait(seconds)

    def wait_for(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for the fan-out to be over; True if it is."""
        if not self.over and self._signal.acquire(timeout=seconds):
            self._signal.release()  # leave the wake-up for wait()
        return self.over

    def wake(self) -> None:
        """Wake the waiter (a result, the end, a streamed chunk). On a virtual clock the
        waiter is busy again before it wakes: the clock cannot jump in between."""
        with self._lock:
            if self._waiting is not None:
                self._waiting.end()
                self._waiting = None
            try:
                self._signal.release()
            except RuntimeError:  # already released (a wake-up is pending)
                pass

    def await_progress(self) -> None:
        """Wait until woken (:meth:`wake`, a result, the end), helping as :meth:`wait`
        does; Ctrl-C here stops the fan-out."""
        try:
            self._await_signal()
        except BaseException as exc:
            self.scope.cancel(exc)
            self.abandon_running()
            raise

    def as_completed(self) -> Iterator[tuple[int, Any, BaseException | None]]:
        """Yield ``(index, value, error)`` as calls finish; stop at the first failure."""
        completions = self._completions
        assert completions is not None
        for _ in range(len(self.results)):
            while True:
                try:
                    item = completions.get_nowait()
                    break
                except Empty:
                    pass
                self.await_progress()
            self.caller_leaves()
            yield item
            if item[2] is not None and stops(item[2], self.fail_fast):
                self.abandon_running()
                return


def _growth(
    stuck: int, idle: bool, pending: int, suspects: int, tick: float
) -> tuple[int, int, float]:
    """The waiting caller's rule at one look, :data:`TICK` to :data:`MAX_TICK` after
    the last: ``stuck`` running calls made no progress, the waiter woke on time
    (``idle``: :func:`_woke_on_time`),
    ``pending`` workers are on their way, ``suspects`` calls looked blocked last time.
    Returns the workers to add, the calls that look blocked now, and the next tick."""
    blocked = stuck if idle and not pending else 0  # every worker waits (sleep, I/O)
    if blocked and suspects:  # twice in a row (one pause of the whole process is no
        return 3 * blocked, 0, TICK  # sign): x4 the calls that wait
    if stuck and tick >= MAX_TICK:  # busy, yet calls wait: one more worker per MAX_TICK
        return 1, blocked, tick  # (a thread computing elsewhere must not keep waiting
        # calls from ever starting)
    if blocked:  # look again soon
        return 0, blocked, tick
    return 0, 0, min(2 * tick, MAX_TICK)  # look less often while there is nothing to do


def _woke_on_time(looked: float, tick: float) -> bool:
    """True if the waiter, asleep ``tick`` seconds from ``looked``, woke on time (within
    half a tick, plus 0.2 ms): no thread held the interpreter lock and the machine gave
    it a core at once, so the process's threads wait (sleep, I/O) and more of them would
    run more. Threads that compute make a waking thread queue for the lock (up to the
    switch interval, 5 ms), and more threads would only add to the queue.

    (The process's CPU time would say the same, but reading it costs the kernel a visit
    to every thread: 40 us at 1,000 threads, read at every look of every waiter.)"""
    return time.perf_counter() - looked < 1.5 * tick + 0.0002


def fan_out(
    calls: list[Call],
    scope: CancelScope,
    *,
    skip: Skip,
    name: Name = lambda i: f"call {i}",
    window: int | None = None,
    fail_fast: bool = True,
    stream: bool = False,
) -> Join:
    """Start ``calls`` on the engine's pool and return their :class:`Join`.

    ``skip(i)`` is called instead of ``calls[i]`` once the fan-out has stopped;
    ``name(i)`` names call ``i`` where it is abandoned (``abandoned_work()``).
    """
    join = Join(calls, scope, fail_fast, stream, skip=skip, name=name, window=window)
    return join.start()


# -- the nursery: one fan-out, two drivers ----------------------------------------------

OnError = Literal["raise", "partial", "group"]
"""What a failed call does to its fan-out: ``raise`` the first failure at once (the rest
are cancelled), keep every result with failures as ``partial`` values, or run every
call and raise the failures as one ``group``."""


class FanOut:
    """A nursery (after trio's): :meth:`start` calls, then wait for all of them.

    The failure rule is trio's, in :func:`~chainlab.engine.errors.stops`: under ``raise``
    the first failure cancels the scope and is raised; a fatal ``BaseException`` does so
    under every policy. ``grace`` is the one wait-after-failure setting: how long the
    waiter, after a failure, still waits for the calls that are running to end (None:
    the driver's default, :attr:`default_grace`). The calls start when the fan-out is
    waited on (:class:`Threads` pulls them by index; :class:`Tasks` makes a task each).
    """

    default_grace = 0.0

    def __init__(
        self,
        scope: CancelScope,
        *,
        on_error: OnError = "raise",
        grace: float | None = None,
        window: int | None = None,
        skip: Skip = lambda _: None,
        name: Name = lambda i: f"call {i}",
        what: str = "calls",
        noted: Callable[[BaseException], None] = lambda _: None,
    ) -> None:
        self.scope = scope
        self.on_error = on_error
        self.grace = self.default_grace if grace is None else grace
        self.window = window
        self.skip = skip
        self.name = name
        self.what = what
        """What the calls are, in the message of a ``group`` failure."""
        self.noted = noted
        """Called on each failure before it is raised (to add a note naming its call)."""
        self.calls: list[Any] = []

    @property
    def fail_fast(self) -> bool:
        return self.on_error == "raise"

    def start(self, fn: Callable[..., Any], *args: Any) -> None:
        """Add the call ``fn(*args)``."""
        self.calls.append(functools.partial(fn, *args))

    def _fan_in(self, results: list[Any]) -> list[Any]:
        """The results, in the order the calls were started (``group``: or every failure)."""
        if self.on_error == "group":
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                for exc in failures:
                    self.noted(exc)
                raise ExceptionGroup(
                    f"{len(failures)} of {len(results)} {self.what} failed",
                    [e if isinstance(e, Exception) else RuntimeError(repr(e)) for e in failures],
                )
        return results


class Threads(FanOut):
    """The thread driver (``invoke``, ``batch``): the calls run on the engine's pool."""

    def join(self, stream: bool = False) -> Join:
        """Start the calls on a :class:`Join` (the caller then waits on it)."""
        join = Join(
            self.calls,
            self.scope,
            self.fail_fast,
            stream,
            skip=self.skip,
            name=self.name,
            window=self.window,
        )
        return join.start()

    def wait(self) -> list[Any]:
        """Run every call; return their results (or raise, as the policy says)."""
        join = self.join()
        try:
            results = join.wait()
        except BaseException as exc:
            self._settle(join)
            self.noted(exc)
            raise
        return self._fan_in(results)

    def as_completed(self) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, value)`` as the calls finish (``partial``: a failure is a value)."""
        join = self.join(stream=True)
        try:
            for index, value, error in join.as_completed():
                if error is not None and stops(error, self.on_error != "partial"):
                    self.noted(error)
                    raise error
                yield index, (error if error is not None else value)
        finally:
            if join.remaining:  # the consumer stopped early, or a call failed: stop the rest
                self.scope.cancel()

    def _settle(self, join: Join) -> None:
        """After a failure, wait up to :attr:`grace` for the calls still running (their
        scope is cancelled) to end; warn naming those that did not."""
        if self.grace <= 0 or join.settle(self.grace):
            return
        with join._lock:
            running = [self.name(i) for i in sorted(join._running)]
        warnings.warn(
            f"abandoned after the {self.grace:g} s grace, still running although their run "
            f"was cancelled: {', '.join(running) or 'branches'} (check "
            "chainlab.cancelled() in long Python functions)",
            RuntimeWarning,
            stacklevel=3,
        )


class Tasks(FanOut):
    """The asyncio driver (``ainvoke``, ``abatch``): one task per call; after a failure
    the unfinished tasks are cancelled and awaited for up to :attr:`grace`."""

    default_grace = CANCEL_GRACE

    async def wait(self) -> list[Any]:
        """Run every call; return their results (or raise, as the policy says)."""
        try:
            results = await afan_out(
                self.calls, self.scope, skip=self.skip, fail_fast=self.fail_fast, grace=self.grace
            )
        except BaseException as exc:
            self.noted(exc)
            raise
        return self._fan_in(results)

    async def as_completed(self) -> AsyncIterator[tuple[int, Any]]:
        """Yield ``(index, value)`` as the calls finish (``partial``: a failure is a value)."""
        partial = self.on_error == "partial"
        completed = aiter_completed(self.calls, self.scope, self.skip, not partial, self.grace)
        try:
            async for item in completed:
                yield item
        except BaseException as exc:
            self.noted(exc)
            raise
        finally:
            await completed.aclose()


__all__ = [
    "CANCEL_GRACE",
    "ACall",
    "Call",
    "FanOut",
    "Join",
    "OnError",
    "Raised",
    "Skip",
    "Tasks",
    "Threads",
    "afan_out",
    "aiter_completed",
    "fan_out",
]
