"""What a recording says about parallelism: wall time, work, critical path, speedup.

Definitions (all times in seconds):

* **wall** - from the first span's start to the last span's end.
* **work** - the sum of the leaf spans' own durations: what a single worker would need.
* **critical path** - the longest chain of leaf work that *had* to run one after
  another. Dependencies come from the structure, not from the clock: the steps of a
  ``sequence`` (and the tries of ``fallbacks``) add up; the branches of a ``parallel``,
  ``map`` or ``assign`` are independent, so the longest branch counts; retries of one
  branch add up. A leaf counts its own time plus whatever it called or returned; runs
  with no common parent (several ``invoke`` calls, ``batch`` items) are independent
  when they overlapped in time and dependent when one started after the other ended.
* **speedup** = work / wall: how many leaves ran at once, on average.
* **lanes used** - the most lanes (threads / tasks) running leaf work at the same
  instant. (Counting thread *names* would also count a caller thread that only waits.)
* **efficiency** = speedup / lanes used: 1.0 when every lane worked all the time.
* **ceiling** = work / critical path: the best speedup the chain's shape allows, with
  unlimited workers.
* **overhead** = wall - critical path: time the run took beyond its critical path
  (scheduling, thread start-up, waiting for a worker under ``max_concurrency``).
* **failure** - set when a top-level run failed (or was cancelled): when, in which
  branch, with which error. A failed run's speedup and ceiling mean nothing (the work
  stopped half-way), so the views show the failure instead of them. Cancelled leaves
  count for nothing on the critical path: they were stopped, not waited for.
* **slack** - at every fan-in, how long each finished branch waited for the slowest
  (``chainlab.trace.slack``); ``slack_share`` = slack / branch time.

>>> import chainlab
>>> def slow(x):
...     chainlab.sleep(0.02)  # a simulated 20 ms call
...     return x
>>> chain = chainlab.RunnableParallel(a=slow, b=chainlab.RunnableLambda(slow) | slow)
>>> with chainlab.virtual_clock(), chainlab.record() as rec:
...     _ = chain.invoke(1)
>>> a = rec.analysis()
>>> [s.path.split("/", 1)[1] for s in a.critical_path]
['b/slow', 'b/slow']
>>> round(a.ceiling, 3)  # work 60 ms / critical path 40 ms, exactly on the virtual clock
1.5
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from chainlab.trace.records import FAN_OUT_KINDS, SpanRecord
from chainlab.trace.slack import BranchSlack, barrier_slack, slack_note, slack_totals


@dataclass(frozen=True)
class Failure:
    """Why a recorded run did not finish (see :func:`failure_of`).

    Attributes:
        status: ``"failed"`` or ``"cancelled"``.
        after_s: seconds from the recording's first span to the failed run's end.
        branch: the top-level branch the error came out of (None outside a fan-out).
        node: the name of the node it came out of (the deepest one).
        error: the exception (None for a cancellation without one).
        cancelled: how many leaf calls were cancelled or skipped because of it.
    """

    status: str
    after_s: float
    branch: str | None
    node: str
    error: BaseException | None
    cancelled: int

    @property
    def where(self) -> str:
        """``"branch `papers`"`` or ``"`papers`"`` (the node, outside a fan-out)."""
        return f"branch `{self.branch}`" if self.branch is not None else f"`{self.node}`"

    def describe(self) -> str:
        """One line in plain words: ``branch `papers` failed: SimulatedError: down``."""
        if self.error is None:
            return f"{self.where} {self.status}"
        message = str(self.error).strip().split("\n")[0]
        if len(message) > 160:
            message = message[:159] + "…"
        kind = type(self.error).__name__
        return f"{self.where} {self.status}: {kind}" + (f": {message}" if message else "")


SEQUENTIAL_KINDS = frozenset({"sequence", "fallbacks"})
"""Span kinds whose children run one after another, each needing the one before."""


@dataclass(frozen=True)
class Analysis:
    """The numbers behind a recording's timeline (see the module docstring)."""

    start: float
    end: float
    wall_s: float
    work_s: float
    critical_s: float
    critical_path: list[SpanRecord] = field(repr=False)
    speedup: float
    efficiency: float
    ceiling: float
    overhead_s: float
    lanes: list[str] = field(repr=False)
    lanes_used: int
    lane_utilisation: dict[str, float] = field(repr=False)
    idle_gaps: dict[str, list[tuple[float, float]]] = field(repr=False)
    failure: Failure | None = None
    slack: list[BranchSlack] = field(default_factory=list, repr=False)
    slack_s: float = 0.0
    branch_s: float = 0.0

    @property
    def slack_share(self) -> float:
        """The share of branch time spent waiting at a join (0 without fan-ins)."""
        return self.slack_s / self.branch_s if self.branch_s > 0 else 0.0

    @property
    def slack_note(self) -> str:
        """``"32 % of branch time was spent waiting at the join (...)"``."""
        return slack_note(self.slack_s, self.branch_s)


