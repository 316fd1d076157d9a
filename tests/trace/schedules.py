"""Recordings of known schedules, built span by span (exact times, no clock)."""

from __future__ import annotations

from typing import Any

import chainlab
from chainlab.engine.tracing import Span

Row = tuple[str, str, float, float, str]  # path, kind, start, end, lane


def build(
    rows: list[Row], *, limiters: dict[str, tuple[Any, ...]] | None = None
) -> chainlab.Recording:
    """A recording of ``rows`` (parents before children; a parent is the longest
    recorded path that prefixes a row's path)."""
    rec = chainlab.Recording("known")
    rec.t0_ns = 0
    ids: dict[str, int] = {}
    for path, kind, start, end, lane in rows:
        parent = max((p for p in ids if path.startswith(p + "/")), key=len, default=None)
        span = Span(
            parent_id=ids[parent] if parent is not None else None,
            node_id=path,
            path=path,
            name=path.rsplit("/", 1)[-1],
            kind=kind,
            lane=lane,
            start_ns=round(start * 1e9),
        )
        span.end_ns = round(end * 1e9)
        span.status = "ok"
        span.limiters = (limiters or {}).get(path, ())
        ids[path] = span.run_id
        rec.adopt(span)
    return rec
