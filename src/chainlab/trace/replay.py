"""What-if replay: re-schedule a recorded run under another limit, without running it.

``rec.replay(max_concurrency=4)`` answers "what would this run have taken with 4 calls
at once?". It is a discrete-event simulation of the recorded leaf calls:

* every leaf keeps its **recorded duration** (nothing is re-run);
* the **dependencies** come from the structure, as in the critical path: the steps of a
  ``sequence`` (and the tries of ``fallbacks`` or a retry) run one after another; the
  branches of a ``parallel``, ``map`` or ``assign`` are independent and the fan-in waits
  for all of them (the barrier); anything else (several ``invoke`` calls, a function
  calling runnables) keeps the order it had: a call that started after another ended
  waits for it;
* the **limits** are the engine's own: chainlab's ``max_concurrency`` is one global
  limit over all leaf calls, served first come, first served (a sync fan-out starts at
  most that many branches at a time, in order; under ``ainvoke`` every branch queues at
  once); a langchain_core recording gets LangChain's per-level pools instead (each
  ``RunnableParallel`` under ``invoke`` runs at most ``max_concurrency`` branches, or
  ``min(32, cpus + 4)``, however deep it sits, so nested limits multiply; its
  ``ainvoke`` ignores ``max_concurrency``, as langchain_core does); ``workers`` caps the
  calls in flight at once (a pool of that many threads), ``rate_limit`` spaces call
  starts ``1 / rate_limit`` s apart.

The model assumes that a call takes as long whatever else runs: true for I/O (a model
API, a sleep), false for CPU-bound leaves on threads, which share one interpreter lock
(docs/replay.md says more).

>>> import chainlab, time
>>> def slow(x):
...     time.sleep(0.02)
...     return x
>>> with chainlab.record() as rec:
...     _ = chainlab.RunnableParallel(a=slow, b=slow, c=slow).invoke(1)
>>> one = rec.replay(max_concurrency=1)
>>> one.predicted, 0.055 < one.wall_s < 0.09   # three calls of ~20 ms, one at a time
(True, True)
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chainlab.engine import Span
from chainlab.trace.records import FAN_OUT_KINDS, SpanRecord

if TYPE_CHECKING:
    from chainlab.trace.recording import Recording

SEQUENTIAL_KINDS = frozenset({"sequence", "fallbacks", "retry"})
LANGCHAIN_POOL = min(32, (os.cpu_count() or 1) + 4)
"""The size of the thread pool langchain_core gives each RunnableParallel by default."""


@dataclass(frozen=True)
class Limits:
    """What a replay schedules under (None: no such limit)."""

    max_concurrency: int | None = None
    workers: int | None = None
    rate_limit: float | None = None

    def label(self) -> str:
        parts = [
            f"{name}={value:g}/s" if name == "rate_limit" else f"{name}={value}"
            for name, value in vars(self).items()
            if value is not None
        ]
        return ", ".join(parts) or "no limit"


def check_limits(
    max_concurrency: int | None, workers: int | None, rate_limit: float | None
) -> Limits:
    """Validate the keyword arguments of :meth:`Recording.replay`."""
    for name, value in (("max_concurrency", max_concurrency), ("workers", workers)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"replay: {name} must be a positive int or None, got {value!r}")
        if value is not None and value < 1:
            raise ValueError(f"replay: {name} must be >= 1, got {value}")
    if rate_limit is not None:
        if isinstance(rate_limit, bool) or not isinstance(rate_limit, int | float):
            raise ValueError(f"replay: rate_limit must be calls per second, got {rate_limit!r}")
        if not rate_limit > 0 or math.isinf(rate_limit):
            raise ValueError(f"replay: rate_limit must be > 0 calls per second, got {rate_limit}")
    return Limits(max_concurrency, workers, None if rate_limit is None else float(rate_limit))


def check_replayable(rec: Recording) -> None:
    """A clear error for a recording that cannot be replayed."""
    if not rec.spans:
        raise ValueError(
            "replay: the recording is empty; record a run first "
            "(with chainlab.record() as rec: chain.invoke(x))"
        )
    running = [s.path for s in rec.spans if s.status == "running"]
    if running:
        raise ValueError(
            f"replay: the recording is still running ({len(running)} spans open, e.g. "
            f"{running[0]!r}); replay it after the run has ended"
        )


# -- the plan: the recorded tree as dependencies ----------------------------------------


@dataclass(eq=False)
class _Node:
    """One piece of the plan: a leaf call, or children run in some order."""

    how: str  # "leaf", "seq", "par" or "after" (the recorded happened-before order)
    span: SpanRecord | None
    children: list[_Node] = field(default_factory=list)
    duration: float = 0.0
    window: int | None = None  # a "par" starts at most this many children at a time
    order: int = 0  # first come, first served: ties go to the earlier node
    start: float = 0.0
    end: float = 0.0
    lane: int = -1


class _Plan:
    def __init__(self, rec: Recording, limits: Limits) -> None:
        self.limits = limits
        self.on_loop = rec.started_on_loop
        self.spans = [s for s in rec.spans if not s.skipped]
        self.kids: dict[int | None, list[SpanRecord]] = {}
        ids = {s.run_id for s in self.spans}
        for span in self.spans:
            parent = span.parent_id if span.parent_id in ids else None
            self.kids.setdefault(parent, []).append(span)
        self.langchain = rec.langchain_run_ids
        self.chainlab = any(s.run_id not in self.langchain for s in self.spans if s.is_leaf)
        self.nodes: list[_Node] = []
        self.root = _Node("after", None, [self._node(s) for s in self.kids.get(None, [])])
        for i, node in enumerate(self.nodes):
            node.order = i

    def _node(self, span: SpanRecord) -> _Node:
        kids = self.kids.get(span.run_id, [])
        if span.is_leaf:
            work = _Node("leaf", span, duration=span.duration if not kids else span.self_s)
            self.nodes.append(work)
            if not kids:
                return work
            work.span = None  # its own work, then what it called, in the recorded order
            return _Node("seq", span, [work, self._group(kids)])
        if span.kind in SEQUENTIAL_KINDS:
            return _Node("seq", span, [self._node(k) for k in kids])
        if span.kind in FAN_OUT_KINDS:
            return _Node("par", span, self._branches(span, kids), window=self._window(span))
        return _Node("after", span, [self._node(k) for k in kids])

    def _group(self, kids: list[SpanRecord]) -> _Node:
        return _Node("after", None, [self._node(k) for k in kids])

    def _branches(self, parent: SpanRecord, kids: list[SpanRecord]) -> list[_Node]:
        """A fan-out's branches (the tries of one branch run one after another)."""
        groups: dict[str, list[SpanRecord]] = {}
        for kid in kids:
            groups.setdefault(kid.path[len(parent.path) + 1 :], []).append(kid)
        out = []
        for key in _branch_order(parent.name, list(groups)):
            members = groups[key]
            nodes = [self._node(m) for m in members]
            out.append(nodes[0] if len(nodes) == 1 else _Node("seq", None, nodes))
        return out

    def _window(self, span: SpanRecord) -> int | None:
        """How many branches this fan-out starts at a time under the replayed limit."""
        limit = self.limits.max_concurrency
        # its branches started on an event loop: ainvoke (a sync invoke from a notebook
        # cell runs inside the kernel's loop too, but its branches start on pool threads)
        tasks = any(self.on_loop(k.run_id) for k in self.kids.get(span.run_id, []))
        if span.run_id in self.langchain:  # a pool per RunnableParallel; ainvoke: gather
            return None if tasks else (limit or LANGCHAIN_POOL)
        return None if tasks else limit