def analyse(spans: Sequence[SpanRecord], *, min_gap: float | None = None) -> Analysis:
    """Analyse spans in start order (a recording's ``spans``).

    Args:
        spans: the spans, parents before children.
        min_gap: idle gaps shorter than this are ignored (default: 0.2 % of the wall
            time), so the micro-pauses between back-to-back leaves do not count.
    """
    if not spans:
        return Analysis(0.0, 0.0, 0.0, 0.0, 0.0, [], 0.0, 0.0, 0.0, 0.0, [], 0, {}, {})
    start = min(s.start for s in spans)
    end = max(s.end for s in spans)
    wall = end - start
    leaves = [s for s in spans if s.is_leaf]
    work = sum(s.self_s for s in leaves)
    critical_s, path = critical_path(spans)
    busy = _busy_by_lane(leaves)
    lanes = list(busy)
    lanes_used = _peak_lanes(busy)
    utilisation = {
        lane: (sum(b - a for a, b in intervals) / wall if wall > 0 else 0.0)
        for lane, intervals in busy.items()
    }
    threshold = wall * 0.002 if min_gap is None else min_gap
    gaps = {lane: _gaps(intervals, start, end, threshold) for lane, intervals in busy.items()}
    speedup = work / wall if wall > 0 else 0.0
    slack = barrier_slack(spans)
    slack_s, branch_s = slack_totals(slack)
    return Analysis(
        start=start,
        end=end,
        wall_s=wall,
        work_s=work,
        critical_s=critical_s,
        critical_path=path,
        speedup=speedup,
        efficiency=speedup / lanes_used if lanes_used else 0.0,
        ceiling=work / critical_s if critical_s > 0 else 0.0,
        overhead_s=wall - critical_s,
        lanes=lanes,
        lanes_used=lanes_used,
        lane_utilisation=utilisation,
        idle_gaps=gaps,
        failure=failure_of(spans, start),
        slack=slack,
        slack_s=slack_s,
        branch_s=branch_s,
    )


def failure_of(spans: Sequence[SpanRecord], start: float = 0.0) -> Failure | None:
    """The first top-level run that failed (else one that was cancelled), or None.

    The error is traced down to the deepest leaf that raised that very exception (or
    one of the exceptions of an exception group), which names the branch.
    """
    by_id = {s.run_id: s for s in spans}
    roots = [s for s in spans if s.parent_id is None or s.parent_id not in by_id]
    failed = [r for r in roots if r.status == "error"] or [
        r for r in roots if r.status == "cancelled"
    ]
    if not failed:
        return None
    root = min(failed, key=lambda r: r.end)
    errors = _exceptions(root.error)
    leaves = [s for s in spans if s.is_leaf and _root_of(s, by_id) is root]
    raised = [s for s in leaves if s.status == "error" and any(s.error is e for e in errors)]
    raised = raised or [s for s in leaves if s.status == "error"]
    source = min(raised, key=lambda s: (s.end, -s.depth)) if raised else root
    return Failure(
        status="failed" if root.status == "error" else "cancelled",
        after_s=root.end - start,
        branch=source.branch,
        node=source.name,
        error=root.error if root.status == "error" else source.error,
        cancelled=sum(s.status == "cancelled" for s in leaves),
    )


def _exceptions(error: BaseException | None) -> list[BaseException]:
    """``error``, and every exception inside it if it is an exception group."""
    if error is None:
        return []
    inner = getattr(error, "exceptions", None)
    if isinstance(error, BaseExceptionGroup) and inner:
        return [error, *(e for sub in inner for e in _exceptions(sub))]
    return [error]


def _root_of(span: SpanRecord, by_id: dict[int, SpanRecord]) -> SpanRecord:
    while span.parent_id is not None and span.parent_id in by_id:
        span = by_id[span.parent_id]
    return span


