"""Private event loops: where ``async def`` leaves reached by ``invoke`` run.

Each loop runs in a daemon thread of its own, so an async leaf works even when the
calling thread already runs a loop (as in Jupyter), where ``asyncio.run`` would fail.

An async leaf that calls sync ``invoke`` blocks its loop's thread until that call
returns. Async leaves *inside* that call must therefore run on another loop: a leaf
runs on the loop one deeper than any async leaf among its ancestors in the run tree
(``depth``), so nesting never deadlocks, however the inner work reaches its threads.

A loop survives whatever a task does: a ``SystemExit`` or ``KeyboardInterrupt`` that
escapes a task stops ``run_forever``; the thread starts it again (the task's awaiters
have already been told), so later async leaves keep running.
"""

from __future__ import annotations

import asyncio
import threading

_loops: dict[int, asyncio.AbstractEventLoop] = {}
_loop_threads: dict[int, threading.Thread] = {}
_loop_lock = threading.Lock()


def loop_depth_of(thread: threading.Thread) -> int:
    """The depth of the private loop ``thread`` runs, or -1 if it runs none."""
    for depth, loop_thread in list(_loop_threads.items()):
        if loop_thread is thread:
            return depth
    return -1


def private_loop(depth: int = 0) -> asyncio.AbstractEventLoop:
    """The engine's private event loop number ``depth`` (started on first need)."""
    loop = _loops.get(depth)
    if loop is not None and not loop.is_closed():
        return loop
    with _loop_lock:
        loop = _loops.get(depth)
        if loop is not None and not loop.is_closed():
            return loop
        loop = asyncio.new_event_loop()
        name = f"chainlab-loop-{depth}" if depth else "chainlab-loop"
        thread = threading.Thread(target=_serve, args=(loop,), name=name, daemon=True)
        thread.chainlab_followed = True  # type: ignore[attr-defined]  # see clock_hooks
        thread.start()
        _loops[depth], _loop_threads[depth] = loop, thread
        return loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` for ever, even after a task let a ``BaseException`` escape."""
    asyncio.set_event_loop(loop)
    while not loop.is_closed():
        try:
            loop.run_forever()
            return  # stopped on purpose
        except BaseException:  # SystemExit / KeyboardInterrupt escaped a task: go on
            continue
