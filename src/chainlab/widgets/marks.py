"""Marks on a finished live graph: the node that blocked the event loop.

After an ``ainvoke`` run, :func:`mark_stalls` writes each event-loop stall of the
recording (``rec.loop_stalls``) on the culprit's node: its badge reads
``"⚠ blocked the event loop 0.30 s"`` and its outline turns red, in the live widget
and in the static picture that follows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def mark_stalls(live: Any, stalls: Iterable[Any]) -> list[str]:
    """Mark the culprit node of every stall on ``live`` (a finished LiveGraph).

    Returns the graph node ids that were marked (stalls not blamed on a node of this
    graph, or on no span at all, mark nothing).
    """
    worst: dict[str, float] = {}
    for stall in stalls:
        span = getattr(stall, "span", None)
        node = live.board.resolve(span.node_id) if span is not None else None
        if node is not None:
            worst[node] = worst.get(node, 0.0) + stall.seconds
    if not worst:
        return []
    states = {key: dict(value) for key, value in (live.publisher.last_states or {}).items()}
    for node, seconds in worst.items():
        states.setdefault(node, {"state": "done"})["stall"] = (
            f"blocked the event loop {seconds:.2f} s"
        )
    live.publisher.last_states = states
    live.states = states
    live.refresh_displays()
    return list(worst)
