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
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any

from chainlab.engine import clock_hooks as _clock
from chainlab.engine.abandon import AbandonableCall, check_budget
from chainlab.engine.cancel import Cancelled
from chainlab.engine.fanout import Raised
from chainlab.engine.limiter import Limiter
from chainlab.engine.loops import loop_depth_of, private_loop
from chainlab.engine.pool import get_pool
from chainlab.engine.run import Frame, _current, start_deferred


def _not_started(frame: Frame) -> Cancelled:
    return Cancelled(f"{frame.path} was not started: its run was cancelled")


def run_leaf(frame: Frame, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` as the leaf work of ``frame``, in this thread."""
    take_slot(frame)
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
        frame.ended = True
        give_back_slot(frame)


def iter_leaf(frame: Frame, fn: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]:
    """Yield the chunks of ``fn(*args)`` (a generator) as the leaf work of ``frame``.

    The slot is held until the last chunk; the run is current only while the generator
    computes a chunk, never while the consumer handles it.
    """
    take_slot(frame)
    chunks: Iterator[Any] | None = None
    try:
        if frame.scope.cancelled:
            raise _not_started(frame)
        while True:
            token = _current.set(frame)
            try:
                if chunks is None:
                    chunks = iter(fn(*args))
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                _current.reset(token)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        frame.ended = True
        give_back_slot(frame)


async def arun_leaf(frame: Frame, afn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """Await ``afn(*args)`` as the leaf work of ``frame``, in this task."""
    await atake_slot(frame)
    token = _current.set(frame)
    try:
        if frame.scope.cancelled:
            raise _not_started(frame)
        return await afn(*args)
    except BaseException:
        give_back_slot_soon(frame)
        raise
    finally:
        _current.reset(token)
        frame.ended = True
        give_back_slot(frame)


async def arun_sync_leaf(frame: Frame, fn: Callable[..., Any], *args: Any) -> Any:
    """Run sync ``fn(*args)`` under ``ainvoke``: on the engine's pool, not the loop's
    small default executor, holding a slot of the limit while it runs.

    If the task is cancelled (a sibling failed, a timeout) while the thread still runs,
    the thread is abandoned (see :mod:`chainlab.engine.abandon`) and keeps its slot
    until it ends: the limit counts work that really runs.
    """
    await atake_slot(frame)
    try:
        if frame.scope.cancelled:
            raise _not_started(frame)
        executor = frame.config.get("executor")
        if executor is not None and executor != "threads":
            from chainlab.engine.executors import resolve_executor

            return await resolve_executor(executor).acall(frame, fn, args)
        check_budget()  # too many abandoned calls already: refuse at once
        future = submit_in_frame(frame, fn, *args)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if not future.done():
                abandon_call(frame, future, next(iter(getattr(future, "ran_in", ())), None))
            raise
    except BaseException:
        give_back_slot_soon(frame)
        raise
    finally:
        give_back_slot(frame)


def take_slot(frame: Frame) -> None:
    """Wait for a concurrency slot of every limit over ``frame``, then start its span
    (a span starts when the work can start, not while it queues)."""
    for limiter in frame.limiters:
        limiter.acquire()
    frame.holds_slot = bool(frame.limiters)
    if frame.deferred is not None:
        start_deferred(frame)


async def atake_slot(frame: Frame) -> None:
    """Async :func:`take_slot`."""
    for limiter in frame.limiters:
        await limiter.aacquire()
    frame.holds_slot = bool(frame.limiters)
    if frame.deferred is not None:
        start_deferred(frame)


def give_back_slot(frame: Frame) -> None:
    """Release the concurrency slot(s) ``frame`` holds, if it still holds them."""
    if frame.holds_slot:
        frame.holds_slot = False
        _release_all(frame.limiters)


def give_back_slot_soon(frame: Frame) -> None:
    """After a failure under ``ainvoke``: release one loop turn later.

    By then the fan-out this leaf belongs to has heard of the failure (its done callback
    runs first) and cancelled its scope, so a queued sibling woken by this slot sees
    the cancellation and never starts: fail-fast starts no queued work.
    """
    if frame.holds_slot:
        frame.holds_slot = False
        asyncio.get_running_loop().call_soon(_release_all, frame.limiters)


def _release_all(limiters: tuple[Limiter, ...]) -> None:
    for limiter in reversed(limiters):
        limiter.release()


def abandon_call(frame: Frame, future: Future[Any], thread: threading.Thread | None = None) -> None:
    """The caller gave up on a call that runs on (a thread, a worker process): count it
    in ``abandoned_calls()`` (its ``thread``, if known, leaves the pool) and let the
    call, not the caller, give ``frame``'s concurrency slot back when it really ends."""
    call = AbandonableCall(frame.path, thread)
    call.abandon()
    held, frame.holds_slot = frame.holds_slot, False  # the task releases nothing now

    def ended(_: Future[Any]) -> None:
        call.ended()
        if held:
            _release_all(frame.limiters)

    future.add_done_callback(ended)  # runs at once if it ended meanwhile


def submit_in_frame(frame: Frame, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``fn(*args)`` on the pool with the caller's context and ``frame`` current."""
    context = contextvars.copy_context()
    ran_in: list[threading.Thread] = []  # the thread, which leaves the pool if abandoned

    def call() -> Any:
        _current.set(frame)
        thread = threading.current_thread()
        ran_in.append(thread)
        span = frame.span
        if span is not None and span.end_ns is None:
            # the work runs here, from now: this thread is its lane, and the wait for a
            # thread (on a busy machine, behind this thread's previous call) is no work
            span.lane = thread.name
            span.start_ns = max(span.start_ns, _now_ns(frame))
        value: Any = None
        try:
            value = fn(*args)
            return value
        finally:
            frame.ended = True
            # the work ended now, before this thread takes its next call (the caller
            # closes the span later, when its event loop gets to it); unless the value
            # is a runnable the engine runs next, inside this span
            if span is not None and span.end_ns is None and not _runs_on(value):
                span.end_ns = _now_ns(frame)

    future = get_pool().submit(context.run, call)
    future.ran_in = ran_in  # type: ignore[attr-defined]
    return future


def _now_ns(frame: Frame) -> int:
    """Now on the run's clock (as span times are)."""
    clock = frame.run.clock
    return time.perf_counter_ns() if clock is None else clock.now_ns()


_PLAIN = (type(None), bool, int, float, str, bytes, list, tuple, dict)


def _runs_on(value: Any) -> bool:
    """Whether the engine runs ``value`` after the call returns it (a returned runnable,
    ``lambdas.py``), so the call's span goes on."""
    if type(value) in _PLAIN:
        return False
    from chainlab.engine.base import Runnable, is_foreign_runnable  # (base imports us)

    return isinstance(value, Runnable) or is_foreign_runnable(value)


# -- async functions under invoke: on a private event loop (``loops.py``) --------------


def run_coroutine_leaf(
    frame: Frame, afn: Callable[..., Coroutine[Any, Any, Any]], *args: Any
) -> Any:
    """Run ``async def`` ``afn(*args)`` to completion from sync code (``invoke``).

    langchain_core raises here; chainlab runs it on a private loop and waits. When the
    run is cancelled meanwhile (a sibling failed, a timeout, Ctrl-C), the coroutine is
    cancelled as under ``ainvoke``, so it does not run on unseen. Whatever the
    coroutine raises (``SystemExit`` and ``KeyboardInterrupt`` included) is raised
    here, and the loop goes on serving later leaves.
    """
    scope = frame.scope
    frame.loop_depth = _depth_for(frame)
    loop = private_loop(frame.loop_depth)
    # on a virtual clock the coroutine counts from now (this thread waits for it)
    coro, end = _clock.counted(arun_leaf(frame, afn, *args), frame.run.clock, blocking=True)
    future = asyncio.run_coroutine_threadsafe(_boxed(coro), loop)
    if end is not None:
        future.add_done_callback(end)
    future.add_done_callback(lambda _: scope.wake())
    try:
        with get_pool().blocking():  # waiting for the loop: its place in the cap is free
            if not scope.wait_until(future.done):
                future.cancel()  # the task on the private loop gets CancelledError
                raise Cancelled(f"{frame.path} was cancelled while it ran") from scope.reason
        outcome = future.result()
    except BaseException:
        future.cancel()  # Ctrl-C while waiting: stop the coroutine too
        raise
    if isinstance(outcome, Raised):
        raise outcome.error
    return outcome


async def _boxed(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro``; anything it raises but a real cancellation comes back as
    :class:`Raised`: a ``KeyboardInterrupt`` escaping a task would stop the loop, and a
    ``CancelledError`` of the leaf's own would look like a cancellation of the call."""
    try:
        return await coro
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        return Raised(exc)
    except BaseException as exc:
        return Raised(exc)


def _depth_for(frame: Frame) -> int:
    """The private loop for an async leaf: one deeper than the loop of any async leaf
    above it (that leaf may block its loop, waiting for this one) and than the loop
    whose thread is calling."""
    depth = loop_depth_of(threading.current_thread())
    parent = frame.parent
    while parent is not None:
        depth = max(depth, parent.loop_depth)
        parent = parent.parent
    return depth + 1
