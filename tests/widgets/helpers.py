"""Helpers for the widget tests: a span collector and the expected final node states."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from chainlab import Span


class Collector:
    """Every span of the runs it listens to, in start order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[Span] = []

    def on_start(self, span: Span) -> None:
        with self.lock:
            self.spans.append(span)

    def on_end(self, span: Span) -> None:
        pass


def expected_states(graph: Any, spans: list[Span]) -> dict[str, tuple[str, int, int]]:
    """From recorded spans, independently of the board: for each graph node,
    ``(state, ok paths, paths)``, counting only the outermost span landing on a node."""
    gid_of: dict[int, str | None] = {}
    latest: dict[str, dict[str, str]] = defaultdict(dict)
    for span in spans:  # start order: a parent before its children, retries in order
        gid = graph.resolve(span.node_id)
        if gid is not None and gid_of.get(span.parent_id) == gid:
            gid = None  # inside a node that stands for its whole subtree
        gid_of[span.run_id] = gid
        if gid is not None:
            latest[gid][span.path] = span.status
    out = {}
    for gid, paths in latest.items():
        statuses = list(paths.values())
        if "running" in statuses:
            state = "running"
        elif "error" in statuses:
            state = "failed"
        elif "ok" in statuses:
            state = "done"
        else:
            state = "cancelled"
        out[gid] = (state, statuses.count("ok"), len(statuses))
    return out


def observed_states(states: dict[str, dict[str, Any]]) -> dict[str, tuple[str, int, int]]:
    """The board's / widget's states in the same shape as :func:`expected_states`."""
    out = {}
    for gid, st in states.items():
        if "elapsed_ms" not in st:
            continue  # input / output / join: no spans of their own
        total = st.get("total", 1)
        done = st.get("done", 1 if st["state"] == "done" else 0)
        out[gid] = (st["state"], done, total)
    return out
