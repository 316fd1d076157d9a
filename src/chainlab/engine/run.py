"""Runs and frames: the state one top-level call shares with its whole tree.

``chain.invoke(x)`` creates one :class:`Run` (the merged config, the global limiter,
the listeners) and a root :class:`Frame`. Each node execution gets its own frame,
a child of its parent's, so the frame chain *is* the position in the tree: the span
path, the node id of the graph and the cancel scope all come from it.

``call_node`` / ``acall_node`` are the only places that run a node: they emit the
span events (when someone listens) and name the failing branch in errors.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from chainlab.engine import clock_hooks as _clock
from chainlab.engine.abandon import check_budget
from chainlab.engine.cancel import CancelScope
from chainlab.engine.config import DEFAULT_RECURSION_LIMIT, merge_configs, validate_config
from chainlab.engine.errors import mark_origin
from chainlab.engine.limiter import Limiter
from chainlab.engine.tracing import Span, Tracer, global_listeners, preview_later

if TYPE_CHECKING:
    from chainlab.engine.base import Runnable

T = TypeVar("T")

_RUN_KEY = "__chainlab_frame__"  # a config carrying this key joins that frame's run
_UNSET = object()

_current: contextvars.ContextVar[Frame | None] = contextvars.ContextVar(
    "chainlab_frame", default=None
)


class Run:
    """What one top-level call shares with its whole tree."""

    __slots__ = ("clock", "config", "mode", "name", "recursion_limit", "size", "tracer")

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.clock = _clock.current_clock()  # None: the real clock (kept for the whole run)
        if self.clock is not None:
            _clock.check_thread(self.clock)
        self.mode = "invoke"
        """How the run was called: ``invoke``, ``ainvoke``, ``batch``, ``stream``, ..."""
        self.name = ""
        """The root runnable's name (or the config's ``run_name``)."""
        self.size: int | None = None
        """The number of inputs of a batch run (None otherwise)."""
        self.recursion_limit: int = config.get("recursion_limit") or DEFAULT_RECURSION_LIMIT
        listeners = global_listeners()
        callbacks = config.get("callbacks")
        if callbacks is not None and not isinstance(callbacks, list | tuple):
            callbacks = [callbacks]  # one listener (an empty recording is falsy)
        if callbacks:  # a listener both global and passed in the config hears each span once
            listeners = (*listeners, *(c for c in callbacks if all(c is not g for g in listeners)))
        self.tracer = Tracer(listeners) if listeners else None


class Frame:
    """One node execution's place in the run tree."""

    __slots__ = (
        "_node_id",
        "_path",
        "attempt",
        "config",
        "deferred",
        "depth",
        "ended",
        "holds_slot",
        "id_segment",
        "lends",
        "lent",
        "limiters",
        "loop_depth",
        "parent",
        "reclaiming",
        "run",
        "scope",
        "segment",
        "span",
    )

    def __init__(
        self,
        run: Run,
        parent: Frame | None,
        segment: str,
        id_segment: str,
        scope: CancelScope,
        config: Mapping[str, Any],
        limiters: tuple[Limiter, ...] = (),
        depth: int = 0,
    ) -> None:
        self.run = run
        self.parent = parent
        self.segment = segment
        self.id_segment = id_segment
        self.scope = scope
        self.config = config
        self.limiters = limiters
        self.depth = depth
        self.attempt = 1
        self.span: Span | None = None
        self.deferred: tuple[Runnable[Any, Any], Any, str, tuple[str, ...]] | None = None
        self.holds_slot = False
        self.lends = 0  # nested calls running on this leaf's lent slot
        self.lent = False  # the slot is lent out (to be taken back by the last of them)
        self.reclaiming = False
        self.ended = False  # a leaf whose user code has returned (its config joins no more)
        self.loop_depth = -1  # the private loop an async leaf runs on under invoke (loops.py)
        self._path: str | None = None
        self._node_id: str | None = None

    def child(
        self, segment: str, id_segment: str | None = None, scope: CancelScope | None = None
    ) -> Frame:
        """The frame of a child node (``id_segment`` defaults to ``segment``)."""
        return Frame(
            self.run,
            self,
            segment,
            segment if id_segment is None else id_segment,
            self.scope if scope is None else scope,
            self.config,
            self.limiters,
            self.depth,
        )

    def retry(
        self,
        attempt: int,
        config: Mapping[str, Any],
        limiters: tuple[Limiter, ...],
        scope: CancelScope,
    ) -> Frame:
        """The same node again (a retry): same position, a fresh cancel scope under
        ``scope``, and the ``config`` / ``limiters`` the first attempt started with
        (a binding or a timeout inside changes its own frame's for that attempt)."""
        frame = Frame(
            self.run,
            self.parent,
            self.segment,
            self.id_segment,
            scope.child(),
            config,
            limiters,
            self.depth,
        )
        frame.attempt = attempt
        return frame

    @property
    def window(self) -> int | None:
        """How many children may usefully run at once (the tightest limit), or None."""
        return min(limiter.limit for limiter in self.limiters) if self.limiters else None

    @property
    def path(self) -> str:
        """Human-readable position: ``"RunnableParallel<a,b>/a/double"``."""
        if self._path is None:
            self._path = (
                self.segment if self.parent is None else f"{self.parent.path}/{self.segment}"
            )
        return self._path

    @property
    def node_id(self) -> str:
        """The id of this node in the runnable's graph (map items share it)."""
        if self._node_id is None:
            parent = self.parent
            self._node_id = (
                self.id_segment if parent is None else f"{parent.node_id}/{self.id_segment}"
            )
        return self._node_id

    def public_config(self) -> dict[str, Any]:
        """The config handed to user functions; passing it on joins this run."""
        return {**self.config, _RUN_KEY: self}


