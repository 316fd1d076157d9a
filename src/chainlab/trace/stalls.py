"""Event-loop stalls: the branch that froze every other branch under ``ainvoke``.

An ``async def`` branch that calls ``time.sleep``, a sync HTTP client or heavy CPU work
holds the event loop: no sibling task moves until it returns. A recording watches
every loop its runs use, at little cost, much as asyncio's debug mode reports a
callback slower than ``slow_callback_duration`` (but without debug mode's price):

* a **heartbeat** on the loop (``loop.call_later``, every ``INTERVAL`` s) notes the
  time it ran; a beat that comes more than ``THRESHOLD`` s late means the loop was held;
* one **watchdog** thread (for every probe of the process) looks at the loop every
  ``THRESHOLD`` s (every ``THRESHOLD / 2`` s while a beat is overdue) and notes which task
  is running on it while a beat is overdue (``asyncio.current_task(loop)``): the
  culprit. An overdue beat with no task running is the machine pausing the process (or
  a plain callback), not a branch's fault, and is not reported; nor is a stall held by
  no leaf. A stall only a little longer than ``THRESHOLD`` may be missed between two
  looks; from about 2 × ``THRESHOLD`` on, none is.

Each stall is then blamed on the leaf span that the culprit task was running:
``rec.loop_stalls`` lists them, the timeline shades them, the live graph marks the node.

>>> import asyncio, time, chainlab
>>> async def blocks(x):
...     time.sleep(0.3)         # the classic bug: a blocking call inside async def
...     return x
>>> async def polite(x):
...     await asyncio.sleep(0.05)
...     return x
>>> chain = chainlab.RunnableParallel(bad=blocks, good=polite)
>>> with chainlab.record() as rec:
...     _ = asyncio.run(chain.ainvoke(1))
>>> [(s.path, s.seconds > 0.25) for s in rec.loop_stalls]
[('RunnableParallel<bad,good>/bad', True)]
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chainlab.engine import Span

if TYPE_CHECKING:
    from chainlab.trace.records import SpanRecord

INTERVAL = 0.02
"""Seconds between heartbeats (and between the watchdog's looks)."""
THRESHOLD = 0.1
"""A loop held longer than this is a stall (asyncio's ``slow_callback_duration``)."""


@dataclass(frozen=True)
class LoopStall:
    """The event loop was held ``seconds`` s from ``start`` (s from the recording's start).

    Attributes:
        path: the leaf span that held it (None only in stalls made by hand).
        seconds: how long the loop was held.
        start: when it began, in seconds from the recording's start.
        task: the asyncio task that held it.
        span: the culprit's span record (None when ``path`` is None).
    """

    path: str | None
    seconds: float
    start: float
    task: str | None
    span: SpanRecord | None = None

    @property
    def end(self) -> float:
        return self.start + self.seconds

    def describe(self) -> str:
        """``"blocked the event loop 0.30 s"`` (what the live graph writes on the node)."""
        return f"blocked the event loop {self.seconds:.2f} s"


@dataclass(frozen=True)
class RawStall:
    start_ns: int
    end_ns: int
    tasks: tuple[str, ...]  # the culprit task, then the tasks awaiting it


def _awaited_by(task: asyncio.Task[object], depth: int = 4) -> tuple[str, ...]:
    """The task's name, then those of the tasks awaiting it (langchain_core runs a
    lambda's coroutine in a task of its own, awaited by the task its span records)."""
    names = [task.get_name()]
    current: object = task
    for _ in range(depth):
        waiter = next(
            (
                cb.__self__
                for cb, _ in getattr(current, "_callbacks", None) or ()
                if isinstance(getattr(cb, "__self__", None), asyncio.Task)
            ),
            None,
        )
        if waiter is None:
            break
        names.append(waiter.get_name())
        current = waiter
    return tuple(names)


class LoopProbe:
    """The heartbeat of one event loop; :data:`WATCHDOG` looks at it from its thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float = THRESHOLD) -> None:
        self.loop = loop
        self.threshold_ns = int(threshold * 1e9)
        self.interval_ns = int(INTERVAL * 1e9)
        self.stalls: list[RawStall] = []
        self._last = time.perf_counter_ns()  # the loop was last seen free then
        self._due = self._last + self.interval_ns
        self._seen: dict[tuple[str, ...], int] = {}  # the culprit's looks while a beat is late
        self._stopped = False
        self._native = threading.get_native_id()  # made on the loop's thread: that thread
        try:
            self._clock: int | None = time.pthread_getcpuclockid(threading.get_ident())
        except (AttributeError, OSError):  # not on every platform
            self._clock = None
        self._cpu = self._cpu_now()
        self._handle = loop.call_later(INTERVAL, self._beat)  # called on the loop's thread
        WATCHDOG.add(self)

    def _beat(self) -> None:
        now = time.perf_counter_ns()
        seen, self._seen = self._seen, {}
        if now - self._due > self.threshold_ns and seen:
            culprit = max(seen, key=seen.__getitem__)
            self.stalls.append(RawStall(self._last, now, culprit))
        self._last, self._due = now, now + self.interval_ns
        if not self._stopped:
            self._handle = self.loop.call_later(INTERVAL, self._beat)

    def look(self) -> float:
        """One look from the watchdog's thread; returns the seconds until the next one:
        ``threshold`` while the loop is fine, ``threshold / 2`` while a beat is overdue."""
        half = self.threshold_ns // 2
        if self.loop.is_closed():
            self.stop()
            return 2 * half / 1e9
        if time.perf_counter_ns() - self._due <= half:
            return 2 * half / 1e9
        task = asyncio.current_task(self.loop)  # the task holding the loop, if any
        if task is not None and self._holding():
            names = _awaited_by(task)
            self._seen[names] = self._seen.get(names, 0) + 1
        return half / 1e9

    def _cpu_now(self) -> float:
        return time.clock_gettime(self._clock) if self._clock is not None else 0.0

    def _holding(self) -> bool:
        """False when the loop's thread only waits for a core (a busy machine pauses it,
        which is no branch's fault): it is runnable and its CPU time has not moved. A
        blocking call sleeps (state S); CPU work moves the CPU time."""
        cpu, before = self._cpu_now(), self._cpu
        self._cpu = cpu
        try:
            with open(f"/proc/self/task/{self._native}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # not Linux: count every look
            return True
        return state != "R" or self._clock is None or cpu - before > 0.005

    @property
    def watched(self) -> bool:
        """True until :meth:`stop`."""
        return not self._stopped

    def stop(self) -> None:
        """Stop watching and cancel the next beat (from any thread)."""
        self._stopped = True
        WATCHDOG.remove(self)
        try:
            self.loop.call_soon_threadsafe(self._handle.cancel)
        except RuntimeError:  # the loop is closed: its beat went with it
            pass


class Watchdog:
    """One daemon thread for every probe of the process, started on first need.

    Few wake-ups (each one costs a loop's thread a hand-over of the interpreter lock)
    and no thread to start per run; with no probe it waits without waking at all.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes: list[LoopProbe] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def probes(self) -> list[LoopProbe]:
        with self._lock:
            return list(self._probes)

    def add(self, probe: LoopProbe) -> None:
        with self._lock:
            self._probes.append(probe)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="chainlab-loop-watchdog", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def remove(self, probe: LoopProbe) -> None:
        with self._lock:
            if probe in self._probes:
                self._probes.remove(probe)

    def _run(self) -> None:
        while True:
            probes = self.probes
            if not probes:
                self._wake.wait()
                self._wake.clear()
                continue
            pause = min(probe.look() for probe in probes)
            self._wake.wait(pause)
            self._wake.clear()


WATCHDOG = Watchdog()


class LoopWatch:
    """A recording's probes: one per event loop its spans start on."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.probes: dict[asyncio.AbstractEventLoop, LoopProbe] = {}
        self.on_loop: set[int] = set()  # run ids of spans started inside a running loop
        self.stopped: list[LoopProbe] = []
        self._lock = threading.Lock()
        self.enabled = enabled

    def on_start(self, span: Span) -> None:
        """Called for every span: note a loop's spans and watch that loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # sync code: nothing to watch
        self.on_loop.add(span.run_id)
        if self.enabled and loop not in self.probes:
            with self._lock:
                if loop not in self.probes:
                    self.probes[loop] = LoopProbe(loop)

    def stop(self) -> None:
        """Stop every probe (the run is over); their stalls are kept."""
        with self._lock:
            probes, self.probes = list(self.probes.values()), {}
            self.stopped.extend(probes)
        for probe in probes:
            probe.stop()

    def raw_stalls(self) -> list[RawStall]:
        with self._lock:
            probes = [*self.stopped, *self.probes.values()]
        return sorted((s for p in probes for s in p.stalls), key=lambda s: s.start_ns)


def attribute(raw: list[RawStall], t0_ns: int, leaves: list[SpanRecord]) -> list[LoopStall]:
    """Blame each stall on the leaf the culprit task was running.

    A stall held by no leaf (the engine's own step, langchain_core's bookkeeping) is not
    reported: on a busy machine the process can be paused in such a step, which is not
    a branch's fault, and the user's code is what these reports are about.
    """
    out = []
    for stall in raw:
        start, end = (stall.start_ns - t0_ns) / 1e9, (stall.end_ns - t0_ns) / 1e9
        mid = (start + end) / 2
        culprit = next(
            (found for task in stall.tasks if (found := _running(leaves, task, mid))), None
        )
        if culprit is None:
            continue
        out.append(
            LoopStall(
                path=culprit.path,
                seconds=end - start,
                start=start,
                task=stall.tasks[0],
                span=culprit,
            )
        )
    return out


def _running(spans: list[SpanRecord], lane: str | None, at: float) -> SpanRecord | None:
    """The deepest span on ``lane`` running at ``at``."""
    found = [s for s in spans if s.lane == lane and s.start <= at <= s.end]
    return max(found, key=lambda s: (s.depth, s.start)) if found else None


def stall_summary(stalls: list[LoopStall]) -> str:
    """One line for a summary: ``"1 event-loop stall: .../bad blocked it 0.30 s"``."""
    if not stalls:
        return "no event-loop stalls"
    worst = max(stalls, key=lambda s: s.seconds)
    what = worst.path or f"task {worst.task}"
    more = f" (the longest of {len(stalls)})" if len(stalls) > 1 else ""
    return f"event-loop stall: {what} {worst.describe()}{more}"