def critical_path(spans: Sequence[SpanRecord]) -> tuple[float, list[SpanRecord]]:
    """The length of the critical path and its leaf spans, in start order."""
    by_id = {s.run_id: s for s in spans}
    children: dict[int, list[SpanRecord]] = {}
    roots: list[SpanRecord] = []
    for span in spans:
        if span.parent_id is not None and span.parent_id in by_id:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    length: dict[int, float] = {}
    choice: dict[int, list[SpanRecord]] = {}
    for span in reversed(spans):  # children before their parent
        kids = children.get(span.run_id, [])
        if span.is_leaf and span.status == "cancelled":  # stopped, not waited for
            chosen: list[SpanRecord] = []
            length[span.run_id] = 0.0
        elif span.is_leaf:
            inner, chosen = _longest_chain(kids, length)
            length[span.run_id] = span.self_s + inner
        elif span.kind in SEQUENTIAL_KINDS:
            chosen = kids
            length[span.run_id] = sum(length[k.run_id] for k in kids)
        elif span.kind in FAN_OUT_KINDS:
            length[span.run_id], chosen = _longest_branch(span, kids, length)
        else:
            length[span.run_id], chosen = _longest_chain(kids, length)
        choice[span.run_id] = chosen
    total, chosen = _longest_chain(roots, length)
    path: list[SpanRecord] = []
    stack = list(reversed(chosen))
    while stack:
        span = stack.pop()
        if span.is_leaf and span.status != "cancelled":
            path.append(span)
        stack.extend(reversed(choice[span.run_id]))
    path.sort(key=lambda s: s.start)
    return total, path


def _longest_branch(
    parent: SpanRecord, kids: list[SpanRecord], length: dict[int, float]
) -> tuple[float, list[SpanRecord]]:
    """Independent branches: the longest one (attempts of one branch add up)."""
    groups: dict[str, list[SpanRecord]] = {}
    cut = len(parent.path) + 1
    for kid in kids:
        groups.setdefault(kid.path[cut:], []).append(kid)  # the branch key / item index
    best: tuple[float, list[SpanRecord]] = (0.0, [])
    for members in groups.values():
        total = sum(length[m.run_id] for m in members)
        if total > best[0]:
            best = (total, members)
    return best


def _longest_chain(
    items: list[SpanRecord], length: dict[int, float]
) -> tuple[float, list[SpanRecord]]:
    """Unknown dependencies: one item depends on another if it started after it ended.

    The heaviest chain of non-overlapping items, in O(n log n).
    """
    if not items:
        return 0.0, []
    order = sorted(items, key=lambda s: (s.start, s.end))
    by_end = sorted(range(len(order)), key=lambda i: order[i].end)
    ends = [order[i].end for i in by_end]
    best = [0.0] * len(order)
    back: list[int | None] = [None] * len(order)
    prefix_best, prefix_arg = 0.0, None  # the best chain among items ended so far
    added = 0
    pending: list[int] = []  # ended before this start, but not computed yet
    for i, item in enumerate(order):
        limit = bisect.bisect_right(ends, item.start)
        while added < limit:
            pending.append(by_end[added])
            added += 1
        still = []
        for j in pending:
            if j < i:
                if best[j] > prefix_best:
                    prefix_best, prefix_arg = best[j], j
            else:
                still.append(j)
        pending = still
        best[i] = length[item.run_id] + prefix_best
        back[i] = prefix_arg
    top = max(range(len(order)), key=lambda i: best[i])
    chain: list[SpanRecord] = []
    cursor: int | None = top
    while cursor is not None:
        chain.append(order[cursor])
        cursor = back[cursor]
    chain.reverse()
    return best[top], chain


def _busy_by_lane(leaves: list[SpanRecord]) -> dict[str, list[tuple[float, float]]]:
    """Per lane (in order of first use), the merged intervals of leaf work."""
    raw: dict[str, list[tuple[float, float]]] = {}
    for leaf in leaves:
        if leaf.skipped:
            continue  # never started: no lane did anything
        raw.setdefault(leaf.lane, []).append((leaf.start, leaf.end))
    merged: dict[str, list[tuple[float, float]]] = {}
    for lane, intervals in raw.items():
        out: list[tuple[float, float]] = []
        for a, b in sorted(intervals):
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        merged[lane] = out
    return merged


def _peak_lanes(busy: dict[str, list[tuple[float, float]]]) -> int:
    """The most lanes busy at one instant (an interval ending as another starts: not both)."""
    events = sorted(
        (t, delta)
        for intervals in busy.values()
        for a, b in intervals
        for t, delta in ((a, 1), (b, -1))
    )
    peak = running = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def _gaps(
    intervals: list[tuple[float, float]], start: float, end: float, threshold: float
) -> list[tuple[float, float]]:
    """The parts of ``[start, end]`` not covered by ``intervals`` (sorted, merged)."""
    gaps = []
    cursor = start
    for a, b in intervals:
        if a - cursor > threshold:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if end - cursor > threshold:
        gaps.append((cursor, end))
    return gaps
