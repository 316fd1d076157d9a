"""Where the engine tells a virtual clock what it does, and which clock a run uses.

The hooks of :mod:`chainlab.engine.clock`: a node starts and ends (``call_node``), a
caller waits for a hand-over (``Join``, the ``Limiter``, an ``async def`` leaf on the
private loop), a fan-out submits its workers. On the real clock (``current_clock()`` is
None) they cost one check.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from chainlab.engine.clock import (
    Activity,
    VirtualClock,
    _add_block,
    _holder,
    _job_of,
    _remove_block,
    _thread,
    _wake_all,
    current_activity,
)

T = TypeVar("T")

ENV_VAR = "CHAINLAB_CLOCK"
CHOICES = ("real", "virtual")


Entered = tuple[
    Activity,
    "contextvars.Token[Activity | None] | None",
    bool,
    "asyncio.AbstractEventLoop | None",
]


def enter_node(clock: VirtualClock, *, sync: bool = False) -> Entered:
    """A node starts on ``clock`` (from ``call_node``): its activity, in charge.

    Its parent is what was in charge in the same thread or task (a pool job, an
    enclosing node); that parent waits for it. A node on another thread counts on its
    own: its caller waits through an explicit hand-over (``Join``, the limiter).
    ``sync``: from ``call_node``; on an event loop's thread (a Jupyter kernel runs cells
    in one) that loop runs nothing else until the node returns: the clock does not wait
    for its tasks meanwhile.
    """
    job = _job_of(clock)
    loop = asyncio._get_running_loop()
    if loop is not None:
        clock.watch_loop(loop)
    blocked = loop if sync and loop is not None else None
    with clock._lock:
        if blocked is not None:
            clock.block_loop(blocked)
    activity = clock.enter(current_activity(clock))
    if job is not None:
        _thread.depth += 1
    return activity, _holder.set(activity), job is not None, blocked


def exit_node(clock: VirtualClock, entered: Entered) -> None:
    activity, token, in_job, blocked = entered
    if token is not None:
        try:
            _holder.reset(token)
        except ValueError:  # ended from another context (another cell, the collector)
            pass
    if in_job:
        _thread.depth -= 1
    if blocked is not None:
        with clock._lock:
            clock.unblock_loop(blocked)
    clock.exit(activity)


def counted_chunks(clock: VirtualClock, chunks: Iterator[T]) -> Iterator[T]:
    """A top-level stream on ``clock``: its consumer counts as one node from the first
    chunk asked for to the stream's end, as ``call_node`` counts an invoke. It is busy
    while it runs, between chunks too (else the clock would jump past the code that
    reads a chunk), and waits, not busy, while the stream waits for its branches or it
    sleeps (``chainlab.sleep`` between chunks is the node's own sleep). A stream left
    open holds the clock until it is closed: close it (or let a ``for`` loop end)."""
    entered = enter_node(clock, sync=True)
    try:
        yield from chunks
    finally:
        exit_node(clock, entered)


# -- which clock ---------------------------------------------------------------------

_stack: list[VirtualClock | None] = []  # virtual_clock() blocks; the last one wins
_env_clock: list[VirtualClock | None] = []  # the clock CHAINLAB_CLOCK gave (read once)
_on_virtual: list[Callable[[], None]] = []


def on_virtual_clock(callback: Callable[[], None]) -> None:
    """Call ``callback()`` whenever a virtual clock comes into use (a ``virtual_clock()``
    block, or ``CHAINLAB_CLOCK=virtual``'s clock): ``clock_threads`` follows other
    libraries' pools from then on."""
    _on_virtual.append(callback)


def _in_use() -> None:
    for callback in _on_virtual:
        callback()


def asked_clock() -> str:
    """The clock's name ``CHAINLAB_CLOCK`` gives, normalised (``real`` when unset)."""
    return os.environ.get(ENV_VAR, "").strip().lower() or "real"


def clock_from_env() -> VirtualClock | None:
    """The clock ``CHAINLAB_CLOCK`` asks for: None (real) or the process's virtual one.

    The variable is read until it has given a clock, then never again (as
    ``CHAINLAB_MAX_THREADS``: a setting for the whole process; reading the environment
    at every run cost a lambda's invoke a third of its time)."""
    if _env_clock:
        return _env_clock[0]
    raw = asked_clock()
    if raw not in CHOICES:
        raise ValueError(
            f"{ENV_VAR} must be one of {', '.join(CHOICES)} (default real), got {raw!r}"
        )
    _env_clock.append(VirtualClock() if raw == "virtual" else None)
    if raw == "virtual":
        _in_use()
    return _env_clock[0]


def current_clock() -> VirtualClock | None:
    """The clock new runs start on: None for the real clock."""
    if _stack:
        return _stack[-1]
    return clock_from_env()


def push_clock(clock: VirtualClock | None) -> None:
    _stack.append(clock)
    if clock is not None:
        _in_use()


def pop_clock(clock: VirtualClock | None) -> None:
    for i in range(len(_stack) - 1, -1, -1):
        if _stack[i] is clock:
            del _stack[i]
            return


def now_ns(clock: VirtualClock | None = None) -> int:
    """A timestamp on ``clock`` (the current one by default): spans, recordings."""
    if clock is None:
        clock = current_clock()
    return time.perf_counter_ns() if clock is None else clock._now


class Waiting:
    """An activity waiting for a hand-over (a slot, its branches); :meth:`end` makes it
    busy again. A wait on an event loop's thread blocks that loop: the clock then does
    not wait for the loop's tasks not started yet (they start after the wait, as on
    the real clock)."""

    __slots__ = ("activity", "clock", "loop")

    def __init__(
        self,
        clock: VirtualClock,
        activity: Activity | None,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.clock = clock
        self.activity = activity
        self.loop = loop

    def end(self) -> None:
        clock = self.clock
        with clock._lock:
            if self.activity is not None:
                clock._change(self.activity, _remove_block)
            if self.loop is not None:
                clock.unblock_loop(self.loop)


def start_waiting(*, awaits: bool = False, clock: VirtualClock | None = None) -> Waiting | None:
    """The code here starts waiting for a hand-over (counted, not yet jumped on:
    call :func:`poke` once the caller's own lock is released). ``awaits``: a task
    awaits it, so its loop goes on running other tasks (else a wait on a loop's
    thread blocks that loop). ``clock``: the one waited on (default: the current one)."""
    clock = clock or current_clock()
    if clock is None:
        return None
    activity = current_activity(clock)
    loop = None if awaits else asyncio._get_running_loop()
    if activity is None and loop is None:
        return None  # nothing counted waits here
    # (no activity but a loop's thread: a top-level sync call in a Jupyter cell; the loop
    # is blocked meanwhile, so the clock must not wait for its ready callbacks)
    with clock._lock:
        if activity is not None:
            clock._change(activity, _add_block)
        if loop is not None:
            clock.block_loop(loop)
    return Waiting(clock, activity, loop)


def poke(clock: VirtualClock | None = None) -> None:
    """Jump the (current) virtual clock if nothing is busy any more."""
    clock = clock or current_clock()
    if clock is not None:
        fired = []
        with clock._lock:
            if clock._busy == 0:
                fired = clock._jump()
        _wake_all(fired)


class Handover:
    """One thread waits for a wake-up that another gives (a call ended, a deadline).

    On a virtual clock the wait does not count as busy, and :meth:`wake` makes the
    waiter busy again in the same step as it wakes it: the clock can never jump between
    the waker going idle and the waiter going on. On the real clock: an Event.
    """

    __slots__ = ("_event", "_lock", "_waiting", "_woken")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiting: Waiting | None = None
        self._woken = False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`wake` (True) or ``timeout`` real seconds (False)."""
        with self._lock:
            if not self._woken:
                self._waiting = start_waiting()
        poke()
        try:
            return self._event.wait(timeout)
        finally:
            self._end()  # timed out or interrupted: busy again, nobody handed over

    def wake(self) -> None:
        with self._lock:
            self._woken = True
            if self._waiting is not None:
                self._waiting.end()
                self._waiting = None
            self._event.set()

    def _end(self) -> None:
        with self._lock:
            if self._waiting is not None:
                self._waiting.end()
                self._waiting = None


class Busy:
    """Counts the code from here as busy on the current virtual clock, until
    :meth:`end` (a fan-out's waiter adding workers: no jump before every call that can
    start has). On the real clock: nothing."""

    __slots__ = ("_entered",)

    def __init__(self) -> None:
        clock = current_clock()
        self._entered = None if clock is None else (clock, clock.enter(None))

    def end(self) -> None:
        """Not busy any more (safe to call twice)."""
        entered, self._entered = self._entered, None
        if entered is not None:
            entered[0].exit(entered[1])


def counted(
    coro: Coroutine[Any, Any, Any],
    clock: VirtualClock | None = None,
    *,
    blocking: bool = False,
    loop: asyncio.AbstractEventLoop | None = None,
) -> tuple[Coroutine[Any, Any, Any], Callable[[Any], None] | None]:
    """``coro``, counted on a virtual clock from *now*, the hand-over, until it ends.

    A coroutine handed to a task or to another loop's thread does not run at once: from
    the hand-over to its first step nothing else would count it, and the clock could
    jump past the delays it is about to start. So its activity starts busy here (a child
    of what is in charge here, which waits for it) and ends when it returns, in the same
    step as its parent goes on. Also returns ``end``: call it when the task or future is
    done (a task cancelled before its first step never runs the coroutine).
    ``blocking``: this thread waits synchronously for it (on a loop's thread, that loop
    is blocked meanwhile). ``loop``: the loop the task is handed to; while that loop's
    thread waits in sync code the task cannot start, and the clock does not wait for it.
    """
    clock = clock or current_clock()
    if clock is None:
        return coro, None
    waiting = start_waiting() if blocking and asyncio._get_running_loop() is not None else None
    activity = clock.enter(current_activity(clock))
    if loop is not None:
        clock.handed_to(loop, activity)
    ended = False

    def end(_: Any = None) -> None:
        nonlocal ended
        if ended:
            return
        ended = True
        if loop is not None:
            clock.started(loop, activity)  # (never started: it will not)
        for unstarted in (wrapper, coro):  # never ran: no "never awaited" warning
            if inspect.getcoroutinestate(unstarted) == inspect.CORO_CREATED:
                unstarted.close()
        if waiting is not None:
            waiting.end()
        clock.exit(activity)

    async def run() -> Any:
        if loop is not None:
            clock.started(loop, activity)
        token = _holder.set(activity)
        try:
            return await coro
        finally:
            _holder.reset(token)
            end()

    wrapper = run()
    return wrapper, end


def create_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    """``loop.create_task(coro)``, counted on a virtual clock from now (:func:`counted`)."""
    coro, end = counted(coro, loop=loop)
    task = loop.create_task(coro)
    if end is not None:
        task.add_done_callback(end)
    return task


def check_thread(clock: VirtualClock) -> None:
    """A run starts on ``clock`` here: refuse it in a thread the clock cannot follow.

    The clock jumps when nothing it knows of is busy, so it must know every thread that
    could still start a delay: the main thread, the thread that entered the
    ``virtual_clock()`` block, chainlab's own pool and loop threads, and the calls of
    langchain_core's executors (:mod:`chainlab.engine.clock_threads`). A thread of any
    other pool is invisible to it while it starts: the clock would jump past its work,
    and report 6 s for three overlapping 1, 2, 3 s calls.
    """
    thread = threading.current_thread()
    if (
        thread is threading.main_thread()
        or getattr(thread, "chainlab_followed", False)
        or thread.ident in clock.owners
        or _job_of(clock) is not None  # a call the clock counts (clock_threads)
    ):
        return
    raise RuntimeError(
        f"a chainlab run started on the virtual clock in thread {thread.name!r}, which "
        "chainlab did not start, so the clock cannot see when it is busy and would "
        "report wrong times (the clock follows chainlab's threads and langchain_core's "
        "executors, not asyncio.to_thread or a ThreadPoolExecutor of your own). Run the "
        "work through chainlab or langchain_core runnables, or use the real clock: "
        f"{ENV_VAR} must be one of {', '.join(CHOICES)}."
    )
