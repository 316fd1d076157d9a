"""Recording spans: ``with chainlab.record() as rec: chain.invoke(x)``.

A :class:`Recording` is a span listener. Inside the ``with`` block it is attached to
every run that starts (sync or async, on any thread); it can also be attached to one
run only with ``config={"callbacks": [rec]}``. Listening costs one list append per
span: the engine's :class:`~chainlab.engine.tracing.Span` objects are kept as they are
(the engine fills in their end fields itself) and turned into :class:`SpanRecord`
objects, with times in seconds from the recording's start, only when you look.

>>> import chainlab
>>> chain = chainlab.RunnableParallel(a=lambda x: x + 1, b=lambda x: x * 2)
>>> with chainlab.record() as rec:
...     _ = chain.invoke(3)
>>> [(s.node_id, s.kind) for s in rec.spans]
[('root', 'parallel'), ('root/a', 'leaf'), ('root/b', 'leaf')]
>>> rec.spans[1].branch, rec.spans[1].is_leaf
('a', True)
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from chainlab.engine import Span, add_listener, remove_listener, view
from chainlab.engine import clock_hooks as _clock
from chainlab.trace.insights import Insights
from chainlab.trace.records import FAN_OUT_KINDS, SpanRecord
from chainlab.trace.stalls import LoopWatch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from chainlab.trace.analysis import Analysis, Failure


class Recording(Insights):
    """Every span of every run started while it listens; analysis, export and plots.

    Use :func:`record` (a context manager) or attach to one run with
    ``config={"callbacks": [recording]}``. ``watch_loops=False`` turns the event-loop
    stall probe off (``chainlab.trace.stalls``).
    """

    def __init__(self, name: str | None = None, *, watch_loops: bool = True) -> None:
        self.name = name
        self.t0_ns = _clock.now_ns()
        self.stop_ns: int | None = None
        self._raw: list[Span] = []
        self._ended = 0
        self._lock = threading.Lock()
        self._cache_key: tuple[int, int, int] | None = None
        self._spans: list[SpanRecord] = []
        self._analysis: Analysis | None = None
        self._analysis_key: tuple[int, int, int] | None = None
        self._bridge: Any = None  # the LangChain bridge's token while in a with block
        self._watch = LoopWatch(enabled=watch_loops)  # event-loop stalls (trace.stalls)
        self.predicted = False  # made by replay(), not measured

    # -- the listener: cheap and thread-safe --------------------------------------------

    def on_start(self, span: Span) -> None:
        with self._lock:
            self._raw.append(span)
        self._watch.on_start(span)

    def on_end(self, span: Span) -> None:
        with self._lock:
            self._ended += 1
            idle = self._ended >= len(self._raw)
        if idle and self._watch.probes:  # every run has ended: stop watching its loops
            self._watch.stop()

    # -- context manager ------------------------------------------------------------------

    def __enter__(self) -> Recording:
        self.t0_ns = _clock.now_ns()
        self.stop_ns = None
        add_listener(self)
        if "langchain_core" in sys.modules:  # langchain_core runs are recorded too
            from chainlab.trace.langchain import attach

            self._bridge = attach()
        return self

    def __exit__(self, *exc_info: object) -> None:
        remove_listener(self)
        self.stop_ns = _clock.now_ns()
        self._watch.stop()
        if self._bridge is not None:
            from chainlab.trace.langchain import detach

            detach(self._bridge)
            self._bridge = None

    # -- the spans --------------------------------------------------------------------

    @property
    def spans(self) -> list[SpanRecord]:
        """All spans in start order (a parent always comes before its children)."""
        with self._lock:
            started, ended = len(self._raw), self._ended
            raw = list(self._raw)
        # while spans are running they end "now": a new snapshot at every look
        key = (started, ended, 0 if ended >= started else _clock.now_ns())
        if key != self._cache_key:
            self._spans = _convert(raw, self.t0_ns)
            self._cache_key = key
        return self._spans

    @property
    def leaf_spans(self) -> list[SpanRecord]:
        """The spans of user work (functions, models), in start order."""
        return [s for s in self.spans if s.is_leaf]

    def __len__(self) -> int:
        return len(self._raw)

    # -- analysis (see chainlab.trace.analysis) ---------------------------------------

    def analysis(self) -> Analysis:
        """Wall time, work, critical path, speedup... computed once per state."""
        from chainlab.trace.analysis import analyse

        spans = self.spans
        if self._analysis is None or self._analysis_key != self._cache_key:
            self._analysis = analyse(spans)
            self._analysis_key = self._cache_key
        return self._analysis

    @property
    def wall_s(self) -> float:
        """From the first span's start to the last span's end, in seconds."""
        return self.analysis().wall_s

    @property
    def work_s(self) -> float:
        """Sum of the leaf spans' own durations (the work, wherever it ran)."""
        return self.analysis().work_s

    @property
    def critical_path(self) -> list[SpanRecord]:
        """The longest chain of leaf spans that had to run one after another."""
        return self.analysis().critical_path

    @property
    def critical_s(self) -> float:
        """Length of the critical path (the shortest possible wall time)."""
        return self.analysis().critical_s

    @property
    def speedup(self) -> float:
        """``work_s / wall_s``: how many leaves ran at once, on average."""
        return self.analysis().speedup

    @property
    def efficiency(self) -> float:
        """``speedup / lanes_used``: 1.0 when every lane worked all the time."""
        return self.analysis().efficiency

    @property
    def ceiling(self) -> float:
        """``work_s / critical_s``: the best speedup this chain's structure allows."""
        return self.analysis().ceiling

    @property
    def overhead_s(self) -> float:
        """``wall_s - critical_s``: time not explained by the critical path."""
        return self.analysis().overhead_s

    @property
    def lanes(self) -> list[str]:
        """The threads / tasks that ran leaf work, in order of first use."""
        return self.analysis().lanes

    @property
    def lanes_used(self) -> int:
        """The most leaves that ran at the same instant (the workers kept busy at once)."""
        return self.analysis().lanes_used

    @property
    def lane_utilisation(self) -> dict[str, float]:
        """Per lane: the fraction of the wall time it spent in leaf work."""
        return self.analysis().lane_utilisation

    @property
    def idle_gaps(self) -> dict[str, list[tuple[float, float]]]:
        """Per lane: ``(start, end)`` intervals of the wall time without leaf work."""
        return self.analysis().idle_gaps

    # -- export and plots -------------------------------------------------------------

    def to_records(self) -> list[dict[str, Any]]:
        """The spans as plain dicts (``pandas.DataFrame(rec.to_records())``)."""
        return [span.to_record() for span in self.spans]

    def to_chrome_trace(self, path: Any = None) -> dict[str, Any]:
        """Chrome trace / Perfetto JSON (open it in https://ui.perfetto.dev).

        Args:
            path: where to write the JSON file (a str or path); None only returns it.

        Returns:
            The trace as a dict.
        """
        from chainlab.trace.export import chrome_trace, write_json

        trace = chrome_trace(self.spans, name=self.name)
        if path is not None:
            write_json(trace, path)
        return trace

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """The timeline: a lane per worker, a bar per leaf span (see ``chainlab.viz``)."""
        return view("plot_recording")(self, ax=ax, **kwargs)

    def summary(self) -> str:
        """One line: spans, wall time, work, speedup (and event-loop stalls, if any)."""
        if not self._raw:
            return "no spans"
        a = self.analysis()
        spans = f"{'predicted: ' if self.predicted else ''}"
        spans += f"{len(self.spans)} spans ({len(self.leaf_spans)} leaves)"
        if a.failure is not None:  # a run that stopped half-way has no speedup
            return f"{spans}, {a.failure.describe()} after {a.failure.after_s:.3f} s"
        lanes = "lane" if a.lanes_used == 1 else "lanes"
        line = (
            f"{spans}, wall {a.wall_s:.3f} s, "
            f"work {a.work_s:.3f} s, speedup {a.speedup:.2f}x on {a.lanes_used} {lanes}, "
            f"critical path {a.critical_s:.3f} s"
        )
        stalls = self.loop_stalls
        if stalls:
            from chainlab.trace.stalls import stall_summary

            line += f"; {stall_summary(stalls)}"
        return line

    @property
    def failure(self) -> Failure | None:
        """Where the recorded run failed (or was cancelled), or None (see ``analysis``)."""
        return self.analysis().failure

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Recording{name}: {self.summary()}>"


