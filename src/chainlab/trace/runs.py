"""Helpers the comparisons share: the median run, a coroutine run on its own loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from chainlab.engine.clock_hooks import start_waiting

if TYPE_CHECKING:
    from chainlab.trace.recording import Recording


def median_run(recordings: list[Recording]) -> Recording:
    """The recording with the median wall time (the lower one of an even count)."""
    ranked = sorted(recordings, key=lambda r: r.wall_s)
    return ranked[(len(ranked) - 1) // 2]


def run_on_fresh_loop(
    make: Callable[[], Coroutine[Any, Any, Any]], *, name: str = "chainlab-compare"
) -> Any:
    """Run a coroutine to completion on a fresh event loop in a helper thread (so it
    works inside Jupyter, whose loop is already running)."""
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=main, name=name)
    thread.chainlab_followed = True  # type: ignore[attr-defined]  # a virtual clock may
    # follow it: the caller waits for it, counted as waiting (its loop, if any, blocked)
    waiting = start_waiting()
    try:
        thread.start()
        thread.join()
    finally:
        if waiting is not None:
            waiting.end()
    if "error" in box:
        raise box["error"]
    return box["value"]
