"""The clock the engine reads: real (default) or *virtual*, for the simulated world.

On the real clock, ``chainlab.sleep(3)`` takes 3 s. On a virtual clock (models: trio's
``MockClock`` with ``autojump_threshold=0``, and the ``looptime`` plugin for asyncio)
time stands still while code runs and *jumps* to the next deadline when every piece of
the run is waiting on a simulated delay: three overlapping 1 s model calls finish in
milliseconds and their spans say exactly 1.000 s.

The hard part is threads. A jump is safe only when nothing could still start an earlier
delay, so the clock keeps a tree of *activities*: every node execution
(``call_node``), every job on the engine's pool and every wait for a concurrency slot.
An activity is *busy* when it runs and has no running child and no simulated delay of
its own; the clock jumps only when no activity is busy. Every hand-over (a child ends
and its parent goes on, a delay ends, a slot is handed to a waiter) changes the counts
in one step under one lock, so there is no instant in which a thread that is about to
go on looks idle; and work handed to another thread, task or loop counts from the
hand-over, not from when it starts there. Threads the clock does not know (another
library's pool) are refused: it could not see them start (``clock_hooks.check_thread``).

CPU-bound work is real work: the clock never jumps while it runs (simulated delays
elsewhere wait for it, in real time), and it takes *no* virtual time. A timeline on
the virtual clock therefore shows the simulated world's structure exactly and says
nothing about CPU costs: measure those on the real clock.

Choose the clock with ``CHAINLAB_CLOCK=real|virtual`` or, for one block,
``with chainlab.virtual_clock():`` (see :mod:`chainlab.sim.timescale`). A run keeps
the clock it started on. The engine's hooks, and which clock a run uses, are in
:mod:`chainlab.engine.clock_hooks`.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any


class Activity:
    """A piece of a run that can be busy: a node execution, a pool job, a slot wait."""

    __slots__ = ("active", "blocked", "children", "parent", "sleeping")

    def __init__(self, parent: Activity | None) -> None:
        self.parent = parent
        self.active = True
        self.children = 0
        self.sleeping = 0
        self.blocked = 0

    @property
    def busy(self) -> bool:
        return self.active and not (self.children or self.sleeping or self.blocked)


class _Sleeper:
    """A simulated delay (or a timer) waiting for the clock to reach ``deadline``."""

    __slots__ = ("activity", "cancelled", "clock", "deadline", "fired", "wake")

    def __init__(
        self,
        deadline: int,
        activity: Activity | None,
        wake: Callable[[], None],
        cancelled: Callable[[], bool],
    ) -> None:
        self.deadline = deadline
        self.activity = activity
        self.wake = wake
        self.cancelled = cancelled
        self.fired = False
        self.clock: VirtualClock | None = None  # set for a sleeper without an activity


_holder: contextvars.ContextVar[Activity | None] = contextvars.ContextVar(
    "chainlab_activity", default=None
)
_thread = threading.local()  # .job: the pool job this thread runs; .depth: nodes inside it
_cancel_generation = itertools.count(1)
_generation = [0]


def note_cancel() -> None:
    """Called by every cancel: the next jump first wakes the cancelled sleepers."""
    _generation[0] = next(_cancel_generation)


class VirtualClock:
    """Simulated time that jumps to the next deadline when the whole run waits.

    Args:
        start_ns: the clock's first reading (default: the real ``perf_counter_ns``,
            so virtual and real timestamps of one process stay comparable).
    """

    def __init__(self, start_ns: int | None = None) -> None:
        self._now = time.perf_counter_ns() if start_ns is None else start_ns
        self._lock = threading.Lock()
        self._busy = 0
        self._heap: list[tuple[int, int, _Sleeper]] = []
        self._seq = itertools.count()
        self._seen_generation = _generation[0]
        self._loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._poking: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        # ^ loops with a re-check already scheduled
        self._rechecking: asyncio.AbstractEventLoop | None = None
        self._blocked_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
            weakref.WeakKeyDictionary()
        )  # loop -> sync waits blocking its thread
        self._unstarted: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[Activity]] = (
            weakref.WeakKeyDictionary()
        )  # loop -> tasks handed to it that have not taken their first step
        self.jumps = 0
        self.owners: set[int] = set()  # threads (idents) that entered a virtual_clock() block

    def __repr__(self) -> str:
        return f"<VirtualClock t={self._now / 1e9:.6f} s, busy={self._busy}>"

    # -- reading ------------------------------------------------------------------------

    def now_ns(self) -> int:
        return self._now

    def now(self) -> float:
        """Seconds on this clock (comparable with ``time.perf_counter()``)."""
        return self._now / 1e9

    @property
    def busy(self) -> int:
        """How many activities are busy now (0: the clock may jump)."""
        return self._busy

    # -- the activity tree -------------------------------------------------------------

    def _change(self, activity: Activity, update: Callable[[Activity], None]) -> None:
        was = activity.busy
        update(activity)
        self._busy += int(activity.busy) - int(was)

    def enter(self, parent: Activity | None = None) -> Activity:
        """Start an activity (busy) under ``parent`` (which now waits for it)."""
        with self._lock:
            activity = Activity(parent)
            self._busy += 1
            if parent is not None:
                self._change(parent, _add_child)
        return activity

    def exit(self, activity: Activity, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """End ``activity``; its parent goes on in the same step. ``loop``: the loop the
        activity handed its outcome to (a job's task awaits it there): if nothing is busy
        now, the jump is decided there (:meth:`_jump`)."""
        fired = []
        with self._lock:
            self._change(activity, _deactivate)
            if activity.parent is not None:
                self._change(activity.parent, _remove_child)
            if self._busy == 0:
                fired = self._jump(loop)
        _wake_all(fired)

    # -- delays ------------------------------------------------------------------------

    def sleep(
        self,
        seconds: float,
        cond: threading.Condition | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Wait ``seconds`` of virtual time in this thread; False if ``cancelled()``
        became true first (``cond`` is notified on cancellation and on the deadline).
        On an event loop's thread the loop is blocked meanwhile, as by ``time.sleep``:
        its tasks wait, and the clock does not wait for them."""
        cond = cond or threading.Condition()
        loop = asyncio._get_running_loop()
        sleeper = self._add(
            seconds, current_activity(self), lambda: _notify(cond), cancelled, blocks=loop
        )
        if sleeper is None:
            return not cancelled()
        try:
            with cond:
                while not sleeper.fired and not cancelled():
                    cond.wait()
        finally:
            if loop is not None:
                with self._lock:
                    self.unblock_loop(loop)
        if not sleeper.fired:
            self._drop(sleeper)
        return sleeper.fired and not cancelled()

    async def asleep(self, seconds: float, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Wait ``seconds`` of virtual time in this task; False if cancelled first."""
        loop = asyncio.get_running_loop()
        self.watch_loop(loop)
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

        sleeper = self._add(seconds, current_activity(self), wake, cancelled)
        if sleeper is None:
            return not cancelled()
        try:
            await future
        finally:
            if not sleeper.fired:
                self._drop(sleeper)
        return sleeper.fired and not cancelled()

    def call_at(self, seconds: float, callback: Callable[[], None]) -> _Sleeper:
        """Call ``callback()`` (in the jumping thread) ``seconds`` from now on this clock,
        unless :meth:`cancel` is called first. It belongs to no activity: a timer never
        keeps the clock from jumping."""
        timer = _Sleeper(0, None, callback, lambda: False)
        timer.clock = self
        with self._lock:
            timer.deadline = self._now + max(0, round(seconds * 1e9))
            heapq.heappush(self._heap, (timer.deadline, next(self._seq), timer))
        return timer

    def cancel(self, timer: _Sleeper) -> None:
        """Forget a timer of :meth:`call_at` that has not fired."""
        with self._lock:
            timer.fired = True  # a fired or cancelled entry is skipped by _jump

    def _add(
        self,
        seconds: float,
        activity: Activity | None,
        wake: Callable[[], None],
        cancelled: Callable[[], bool],
        blocks: asyncio.AbstractEventLoop | None = None,
    ) -> _Sleeper | None:
        """Add a sleeper (None if there is nothing to wait for); ``blocks``: the loop
        whose thread waits in it, blocked from now on (the caller unblocks it)."""
        fired = []
        with self._lock:
            if seconds <= 0 or cancelled():
                return None
            if blocks is not None:
                self.block_loop(blocks)
            sleeper = _Sleeper(self._now + round(seconds * 1e9), activity, wake, cancelled)
            sleeper.clock = None if activity is not None else self
            heapq.heappush(self._heap, (sleeper.deadline, next(self._seq), sleeper))
            if activity is not None:
                self._change(activity, _add_sleep)
            if self._busy == 0:
                fired = self._jump()
        _wake_all(fired)
        return sleeper

    def _drop(self, sleeper: _Sleeper) -> None:
        """A sleeper woke up early (cancelled): it is busy again."""
        with self._lock:
            if sleeper.fired:
                return
            sleeper.fired = True  # skipped by _jump from now on
            if sleeper.activity is not None:
                self._change(sleeper.activity, _remove_sleep)

    def _fire(self, sleeper: _Sleeper, fired: list[_Sleeper]) -> None:
        sleeper.fired = True
        if sleeper.activity is not None:
            self._change(sleeper.activity, _remove_sleep)
        else:
            self._busy += 1  # a timer's callback or a sleeper outside any run: busy
            # until _wake_all has run it (then _settle gives this count back)
        fired.append(sleeper)

    def _jump(self, handed_to: asyncio.AbstractEventLoop | None = None) -> list[_Sleeper]:
        """Nothing is busy (the lock is held): wake cancelled sleepers, else move the
        clock to the earliest deadline and fire everything due then. ``handed_to``: a
        loop the activity that just ended handed its outcome to, from another thread;
        if it runs (and its thread does not wait in sync code) the jump is decided
        there, after the step it is in: the code that step runs may be counted by no
        activity (a stream's consumer, about to read the clock), and the loop's ready
        queue does not show the step it is running."""
        fired: list[_Sleeper] = []
        if (
            handed_to is not None
            and handed_to is not asyncio._get_running_loop()
            and handed_to.is_running()
            and not self._blocked_loops.get(handed_to)
        ):
            self._schedule_recheck(handed_to)
            return fired
        if self._loop_has_ready_work():
            return fired
        if self._seen_generation != _generation[0]:
            self._seen_generation = _generation[0]
            for _, _, sleeper in self._heap:
                if not sleeper.fired and sleeper.cancelled():
                    self._fire(sleeper, fired)
            if fired:
                return fired
        heap = self._heap
        while heap and heap[0][2].fired:
            heapq.heappop(heap)
        if not heap:
            return fired
        deadline = heap[0][0]
        if deadline > self._now:
            self._now = deadline
            self.jumps += 1
        while heap and heap[0][0] <= deadline:
            _, _, sleeper = heapq.heappop(heap)
            if not sleeper.fired:
                self._fire(sleeper, fired)
        return fired

    # -- event loops -------------------------------------------------------------------

    def block_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """(Under the lock.) ``loop``'s thread waits in sync code: the tasks handed to the
        loop cannot take their first step meanwhile, so the clock does not wait for them."""
        blocked = self._blocked_loops.get(loop, 0)
        self._blocked_loops[loop] = blocked + 1
        if blocked == 0:
            for activity in self._unstarted.get(loop, ()):
                self._change(activity, _add_block)

    def unblock_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """(Under the lock.) The sync wait on ``loop``'s thread is over."""
        blocked = self._blocked_loops[loop] - 1
        self._blocked_loops[loop] = blocked
        if blocked == 0:
            for activity in self._unstarted.get(loop, ()):
                self._change(activity, _remove_block)

    def handed_to(self, loop: asyncio.AbstractEventLoop, activity: Activity) -> None:
        """A task's activity, busy from its hand-over to ``loop`` until its first step
        (:meth:`started`), except while the loop is blocked."""
        with self._lock:
            self._unstarted.setdefault(loop, set()).add(activity)
            if self._blocked_loops.get(loop):
                self._change(activity, _add_block)

    def started(self, loop: asyncio.AbstractEventLoop, activity: Activity) -> None:
        """The task took its first step (or will never take one)."""
        with self._lock:
            waiting = self._unstarted.get(loop)
            if waiting is not None and activity in waiting:
                waiting.discard(activity)
                if self._blocked_loops.get(loop):
                    self._change(activity, _remove_block)

    def watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Tasks run on ``loop``: a task created but not started yet is busy too."""
        if loop not in self._loops:
            self._loops.add(loop)

    def _loop_has_ready_work(self) -> bool:
        """(Under the lock) is an event loop still about to run something (a task not
        started yet, a done callback)? Then look again once it has. From inside a loop
        always look again: a task that ends right now has not scheduled its callbacks."""
        here = asyncio._get_running_loop()
        if here is not None and here is not self._rechecking and not self._blocked_loops.get(here):
            self._schedule_recheck(here)
            return True
        for loop in list(self._loops):
            if self._blocked_loops.get(loop):
                continue  # its thread waits in sync code: nothing runs there until then
            ready = getattr(loop, "_ready", None)  # asyncio's BaseEventLoop queue
            if ready and not loop.is_closed():
                self._schedule_recheck(loop)
                return True
        return False

    def _schedule_recheck(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop not in self._poking and not loop.is_closed():
            self._poking.add(loop)
            try:
                loop.call_soon_threadsafe(self._recheck, loop)
            except RuntimeError:  # closed meanwhile
                self._poking.discard(loop)

    def _recheck(self, loop: asyncio.AbstractEventLoop) -> None:
        fired = []
        with self._lock:
            self._poking.discard(loop)
            if self._busy == 0:
                self._rechecking = loop
                try:
                    fired = self._jump()
                finally:
                    self._rechecking = None
        _wake_all(fired)

    def _settle(self) -> None:
        """A timer's callback (or a run-less sleeper's wake-up) has run."""
        fired = []
        with self._lock:
            self._busy -= 1
            if self._busy == 0:
                fired = self._jump()
        _wake_all(fired)

    # -- pool jobs -----------------------------------------------------------------------

    def job(self, fn: Callable[..., Any]) -> Job:
        """Wrap a pool job: busy from its submission (now) until it returns, except
        while a node it runs is in charge (see :func:`enter_node`). A job submitted
        from a task (a sync leaf under ``ainvoke``) is that task's child: the task
        awaits it."""
        loop = asyncio._get_running_loop()
        in_task = loop is not None and not self._blocked_loops.get(loop)
        activity = self.enter(current_activity(self) if in_task else None)
        return Job(self, activity, fn, loop if in_task else None)


class Job:
    """A pool job counted on a virtual clock (see :meth:`VirtualClock.job`)."""

    __slots__ = ("activity", "clock", "fn", "loop")

    def __init__(
        self,
        clock: VirtualClock,
        activity: Activity,
        fn: Callable[..., Any],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.clock, self.activity, self.fn = clock, activity, fn
        self.loop = loop  # the loop of the task that submitted it (and awaits its future)

    def __call__(self, *args: Any) -> Any:
        _thread.job, _thread.depth, _thread.clock = self.activity, 0, self.clock
        try:
            return self.fn(*args)
        finally:
            _thread.job = None
            # (its future is done: the awaiting task may be running, or done and its
            # hand-over running, on self.loop already)
            self.clock.exit(self.activity, self.loop)

    def discard(self) -> None:
        """The job will not run after all (no thread could be had)."""
        self.clock.exit(self.activity)


def _wake_all(fired: list[_Sleeper]) -> None:
    for sleeper in fired:
        try:
            sleeper.wake()
        finally:
            if sleeper.clock is not None:
                sleeper.clock._settle()


def _notify(cond: threading.Condition) -> None:
    with cond:
        cond.notify_all()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _add_child(a: Activity) -> None:
    a.children += 1


def _remove_child(a: Activity) -> None:
    a.children -= 1


def _add_sleep(a: Activity) -> None:
    a.sleeping += 1


def _remove_sleep(a: Activity) -> None:
    a.sleeping -= 1


def _add_block(a: Activity) -> None:
    a.blocked += 1


def _remove_block(a: Activity) -> None:
    a.blocked -= 1


def _deactivate(a: Activity) -> None:
    a.active = False


def _job_of(clock: VirtualClock) -> Activity | None:
    job = getattr(_thread, "job", None)
    return job if job is not None and _thread.clock is clock else None


def current_activity(clock: VirtualClock) -> Activity | None:
    """What is in charge here: the pool job this thread runs when no node of it is
    running, else the innermost node of this thread or task."""
    job = _job_of(clock)
    if job is not None and _thread.depth == 0:
        return job
    held = _holder.get()
    if held is None:  # code the node's context does not reach (a copied context)
        for owner, activity in reversed(submitters()):
            if owner is clock:
                return activity
    return held


def submitters() -> list[tuple[VirtualClock, Activity]]:
    """This thread's counted submitters (``clock_threads``): a thread that submitted
    to a followed executor is in charge of its own code until the executor shuts
    down, in whatever context that code runs (langchain_core runs each step of a
    stream in a copy of the context)."""
    found: list[tuple[VirtualClock, Activity]] | None = getattr(_thread, "submitters", None)
    if found is None:
        found = _thread.submitters = []
    return found
