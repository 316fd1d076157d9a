"""What a recording can tell beyond its timeline: replay, stalls, concurrency.

:class:`Insights` is a base class of :class:`~chainlab.trace.recording.Recording` (kept
apart to keep that module short); each method's work is done in its own module:
:mod:`~chainlab.trace.replay` (what-if replay and sweeps), :mod:`~chainlab.trace.stalls`
(event-loop stalls) and :mod:`~chainlab.trace.concurrency` (calls in flight and limits).
Barrier slack is part of ``analysis()`` (:mod:`~chainlab.trace.slack`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from chainlab.engine import Span
from chainlab.trace.stalls import LoopWatch

if TYPE_CHECKING:
    from chainlab.trace.concurrency import Concurrency
    from chainlab.trace.recording import Recording
    from chainlab.trace.records import SpanRecord
    from chainlab.trace.stalls import LoopStall
    from chainlab.trace.sweep import Sweep


class Insights:
    """Replay, sweeps, event-loop stalls and the concurrency audit of a recording."""

    _raw: list[Span]
    _ended: int
    _lock: threading.Lock
    _watch: LoopWatch
    t0_ns: int

    @property
    def spans(self) -> list[SpanRecord]:  # pragma: no cover - Recording defines it
        raise NotImplementedError

    @property
    def leaf_spans(self) -> list[SpanRecord]:  # pragma: no cover - Recording defines it
        raise NotImplementedError

    # -- beyond the record: replay, stalls, slack, concurrency ---------------------------

    def replay(
        self,
        *,
        max_concurrency: int | None = None,
        workers: int | None = None,
        rate_limit: float | None = None,
    ) -> Recording:
        """What this run would have taken under other limits: a predicted recording.

        A discrete-event re-schedule of the recorded leaf calls (same durations, same
        dependencies), nothing is run; see :mod:`chainlab.trace.replay` and
        docs/replay.md for the model and its limits.

        Args:
            max_concurrency: the run's limit (chainlab: one global limit; a
                langchain_core recording: LangChain's limit per RunnableParallel).
            workers: at most this many calls in flight (a pool of that many threads).
            rate_limit: at most this many call starts per second.

        Raises:
            ValueError: the recording is empty or still running, or a limit is not
                positive.
        """
        from chainlab.trace.replay import check_limits, replay

        return replay(cast("Recording", self), check_limits(max_concurrency, workers, rate_limit))

    def sweep(self, **grid: Any) -> Sweep:
        """Replay at every value of one limit: ``rec.sweep(max_concurrency=range(1, 17))``.

        Returns a :class:`~chainlab.trace.sweep.Sweep`: a table, ``.knee`` (where more
        stops paying) and ``.plot()`` (wall time against the limit).
        """
        from chainlab.trace.sweep import sweep

        return sweep(cast("Recording", self), **grid)

    @property
    def loop_stalls(self) -> list[LoopStall]:
        """Event-loop stalls while recording, each blamed on the leaf that held the loop
        (items with ``.path``, ``.seconds``, ``.start``; see :mod:`chainlab.trace.stalls`)."""
        from chainlab.trace.stalls import attribute

        return attribute(self._watch.raw_stalls(), self.t0_ns, self.leaf_spans)

    def concurrency(self) -> Concurrency:
        """Calls in flight over time, with the effective limit and where it came from
        (``.plot()`` draws the step plot; see :mod:`chainlab.trace.concurrency`)."""
        from chainlab.trace.concurrency import audit

        return audit(cast("Recording", self))

    def started_on_loop(self, run_id: int) -> bool:
        """True if the span ``run_id`` started inside a running event loop (``ainvoke``)."""
        return run_id in self._watch.on_loop

    def span_limiters(self) -> dict[int, tuple[Any, ...]]:
        """Per span (by run id), the concurrency limits it ran under (engine objects)."""
        with self._lock:
            raw = list(self._raw)
        return {s.run_id: s.limiters for s in raw}

    @property
    def langchain_run_ids(self) -> set[int]:
        """The run ids of spans reported by langchain_core (through the bridge)."""
        from chainlab.trace.concurrency import LangChainPool

        with self._lock:
            raw = list(self._raw)
        return {s.run_id for s in raw if any(isinstance(x, LangChainPool) for x in s.limiters)}

    def adopt(self, span: Span, *, on_loop: bool = False) -> None:
        """Add an ended span made elsewhere (a replay builds its recording this way)."""
        with self._lock:
            self._raw.append(span)
            self._ended += 1
        if on_loop:
            self._watch.on_loop.add(span.run_id)