ROOT_ID = "root"


def root_frame(
    config: Mapping[str, Any], segment: str, scope: CancelScope, run: Run | None = None
) -> Frame:
    """A frame at the top of a run tree (one per batch item in ``batch``)."""
    limit = config.get("max_concurrency")
    limiters = (Limiter(limit),) if limit is not None else ()
    return Frame(run or Run(config), None, segment, ROOT_ID, scope, config, limiters)


def shared_limit(runnable: Runnable[Any, Any], frames: list[Frame]) -> list[Frame]:
    """A ``max_concurrency`` bound (``with_config``) to the runnable of a batch or a
    ``.map()`` bounds all its items together, as in langchain_core (the binding alone,
    applied per item, would only bound each item's own subtree)."""
    while runnable.transparent and hasattr(runnable, "bound"):  # a retry / timeout: inside
        runnable = runnable.bound
    limit = runnable.config.get("max_concurrency")
    if limit is not None and frames:
        limiter = Limiter(limit)
        for frame in frames:
            frame.limiters = (*frame.limiters, limiter)
    return frames


def current_frame() -> Frame | None:
    """The frame of the node whose user code is running in this thread / task."""
    return _current.get()


def start_run(runnable: Runnable[Any, Any], config: Mapping[str, Any] | None) -> Frame:
    """The frame for a top-level call, or for a call joining an enclosing run.

    A call joins the enclosing run when it is made from inside a node's user code
    (the context variable is set) or when its config came from such code, while that
    code runs; a config kept and reused after its leaf returned starts a run of its own.
    A ``max_concurrency`` in the config of a joined call limits that call's subtree,
    within the run's own limit.
    """
    parent: Frame | None = None
    if config:
        if "callbacks" in config:  # maybe from langchain_core: keep chainlab's listeners
            from chainlab.engine.interop import own_config

            config = own_config(config)
        try:
            parent = config.get(_RUN_KEY)
        except AttributeError:  # not a dict: say so clearly
            validate_config(config)
            raise
        if parent is not None:
            config = {k: v for k, v in config.items() if k != _RUN_KEY}
            if parent.ended:  # kept after its leaf returned: that run is over
                parent = None
        validate_config(config)
    if parent is None:
        parent = _current.get()
    if parent is None:
        check_budget()  # too many abandoned calls still run: refuse at once, never crawl
        cfg = dict(config) if config else {}
        # the run sees a bound config too (callbacks, recursion_limit); the frame's
        # config gets it when the binding runs
        run = Run(merge_configs(runnable.config, cfg) if runnable.config else cfg)
        return root_frame(cfg, cfg.get("run_name") or runnable.get_name(), CancelScope(), run)
    frame = parent.child(runnable.get_name(), "call:" + runnable.get_name())
    changed = {k: v for k, v in (config or {}).items() if parent.config.get(k, _UNSET) != v}
    if changed:
        frame.config = merge_configs(parent.config, changed)
        limit = changed.get("max_concurrency")
        if limit is not None:  # a limit for this call's subtree, within the run's limit
            frame.limiters = (*frame.limiters, Limiter(limit))
    return frame


