"""What ``execute()`` returns, built from the run's spans.

Every node execution (task, pipeline, Parallel, Map, map item, on_failure handler)
emits a span; :class:`SpanCollector` keeps them and :func:`build_steps` turns them into
one :class:`StepRecord` per node, keyed by its path below the pipeline
(``"parallel_step/branch1/hello_python"``; map items are numbered:
``"map state/0/execute_python"``).
"""

from __future__ import annotations

import reprlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from chainlab.engine import Span

_params_repr = reprlib.Repr()
_params_repr.maxdict = 16
_params_repr.maxlist = _params_repr.maxtuple = 8
_params_repr.maxstring = _params_repr.maxother = 80

_STATUS = {"ok": "success", "error": "fail", "cancelled": "cancelled"}
_KIND = {"leaf": "task", "sequence": "pipeline", "parallel": "parallel", "map": "map"}


class SpanCollector:
    """A span listener that keeps every span of one run (thread-safe, cheap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[Span] = []

    def on_start(self, span: Span) -> None:
        with self._lock:
            self.spans.append(span)

    def on_end(self, span: Span) -> None:  # spans are updated in place
        pass

    def snapshot(self) -> list[Span]:
        with self._lock:
            return list(self.spans)


@dataclass(frozen=True)
class StepRecord:
    """How one node of the pipeline ran.

    Attributes:
        name: the node's path below the pipeline, e.g. ``"parallel/branch1/train"``.
        kind: ``"task"``, ``"pipeline"`` (a branch, map item or handler),
            ``"parallel"`` or ``"map"``.
        status: ``"success"``, ``"fail"`` or ``"cancelled"`` (stopped, or never started,
            because a sibling failed). A Python function that ignored the cancellation
            and still ran when the run ended is ``"cancelled"`` too, with an ``error``
            starting ``"Abandoned:"`` and ``end`` the end of the run.
        attempts: how many times it was tried.
        start / end: seconds since the run started.
        lane: the thread that ran it (its last attempt).
        error: ``"Type: message"`` when it failed.
        output: captured stdout of a shell or notebook task.
    """

    name: str
    kind: str
    status: str
    attempts: int
    start: float
    end: float | None
    lane: str
    error: str | None = None
    output: str = ""

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


ABANDONED = (
    "Abandoned: still running when the run ended, although it was told to stop "
    "(a Python function must check chainlab.cancelled())"
)


def build_steps(
    spans: list[Span], root: Span, t0_ns: int, outputs: Mapping[str, str], end_ns: int
) -> dict[str, StepRecord]:
    """One record per node below ``root`` (attempts of one node are folded together).

    A span still open (its thread abandoned after the cancel grace) is recorded as
    cancelled at ``end_ns``, the end of the run.
    """
    prefix = root.path + "/"
    groups: dict[str, list[Span]] = {}
    for span in spans:
        if span.path.startswith(prefix):
            groups.setdefault(span.path, []).append(span)
    records = []
    for path, group in groups.items():
        group.sort(key=lambda s: (s.start_ns, s.attempt))
        last = group[-1]
        ended_ns, status, error = last.end_ns, last.status, last.error  # read once
        text = None if error is None or status != "error" else f"{type(error).__name__}: {error}"
        if ended_ns is None:
            ended_ns, status, text = end_ns, "cancelled", ABANDONED
        records.append(
            StepRecord(
                name=path[len(prefix) :],
                kind=_KIND.get(last.kind, last.kind),
                status=_STATUS.get(status, status),
                attempts=max(s.attempt for s in group),
                start=(group[0].start_ns - t0_ns) / 1e9,
                end=(ended_ns - t0_ns) / 1e9,
                lane=last.lane,
                error=text,
                output=outputs.get(path, ""),
            )
        )
    return {r.name: r for r in tree_order(records)}


def tree_order(records: list[StepRecord]) -> list[StepRecord]:
    """Depth-first: each node right after its parent, siblings in start order."""
    start = {r.name: r.start for r in records}

    def key(r: StepRecord) -> list[tuple[float, str]]:
        parts = r.name.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return [(start.get(p, r.start), p) for p in prefixes]

    return sorted(records, key=key)


@dataclass
class WorkflowResult:
    """The outcome of ``Pipeline.execute()``.

    Attributes:
        run_id: this run's id.
        status: ``"success"`` or ``"fail"``.
        parameters: the final parameters (on failure: those after the last step of the
            top-level pipeline that finished).
        steps: a :class:`StepRecord` per node, in start order.
        error: the exception that failed the run (None on success).
        duration: wall-clock seconds of the whole run.
        started_at: when the run started.
    """

    run_id: str
    status: Literal["success", "fail"]
    parameters: dict[str, Any]
    steps: dict[str, StepRecord] = field(default_factory=dict)
    error: BaseException | None = None
    duration: float = 0.0
    started_at: datetime = field(default_factory=datetime.now)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def raise_for_status(self) -> WorkflowResult:
        """Raise the run's error if it failed; return the result otherwise."""
        if self.error is not None:
            raise self.error
        return self

    def timeline(self, width: int = 40) -> str:
        """A text Gantt chart: one bar per node, indented by nesting depth."""
        total = max([self.duration, *(r.end or 0.0 for r in self.steps.values())]) or 1e-9
        rows = []
        for record in self.steps.values():
            depth = record.name.count("/")
            label = "  " * depth + record.name.rsplit("/", 1)[-1]
            end = record.end if record.end is not None else total
            a = min(width - 1, int(record.start / total * width))
            b = max(a + 1, min(width, round(end / total * width)))
            bar = " " * a + "█" * (b - a) + " " * (width - b)
            rows.append((label, bar, record))
        label_width = max([len(label) for label, _, _ in rows] + [4])
        lines = [
            f"{'node':<{label_width}} |{'0':<{width - 6}}{self.duration:5.2f}s| start   end  status"
        ]
        for label, bar, r in rows:
            end_text = f"{r.end:6.3f}" if r.end is not None else "     …"
            lines.append(f"{label:<{label_width}} |{bar}| {r.start:6.3f} {end_text}  {r.status}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        head = (
            f"WorkflowResult(run_id={self.run_id!r}, status={self.status!r}, "
            f"duration={self.duration:.3f}s)"
        )
        lines = [head, f"  parameters: {_params_repr.repr(self.parameters)}"]
        if self.error is not None:
            lines.append(f"  error: {type(self.error).__name__}: {self.error}")
        if self.steps:
            width = max(len(name) for name in self.steps)
            lines.append("  steps:")
            for name, r in self.steps.items():
                timing = (
                    f"{r.start:7.3f} → {r.end:7.3f} s"
                    if r.end is not None
                    else f"{r.start:7.3f} → …"
                )
                extra = f"  attempts={r.attempts}" if r.attempts > 1 else ""
                lines.append(f"    {name:<{width}}  {r.kind:<8} {r.status:<9} {timing}{extra}")
        return "\n".join(lines)
