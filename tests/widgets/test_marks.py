"""A stall's culprit marked on a finished live graph (widget state and static picture)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import chainlab
from chainlab import RunnableParallel
from chainlab.widgets import LiveGraph
from chainlab.widgets.marks import mark_stalls
from chainlab.widgets.static import badge_text


async def blocks(x: Any) -> Any:
    time.sleep(0.3)
    return x


async def polite(x: Any) -> Any:
    await asyncio.sleep(0.05)
    return x


def watched(chain: Any) -> tuple[LiveGraph, chainlab.Recording]:
    """Run ``chain`` under ainvoke, recorded and shown on a finished live graph."""
    live = LiveGraph(chain)
    live.begin()
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1, {"callbacks": [live]}))
    live.finish()
    return live, rec


def test_the_culprit_node_is_marked_in_the_widget_and_the_picture() -> None:
    live, rec = watched(RunnableParallel(bad=blocks, good=polite))
    try:
        marked = mark_stalls(live, rec.loop_stalls)
        assert marked == ["root/bad"]
        state = live.states["root/bad"]
        assert state["stall"].startswith("blocked the event loop 0.")
        assert "stall" not in live.states.get("root/good", {})
        assert "⚠ blocked the event loop" in badge_text(state)
        svg = live.static_svg()
        assert "⚠ blocked the event loop" in svg
        assert 'stroke="#d32f2f"' in svg
    finally:
        live.close()


def test_no_stall_marks_nothing() -> None:
    live, rec = watched(RunnableParallel(a=polite, b=polite))
    try:
        assert mark_stalls(live, rec.loop_stalls) == []
        assert all("stall" not in s for s in live.states.values())
    finally:
        live.close()