def run_started(
    frame: Frame, mode: str, size: int | None = None, name: str | None = None
) -> Tracer | None:
    """Tell the listeners that the top-level run of ``frame`` starts (``on_run_start``);
    the tracer to end it with, or None (nobody listens, or the call joined a run)."""
    tracer = frame.run.tracer
    if tracer is None or frame.parent is not None:
        return None
    run = frame.run
    run.mode, run.size, run.name = mode, size, frame.segment if name is None else name
    tracer.run_start(run)
    return tracer


def run_ended(tracer: Tracer | None, frame: Frame | None, error: BaseException | None) -> None:
    """Tell the listeners the run is over (``on_run_end``), and how it ended."""
    if tracer is not None and frame is not None:
        tracer.run_end(frame.run, run_status(error))


class RootRun:
    """``with RootRun(frame, mode):`` brackets a top-level run with its run hooks (a
    context manager for batches and streams; ``invoke`` inlines the same two calls)."""

    __slots__ = ("frame", "tracer")

    def __init__(
        self, frame: Frame | None, mode: str, size: int | None = None, name: str | None = None
    ) -> None:
        self.frame = frame
        self.tracer = run_started(frame, mode, size, name) if frame is not None else None

    def __enter__(self) -> RootRun:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        run_ended(self.tracer, self.frame, error)


def watched_run(frame: Frame, mode: str, chunks: Iterator[T]) -> Iterator[T]:
    """Yield a top-level run's chunks between its run hooks (a consumer closing the
    stream early ends the run ``cancelled``)."""
    clock = frame.run.clock
    with RootRun(frame, mode):
        yield from chunks if clock is None else _clock.counted_chunks(clock, chunks)


async def awatched_run(
    frame: Frame, mode: str, chunks: AsyncIterator[T]
) -> AsyncGenerator[T, None]:
    """Async :func:`watched_run`."""
    with RootRun(frame, mode):
        async with aclosing(chunks):  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk


def run_status(error: BaseException | None) -> str:
    """A run's outcome: ``done``, ``cancelled`` (Ctrl-C, a cancelled task, a stream
    closed early) or ``failed``."""
    if error is None:
        return "done"
    if isinstance(error, KeyboardInterrupt | asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    return "failed"


def thread_lane() -> str:
    """The lane of sync work: the thread's name."""
    return threading.current_thread().name


def task_lane() -> str:
    """The lane of async work: the task's name (the thread's outside any task)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task.get_name() if task is not None else threading.current_thread().name


def span_tags(runnable: Runnable[Any, Any], frame: Frame) -> tuple[str, ...]:
    """The tags of a node's span, as the node is entered: a binding's span carries
    its bound tags too (its children get them through the config it binds)."""
    tags = tuple(frame.config.get("tags") or ())
    if runnable.config:
        tags = (*tags, *(runnable.config.get("tags") or ()))
    return tags


def open_span(
    runnable: Runnable[Any, Any],
    frame: Frame,
    input: Any,
    lane: str | None = None,
    tags: tuple[str, ...] | None = None,
) -> Span:
    parent = frame.parent
    while parent is not None and parent.span is None:
        parent = parent.parent
    span = Span(
        parent_id=parent.span.run_id if parent is not None and parent.span else None,
        node_id=frame.node_id,
        path=frame.path,
        name=frame.segment if frame.parent is None else runnable.get_name(),
        kind=runnable.kind,
        lane=thread_lane() if lane is None else lane,
        start_ns=time.perf_counter_ns() if frame.run.clock is None else frame.run.clock.now_ns(),
        input_preview=preview_later(input),
        attempt=frame.attempt,
        tags=span_tags(runnable, frame) if tags is None else tags,
    )
    span.limiters = frame.limiters
    frame.span = span
    return span


def close_span(
    frame: Frame, status: str, output: Any = None, error: BaseException | None = None
) -> None:
    if frame.deferred is not None:  # it ended before it got a slot (cancelled, failed)
        start_deferred(frame)
    span = frame.span
    tracer = frame.run.tracer
    if span is None or tracer is None:
        return
    if span.end_ns is None:  # a remote leaf's executor sets the real (remote) end
        clock = frame.run.clock
        span.end_ns = time.perf_counter_ns() if clock is None else clock.now_ns()
    span.status = status  # type: ignore[assignment]
    if error is not None:
        span.error = error
    elif status == "ok":
        span.output_preview = preview_later(output)
    tracer.end(span)


def begin_span(runnable: Runnable[Any, Any], frame: Frame, input: Any, lane: str) -> None:
    """Open a node's span now - or, for a leaf that first waits for a slot of the
    concurrency limit, once it holds one (``leaf.py``), so waiting never counts as work."""
    if runnable.kind == "leaf" and frame.limiters:
        frame.deferred = (runnable, input, lane, span_tags(runnable, frame))
    else:
        tracer = frame.run.tracer
        assert tracer is not None
        tracer.start(open_span(runnable, frame, input, lane))


def start_deferred(frame: Frame) -> None:
    """Open the span :func:`begin_span` put off (the leaf now holds its slot)."""
    deferred, frame.deferred = frame.deferred, None
    tracer = frame.run.tracer
    if deferred is not None and tracer is not None:
        runnable, input, lane, tags = deferred
        tracer.start(open_span(runnable, frame, input, lane, tags))


def skip_span(runnable: Runnable[Any, Any], frame: Frame, input: Any) -> None:
    """Record a node that was never started because its run was cancelled (one that
    started and waits for a slot records itself when its cancellation reaches it)."""
    tracer = frame.run.tracer
    if tracer is not None and frame.span is None and frame.deferred is None:
        span = open_span(runnable, frame, input)
        tracer.start(span)
        span.end_ns = span.start_ns  # it never ran: no time, however slow the listeners
        close_span(frame, "cancelled")


def call_node(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    """Run one node synchronously, with span events and error annotation."""
    clock = frame.run.clock
    if clock is not None:  # a virtual clock counts what runs (see engine/clock.py)
        entered = _clock.enter_node(clock, sync=True)
        try:
            return _call_node(runnable, input, frame)
        finally:
            _clock.exit_node(clock, entered)
    return _call_node(runnable, input, frame)


def _call_node(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    tracer = frame.run.tracer
    if tracer is None or runnable.transparent:
        try:
            return runnable._invoke(input, frame)
        except BaseException as exc:
            mark_origin(exc, frame.path)
            raise
    begin_span(runnable, frame, input, thread_lane())
    try:
        output = runnable._invoke(input, frame)
    except BaseException as exc:
        mark_origin(exc, frame.path)
        close_span(frame, status_of(exc, frame), error=exc)
        raise
    close_span(frame, "ok", output)
    return output


async def acall_node(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    """Run one node on the event loop, with span events and error annotation."""
    clock = frame.run.clock
    if clock is not None:  # a virtual clock counts what runs (see engine/clock.py)
        entered = _clock.enter_node(clock)
        try:
            return await _acall_node(runnable, input, frame)
        finally:
            _clock.exit_node(clock, entered)
    return await _acall_node(runnable, input, frame)


async def _acall_node(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    tracer = frame.run.tracer
    if tracer is None or runnable.transparent:
        try:
            return await runnable._ainvoke(input, frame)
        except BaseException as exc:
            mark_origin(exc, frame.path)
            raise
    begin_span(runnable, frame, input, task_lane())
    try:
        output = await runnable._ainvoke(input, frame)
    except BaseException as exc:
        mark_origin(exc, frame.path)
        close_span(frame, status_of(exc, frame), error=exc)
        raise
    close_span(frame, "ok", output)
    return output


def status_of(exc: BaseException, frame: Frame) -> str:
    from chainlab.engine.cancel import Cancelled

    if isinstance(exc, Cancelled | asyncio.CancelledError) or (
        frame.scope.cancelled and frame.scope.reason is not exc
    ):
        return "cancelled"
    return "error"