def record(name: str | None = None, *, watch_loops: bool = True) -> Recording:
    """Record every span of every run started inside the ``with`` block.

    >>> import chainlab
    >>> with chainlab.record() as rec:
    ...     _ = chainlab.RunnableLambda(str.upper).invoke("hi")
    >>> len(rec.spans), rec.spans[0].output_preview
    (1, "'HI'")

    Runs started before the block are not recorded; runs started inside it are recorded
    to their end, even if that is after the block. Under ``ainvoke`` the event loops the
    runs use are watched for stalls (``rec.loop_stalls``) unless ``watch_loops=False``.
    """
    return Recording(name, watch_loops=watch_loops)


def _convert(raw: list[Span], t0_ns: int) -> list[SpanRecord]:
    """Engine spans to records: seconds, leaf self-times, depths and branches."""
    now_ns = _clock.now_ns()
    # a parent is appended before its children: the index breaks a tie of the clock
    order = sorted(range(len(raw)), key=lambda i: (raw[i].start_ns, i))
    by_id = {s.run_id: s for s in raw}
    children: dict[int, list[Span]] = {}
    roots: list[Span] = []
    for span in raw:
        if span.parent_id is not None and span.parent_id in by_id:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    many_roots = len(roots) > 1
    depth: dict[int, int] = {}
    branch: dict[int, str | None] = {}
    for span in raw:  # parents before children (append order)
        parent = by_id.get(span.parent_id) if span.parent_id is not None else None
        if parent is None:
            depth[span.run_id] = 0
            branch[span.run_id] = span.path if many_roots else None
            continue
        depth[span.run_id] = depth.get(parent.run_id, 0) + 1
        inherited = branch.get(parent.run_id)
        if inherited is None and parent.kind in FAN_OUT_KINDS:
            inherited = span.path[len(parent.path) + 1 :] or span.path
        branch[span.run_id] = inherited
    records = []
    for i in order:
        span = raw[i]
        end_ns = span.end_ns if span.end_ns is not None else now_ns
        duration_ns = max(0, end_ns - span.start_ns)
        is_leaf = span.kind == "leaf"
        self_ns = 0
        if is_leaf:
            inner = children.get(span.run_id, ())
            self_ns = duration_ns - _covered(
                [(c.start_ns, c.end_ns or now_ns) for c in inner], span.start_ns, end_ns
            )
        records.append(
            SpanRecord(
                run_id=span.run_id,
                parent_id=span.parent_id,
                node_id=span.node_id,
                path=span.path,
                name=span.name,
                kind=span.kind,
                lane=span.lane,
                start=(span.start_ns - t0_ns) / 1e9,
                end=(end_ns - t0_ns) / 1e9,
                duration=duration_ns / 1e9,
                status=span.status,
                error=span.error,
                attempt=span.attempt,
                input_preview=span.input_preview,
                output_preview=span.output_preview,
                tags=tuple(span.tags),
                is_leaf=is_leaf,
                self_s=max(0, self_ns) / 1e9,
                depth=depth[span.run_id],
                branch=branch[span.run_id],
            )
        )
    return records


def _covered(intervals: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Total length of the union of ``intervals`` clipped to ``[lo, hi]``."""
    total = 0
    reach = lo
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, hi)
        if end > start:
            total += end - start
            reach = end
    return total
