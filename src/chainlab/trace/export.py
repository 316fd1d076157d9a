"""Export a recording: Chrome trace / Perfetto JSON, plain records.

The Chrome trace format is a JSON object with a ``traceEvents`` list. Each span becomes
one *complete* event (``"ph": "X"``) with a start ``ts`` and a ``dur`` in microseconds,
on a "thread" per lane, so ui.perfetto.dev (or chrome://tracing) draws the same lanes
as :meth:`Recording.plot`. Span details (path, node id, status, previews) are the
event's ``args``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainlab.trace.records import SpanRecord


def chrome_trace(spans: Sequence[SpanRecord], *, name: str | None = None) -> dict[str, Any]:
    """The spans as a Chrome trace / Perfetto JSON object.

    >>> from chainlab import RunnableLambda, record
    >>> with record() as rec:
    ...     _ = RunnableLambda(str.upper).invoke("hi")
    >>> [e["ph"] for e in chrome_trace(rec.spans)["traceEvents"]]
    ['M', 'M', 'X']
    """
    pid = os.getpid()
    lanes: dict[str, int] = {}
    for span in spans:
        lanes.setdefault(span.lane, len(lanes) + 1)
    events: list[dict[str, Any]] = [
        {
            "ph": "M",
            "name": "process_name",
            "pid": pid,
            "tid": 0,
            "args": {"name": name or "chainlab"},
        },
    ]
    for lane, tid in lanes.items():
        events.append(
            {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": lane}}
        )
    for span in spans:
        args: dict[str, Any] = {
            "path": span.path,
            "node_id": span.node_id,
            "status": span.status,
            "input": span.input_preview,
        }
        if span.output_preview:
            args["output"] = span.output_preview
        if span.error is not None:
            args["error"] = f"{type(span.error).__name__}: {span.error}"
        if span.attempt > 1:
            args["attempt"] = span.attempt
        if span.branch is not None:
            args["branch"] = span.branch
        events.append(
            {
                "ph": "X",
                "name": span.name,
                "cat": span.kind,
                "pid": pid,
                "tid": lanes[span.lane],
                "ts": round(span.start * 1e6, 3),
                "dur": round(span.duration * 1e6, 3),
                "args": args,
            }
        )
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as JSON to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return target
