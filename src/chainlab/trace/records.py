"""What a recording holds: one :class:`SpanRecord` per node execution (plain data).

The analyses (``analysis``, ``slack``, ``stalls``, ``replay``, ``export``) and the views
read these records; none of them needs the :class:`~chainlab.trace.recording.Recording`
that made them, so they import this module and not that one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

FAN_OUT_KINDS = frozenset({"parallel", "map", "assign"})
"""Span kinds whose children are independent branches (they may run at once)."""
SKIPPED_S = 1e-4
"""A cancelled span shorter than this never really started (the engine records nodes
skipped after a failure as spans that start and end at once)."""


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One node execution, as recorded (times in seconds from the recording's start).

    Attributes:
        run_id / parent_id: this execution's id and its enclosing node's (None at a root).
        node_id: the node's id in ``runnable.get_graph()`` (map items share one).
        path: readable position, e.g. ``"RunnableParallel<a,b>/a/slow"``.
        name / kind: the node's name and kind (``"leaf"``, ``"parallel"``, ...).
        lane: the thread or asyncio task that ran it.
        start / end / duration: seconds; a span still running when looked at ends "now".
        status: ``"ok"``, ``"error"``, ``"cancelled"`` (or ``"running"``).
        error: the exception, when the node failed.
        attempt: 1, then 2, 3... for retries.
        input_preview / output_preview: short reprs.
        tags: the run's tags.
        is_leaf: True for user work (functions, models): the bars of the timeline.
        self_s: a leaf's own time: its duration minus the runnables it called or
            returned (which have spans of their own); 0 for structure.
        depth: 0 at a root span, 1 for its children, ...
        branch: the top-level branch this span belongs to (the key under the first
            fan-out below the root, or the item index of a ``.map()``); None outside.
    """

    run_id: int
    parent_id: int | None
    node_id: str
    path: str
    name: str
    kind: str
    lane: str
    start: float
    end: float
    duration: float
    status: str
    error: BaseException | None
    attempt: int
    input_preview: str
    output_preview: str
    tags: tuple[str, ...]
    is_leaf: bool
    self_s: float
    depth: int
    branch: str | None

    @property
    def skipped(self) -> bool:
        """True for a node cancelled before it did anything (it never had a worker)."""
        return self.status == "cancelled" and self.duration < SKIPPED_S

    def to_record(self) -> dict[str, Any]:
        """A plain dict (the error as ``"Type: message"``), for tables and JSON."""
        row = asdict(self)
        error = self.error
        row["error"] = None if error is None else f"{type(error).__name__}: {error}"
        row["tags"] = list(self.tags)
        return row

    def __repr__(self) -> str:
        return (
            f"SpanRecord({self.path!r}, {self.kind}, {self.status}, lane={self.lane!r}, "
            f"{self.start:.4f}s..{self.end:.4f}s)"
        )