def _branch_order(name: str, keys: list[str]) -> list[str]:
    """The branches in the order the fan-out starts them: the order of its keys, read from
    its name (``RunnableParallel<a,b,c>``), else natural order (``q2`` before ``q10``;
    map items by index). The recorded start order is a race between threads."""
    listed = name[name.find("<") + 1 : -1].split(",") if name.endswith(">") else []
    if set(keys) <= set(listed):
        return sorted(keys, key=listed.index)
    return sorted(keys, key=_natural)


def _natural(key: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", key) if p]


class _Simulation:
    """The event loop of the replay: leaf calls wait for a slot, then take their time."""

    def __init__(self, plan: _Plan) -> None:
        limits = plan.limits
        caps = [limits.workers, limits.max_concurrency if plan.chainlab else None]
        self.cap = min((c for c in caps if c is not None), default=None)
        self.interval = 1.0 / limits.rate_limit if limits.rate_limit else 0.0
        self.next_start = 0.0
        self.now = 0.0
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.queue: list[tuple[float, int, _Node, Callable[[float], None]]] = []
        self.busy = 0
        self.free_lanes: list[int] = []
        self.lanes = 0
        self.serial = 0

    def run(self, root: _Node) -> None:
        self.start(root, 0.0, lambda t: None)
        self.dispatch()
        while self.events:
            self.now = self.events[0][0]
            while self.events and self.events[0][0] <= self.now:
                heapq.heappop(self.events)[2]()
            self.dispatch()

    def later(self, t: float, fn: Callable[[], None]) -> None:
        self.serial += 1
        heapq.heappush(self.events, (t, self.serial, fn))

    def start(self, node: _Node, t: float, done: Callable[[float], None]) -> None:
        node.start = t

        def finish(end: float) -> None:
            node.end = end
            done(end)

        if node.how == "leaf":
            heapq.heappush(self.queue, (t, node.order, node, finish))
        elif node.how == "seq":
            self._sequence(node.children, 0, t, finish)
        elif node.how == "par":
            self._parallel(node, t, finish)
        else:
            self._after(node.children, t, finish)

    def _sequence(
        self, nodes: list[_Node], i: int, t: float, done: Callable[[float], None]
    ) -> None:
        if i == len(nodes):
            done(t)
        else:
            self.start(nodes[i], t, functools.partial(self._sequence, nodes, i + 1, done=done))

    def _parallel(self, node: _Node, t: float, done: Callable[[float], None]) -> None:
        pending = list(reversed(node.children))
        left = len(pending)
        if not left:
            done(t)
            return

        def one_done(end: float) -> None:
            nonlocal left
            left -= 1
            if pending:
                self.start(pending.pop(), end, one_done)
            elif left == 0:
                done(end)

        for _ in range(min(len(pending), node.window or len(pending))):
            self.start(pending.pop(), t, one_done)

    def _after(self, nodes: list[_Node], t: float, done: Callable[[float], None]) -> None:
        """Children that keep their recorded order: each waits for every child that
        ended before it started (a prefix of the children sorted by end)."""
        if not nodes:
            done(t)
            return
        spans = [_extent(n) for n in nodes]
        by_end = sorted(range(len(nodes)), key=lambda i: spans[i][1])
        ends = [spans[i][1] for i in by_end]
        need = [_count_le(ends, spans[i][0]) for i in range(len(nodes))]
        waiting = sorted(range(len(nodes)), key=lambda i: need[i], reverse=True)
        finished = [False] * len(nodes)
        frontier = 0  # the first `frontier` children by end have all finished
        left = len(nodes)

        def release(now: float) -> None:
            while waiting and need[waiting[-1]] <= frontier:
                i = waiting.pop()
                self.start(nodes[i], now, functools.partial(child_done, i))

        def child_done(i: int, end: float) -> None:
            nonlocal frontier, left
            finished[i] = True
            left -= 1
            while frontier < len(nodes) and finished[by_end[frontier]]:
                frontier += 1
            if left == 0:
                done(end)
            else:
                release(end)

        release(t)

    def dispatch(self) -> None:
        """Give free slots to waiting calls, first come, first served."""
        while self.queue and (self.cap is None or self.busy < self.cap):
            _, _, node, done = heapq.heappop(self.queue)
            begin = max(self.now, self.next_start)
            self.next_start = begin + self.interval
            self.busy += 1
            lane = heapq.heappop(self.free_lanes) if self.free_lanes else self._new_lane()
            node.lane = lane
            self.later(begin + node.duration, functools.partial(self._end, node, done, begin))

    def _new_lane(self) -> int:
        self.lanes += 1
        return self.lanes - 1

    def _end(self, node: _Node, done: Callable[[float], None], begin: float) -> None:
        self.busy -= 1
        heapq.heappush(self.free_lanes, node.lane)
        node.start = begin
        done(self.now)


def _extent(node: _Node) -> tuple[float, float]:
    """The recorded start and end of a node (of its first and last spans)."""
    if node.span is not None:
        return node.span.start, node.span.end
    ext = [_extent(c) for c in node.children] or [(0.0, 0.0)]
    return min(a for a, _ in ext), max(b for _, b in ext)


def _count_le(sorted_values: list[float], x: float) -> int:
    return bisect.bisect_right(sorted_values, x + 1e-9)


# -- the result: a predicted Recording --------------------------------------------------


def replay(rec: Recording, limits: Limits) -> Recording:
    """The predicted recording of ``rec`` re-scheduled under ``limits``."""
    check_replayable(rec)
    plan = _Plan(rec, limits)
    _Simulation(plan).run(plan.root)
    timing: dict[int, _Node] = {}

    def collect(node: _Node) -> None:
        if node.span is not None:
            timing[node.span.run_id] = node
        for child in node.children:
            collect(child)

    collect(plan.root)
    lane_of = _leaf_lanes(plan.root)
    out = type(rec)(f"predicted, {limits.label()}")  # a Recording, not imported: it imports us
    out.predicted = True
    out.t0_ns = 0
    new_id: dict[int, int] = {}
    for span in plan.spans:
        node = timing.get(span.run_id)
        if node is None:
            continue
        copy = Span(
            parent_id=new_id.get(span.parent_id) if span.parent_id is not None else None,
            node_id=span.node_id,
            path=span.path,
            name=span.name,
            kind=span.kind,
            lane=f"worker {lane_of[span.run_id] + 1}" if span.run_id in lane_of else span.lane,
            start_ns=round(node.start * 1e9),
            input_preview=span.input_preview,
            attempt=span.attempt,
            tags=span.tags,
        )
        copy.end_ns = round(node.end * 1e9)
        copy.status = span.status  # type: ignore[assignment]
        copy.error, copy.output_preview = span.error, span.output_preview
        new_id[span.run_id] = copy.run_id
        out.adopt(copy, on_loop=rec.started_on_loop(span.run_id))
        if span.run_id in plan.langchain:
            out.langchain_run_ids.add(copy.run_id)
    out.stop_ns = round(plan.root.end * 1e9)
    return out


def _leaf_lanes(root: _Node) -> dict[int, int]:
    """The simulated worker of every leaf span (a composite leaf: its own work's)."""
    lanes: dict[int, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.how == "leaf" and node.span is not None:
            lanes[node.span.run_id] = node.lane
        if node.how == "seq" and node.span is not None and node.span.is_leaf:
            lanes[node.span.run_id] = node.children[0].lane
        stack.extend(node.children)
    return lanes
