"""The concurrency audit: calls in flight over time, and the limit that held them.

``rec.concurrency()`` counts the leaf calls running at every moment (a step function)
and puts beside it the *effective limit*: the most calls the run's limits allowed at
that moment, and where each limit came from.

* **chainlab**: a ``max_concurrency`` is one limit over the whole run tree (of a run,
  of a ``batch`` / ``.map()`` binding shared by all its items, or of a call joining
  the run with its own config, which bounds that call's subtree within the run's
  limit). The effective limit is the sum of the outermost limits in use (a run with
  no limit: unlimited).
* **langchain_core** (recorded through the bridge): under ``invoke`` every
  ``RunnableParallel`` gets a pool of its own, of ``max_concurrency`` threads (default
  ``min(32, cpus + 4)``), wherever it sits: the pools of nested levels multiply. Under
  ``ainvoke`` its branches are gathered with no limit at all.

>>> import chainlab, time
>>> def slow(x):
...     time.sleep(0.01)
...     return x
>>> chain = chainlab.RunnableParallel({f"q{i}": slow for i in range(4)})
>>> with chainlab.record() as rec:
...     _ = chain.invoke(1, {"max_concurrency": 2})
>>> audit = rec.concurrency()
>>> audit.peak, [s.limit for s in audit.sources]
(2, [2])
>>> audit.sources[0].source
'max_concurrency=2 of the run RunnableParallel<q0,q1,q2,q3>'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chainlab.engine import view

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from chainlab.trace.recording import Recording
    from chainlab.trace.records import SpanRecord

LANGCHAIN_DEFAULT_POOL = "ThreadPoolExecutor default, min(32, cpus + 4)"


@dataclass(frozen=True)
class LangChainPool:
    """Marks a span reported by langchain_core, with the ``max_concurrency`` its config
    carried (None: not set); the bridge puts it in ``Span.limiters``."""

    max_concurrency: int | None = None


@dataclass(frozen=True)
class LimitSource:
    """One limit, the time it was in use, and where it came from."""

    start: float
    end: float
    limit: int
    source: str
    outermost: bool = True


@dataclass(frozen=True)
class Concurrency:
    """Calls in flight over time beside the effective limit (times from the run's start).

    Attributes:
        steps: ``(t, n)``: from ``t`` on, ``n`` leaf calls ran at once.
        limit_steps: ``(t, limit)``: from ``t`` on, at most ``limit`` calls were allowed
            (``math.inf``: no limit).
        sources: every limit in use, with where it came from.
        peak: the most calls in flight at once.
        predicted: True for a replayed (predicted) recording.
        name: the recording's name.
    """

    steps: list[tuple[float, int]]
    limit_steps: list[tuple[float, float]]
    sources: list[LimitSource] = field(default_factory=list)
    peak: int = 0
    predicted: bool = False
    name: str | None = None

    def limit_at(self, t: float) -> float:
        """The effective limit at time ``t`` (``math.inf``: none)."""
        return _value_at(self.limit_steps, t, math.inf)

    def in_flight_at(self, t: float) -> int:
        """How many leaf calls ran at time ``t``."""
        return int(_value_at(self.steps, t, 0))

    def plot(self, ax: Axes | None = None) -> Figure:
        """The step plot (drawn by ``chainlab.viz.concurrency``)."""
        return view("plot_concurrency")(self, ax=ax)

    def __str__(self) -> str:
        lines = [f"peak {self.peak} calls in flight"]
        for s in self.sources:
            inner = "" if s.outermost else " (inside an outer limit)"
            lines.append(f"  {s.start:7.3f}-{s.end:7.3f} s  limit {s.limit:>3}: {s.source}{inner}")
        if not self.sources:
            lines.append("  no limit: every call that was ready ran")
        return "\n".join(lines)


def audit(rec: Recording) -> Concurrency:
    """The concurrency audit of ``rec`` (see the module docstring)."""
    spans = rec.spans
    leaves = [s for s in rec.leaf_spans if not s.skipped and s.run_id not in _parents(spans)]
    origin = min((s.start for s in spans), default=0.0)
    limiters = rec.span_limiters()
    langchain = rec.langchain_run_ids
    sources, chainlab_caps = _chainlab_limits(spans, leaves, limiters, langchain, origin)
    lc_sources, lc_roots = _langchain_limits(rec, spans, limiters, langchain, origin)
    steps = _steps([(s.start - origin, s.end - origin) for s in leaves])
    # the effective limit: a sum over what is active (a run without a limit: unlimited)
    intervals: list[tuple[float, float, float]] = [*chainlab_caps, *lc_roots]
    unlimited = _unlimited_runs(spans, leaves, limiters, langchain, origin)
    intervals += [(a, b, math.inf) for a, b in unlimited]
    return Concurrency(
        steps=steps,
        limit_steps=_sum_steps(intervals),
        sources=sorted([*sources, *lc_sources], key=lambda s: (s.start, -s.limit)),
        peak=max((n for _, n in steps), default=0),
        predicted=rec.predicted,
        name=rec.name,
    )


def _parents(spans: list[SpanRecord]) -> set[int]:
    return {s.parent_id for s in spans if s.parent_id is not None}


def _chainlab_limits(
    spans: list[SpanRecord],
    leaves: list[SpanRecord],
    limiters: dict[int, tuple[Any, ...]],
    langchain: set[int],
    origin: float,
) -> tuple[list[LimitSource], list[tuple[float, float, float]]]:
    by_id = {s.run_id: s for s in spans}
    found: dict[int, Any] = {}
    used: dict[int, list[SpanRecord]] = {}
    for leaf in leaves:
        if leaf.run_id in langchain:
            continue
        for limiter in limiters.get(leaf.run_id, ()):
            found[id(limiter)] = limiter
            used.setdefault(id(limiter), []).append(leaf)
    carriers: dict[int, list[SpanRecord]] = {}
    for span in spans:
        for limiter in limiters.get(span.run_id, ()):
            if id(limiter) in found:
                carriers.setdefault(id(limiter), []).append(span)
    sources, caps = [], []
    for key, limiter in found.items():
        mine = carriers[key]
        ids = {s.run_id for s in mine}
        tops = [s for s in mine if s.parent_id not in ids]
        start = min(s.start for s in used[key]) - origin
        end = max(s.end for s in used[key]) - origin
        outer = all(
            len(limiters.get(t.run_id, ())) and limiters[t.run_id][0] is limiter for t in tops
        )
        text = _describe(limiter.limit, tops, by_id)
        sources.append(LimitSource(start, end, limiter.limit, text, outer))
        if outer:
            caps.append((start, end, float(limiter.limit)))
    return sources, caps


def _describe(limit: int, tops: list[SpanRecord], by_id: dict[int, SpanRecord]) -> str:
    """Where a limit came from, from the spans it was first seen on."""
    if len(tops) == 1:
        top = tops[0]
        where = f"the run {top.path}" if top.parent_id is None else f"the call {top.path}"
        return f"max_concurrency={limit} of {where}"
    parent = by_id.get(tops[0].parent_id) if tops[0].parent_id is not None else None
    if parent is None:
        return f"max_concurrency={limit} shared by the {len(tops)} runs of a batch"
    return f"max_concurrency={limit} shared by the {len(tops)} items of {parent.path}"


def _langchain_limits(
    rec: Recording,
    spans: list[SpanRecord],
    limiters: dict[int, tuple[Any, ...]],
    langchain: set[int],
    origin: float,
) -> tuple[list[LimitSource], list[tuple[float, float, float]]]:
    """LangChain's pools (one per RunnableParallel under invoke) and each root's cap."""
    from chainlab.trace.replay import LANGCHAIN_POOL

    kids: dict[int, list[SpanRecord]] = {}
    for span in spans:
        if span.parent_id is not None:
            kids.setdefault(span.parent_id, []).append(span)
    sources: list[LimitSource] = []

    def pool_of(span: SpanRecord) -> tuple[int, bool]:
        seen = [limiters.get(k.run_id, ()) for k in kids.get(span.run_id, [])]
        seen.append(limiters.get(span.run_id, ()))
        for marks in seen:
            for mark in marks:
                if isinstance(mark, LangChainPool) and mark.max_concurrency is not None:
                    return mark.max_concurrency, True
        return LANGCHAIN_POOL, False

    def cap(span: SpanRecord) -> float:
        children = kids.get(span.run_id, [])
        if span.is_leaf and not children:
            return 1.0
        caps = sorted((cap(k) for k in children), reverse=True)
        if span.kind != "parallel" or span.run_id not in langchain:
            return max(caps, default=1.0) if span.kind != "parallel" else sum(caps)
        if any(rec.started_on_loop(k.run_id) for k in children):
            return sum(caps)  # its branches are tasks (ainvoke): asyncio.gather, no pool
        size, given = pool_of(span)
        why = f"max_concurrency={size}" if given else LANGCHAIN_DEFAULT_POOL
        sources.append(
            LimitSource(
                span.start - origin,
                span.end - origin,
                size,
                f"LangChain's pool of {span.path} (level {span.depth}): {why}",
                outermost=span.depth == 0,
            )
        )
        return sum(caps[:size])

    roots = [s for s in spans if s.run_id in langchain and s.parent_id not in langchain]
    caps = [(r.start - origin, r.end - origin, cap(r)) for r in roots]
    return sources, caps


def _unlimited_runs(
    spans: list[SpanRecord],
    leaves: list[SpanRecord],
    limiters: dict[int, tuple[Any, ...]],
    langchain: set[int],
    origin: float,
) -> list[tuple[float, float]]:
    """The time spans of chainlab leaves that ran under no limit at all."""
    free = [
        (s.start - origin, s.end - origin)
        for s in leaves
        if s.run_id not in langchain and not limiters.get(s.run_id)
    ]
    return free


def _steps(intervals: list[tuple[float, float]]) -> list[tuple[float, int]]:
    events = sorted((t, d) for a, b in intervals for t, d in ((a, 1), (b, -1)))
    out: list[tuple[float, int]] = [(0.0, 0)]
    n = 0
    for t, d in events:
        n += d
        if out and out[-1][0] == t:
            out[-1] = (t, n)
        else:
            out.append((t, n))
    return out


def _sum_steps(intervals: list[tuple[float, float, float]]) -> list[tuple[float, float]]:
    """The sum of ``(start, end, value)`` intervals as a step function."""
    events = sorted((t, v) for a, b, value in intervals for t, v in ((a, value), (b, -value)))
    out: list[tuple[float, float]] = [(0.0, 0.0)]
    finite, infinite = 0.0, 0
    for t, v in events:
        if math.isinf(v):
            infinite += 1 if v > 0 else -1
        else:
            finite += v
        value = math.inf if infinite > 0 else round(finite, 9)
        if out[-1][0] == t:
            out[-1] = (t, value)
        else:
            out.append((t, value))
    return out


def _value_at(steps: list[tuple[float, Any]], t: float, default: Any) -> Any:
    value = default
    for at, v in steps:
        if at > t:
            break
        value = v
    return value
