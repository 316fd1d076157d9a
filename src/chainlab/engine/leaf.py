"""Leaf calls: where user code (a function, a model) actually runs.

Every leaf goes through here, so this is where the engine

* takes a slot of the run's concurrency limit (and gives it back),
* refuses to start work whose run was already cancelled,
* makes the run visible to the user's code (``chainlab.cancelled()``, nested calls),
* hands the call to the configured executor (threads by default; see ``executors``).

Four cases, by the function's kind and the driver:

==================  ==========================  =====================================
function            ``invoke`` (threads)        ``ainvoke`` (event loop)
==================  ==========================  =====================================
sync ``def``        called in this thread       called on the engine's thread pool
``async def``       run on a private loop       awaited in this task
==================  ==========================  =====================================
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from chainlab.engine.cancel import Cancelled
from chainlab.engine.pool import get_pool
from chainlab.engine.run import Frame, _current, start_deferred


def _not_started(frame: Frame) -> Cancelled:
    return Cancelled(f"{frame.path} was not started: its run was cancelled")


def run_leaf(frame: Frame, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` as the leaf work of ``frame``, in this thread."""
    limiters = frame.limiters
    for limiter in limiters:
        limiter.acquire()
    frame.holds_slot = bool(limiters)
    if frame.deferred is not None:
        start_deferred(frame)  # the span starts now that the work can start
    token = _current.set(frame)
    try:
        if frame.scope.cancelled:
            raise _not_started(frame)
        executor = frame.config.get("executor")
        if executor is None or executor == "threads":
            return fn(*args)
        from chainlab.engine.executors import resolve_executor

        return resolve_executor(executor).call(frame, fn, args)
    finally:
        _current.reset(token)
        if frame.holds_slot:
            frame.holds_slot = False
            for limiter in reversed(limiters):
                limiter.release()


async def arun_leaf(frame: Frame, afn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """Await ``afn(*args)`` as the leaf work of ``frame``, in this task."""
    limiters = frame.limiters
    for limiter in limiters:
        await limiter.aacquire()
    frame.holds_slot = bool(limiters)
    if frame.deferred is not None:
        start_deferred(frame)  # the span starts now that the work can start
    token = _current.set(frame)
    try:
        if frame.scope.cancelled:
            raise _not_started(frame)
        return await afn(*args)
    finally:
        _current.reset(token)
        if frame.holds_slot:
            frame.holds_slot = False
            for limiter in reversed(limiters):
                limiter.release()


async def arun_sync_leaf(frame: Frame, fn: Callable[..., Any], *args: Any) -> Any:
    """Run sync ``fn(*args)`` under ``ainvoke``: on the engine's pool, not the loop's
    small default executor, holding a slot of the limit while it runs."""
    limiters = frame.limiters
    for limiter in limiters:
        await limiter.aacquire()
    frame.holds_slot = bool(limiters)
    if frame.deferred is not None:
        start_deferred(frame)  # the span starts now that the work can start
    try:
        if frame.scope.cancelled:
            raise _not_started(frame)
        executor = frame.config.get("executor")
        if executor is not None and executor != "threads":
            from chainlab.engine.executors import resolve_executor

            return await resolve_executor(executor).acall(frame, fn, args)
        return await asyncio.wrap_future(submit_in_frame(frame, fn, *args))
    finally:
        if frame.holds_slot:
            frame.holds_slot = False
            for limiter in reversed(limiters):
                limiter.release()


def submit_in_frame(frame: Frame, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``fn(*args)`` on the pool with the caller's context and ``frame`` current."""
    context = contextvars.copy_context()

    def call() -> Any:
        _current.set(frame)
        if frame.span is not None:  # the work runs here: this thread is its lane
            frame.span.lane = threading.current_thread().name
        return fn(*args)

    return get_pool().submit(context.run, call)


# -- async functions under invoke: one private event loop in a background thread --------

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def private_loop() -> asyncio.AbstractEventLoop:
    """The engine's own event loop, for ``async def`` leaves reached by ``invoke``.

    It runs in its own daemon thread, so it works even when the calling thread already
    runs a loop (as in Jupyter), where ``asyncio.run`` would fail.
    """
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="chainlab-loop", daemon=True).start()
            _loop = loop
        return _loop


def run_coroutine_leaf(
    frame: Frame, afn: Callable[..., Coroutine[Any, Any, Any]], *args: Any
) -> Any:
    """Run ``async def`` ``afn(*args)`` to completion from sync code (``invoke``).

    langchain_core raises here; chainlab runs it on its private loop and waits.
    """
    future = asyncio.run_coroutine_threadsafe(arun_leaf(frame, afn, *args), private_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # Ctrl-C or fail-fast: stop the coroutine too
        raise
