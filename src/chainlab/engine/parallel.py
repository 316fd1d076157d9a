"""RunnableParallel: one input, many branches at once, one dict out.

    input ──┬─▶ branch "joke" ──┐
            ├─▶ branch "poem" ──┼─▶ {"joke": ..., "poem": ...}
            └─▶ branch "fact" ──┘
           fan-out           fan-in

Under ``invoke`` each branch runs on a thread of the engine's pool; under ``ainvoke``
each branch is a task. The first failing branch fails the whole parallel at once
(fail-fast) with a note naming the branch; siblings not yet started never start.
Opt in to the other policies with :meth:`RunnableParallel.with_partial_results`
(every branch runs; failures become :class:`BranchError` values) or
:meth:`RunnableParallel.with_error_group` (every branch runs; all failures raised).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, closing
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from chainlab.engine import clock_hooks as _clock
from chainlab.engine.afanout import cancel_all, collect_late_failures
from chainlab.engine.base import Input, Runnable, coerce_to_runnable
from chainlab.engine.chunks import AddableDict, aiter_of
from chainlab.engine.describe import indent_after_first
from chainlab.engine.errors import BranchError, name_failed_child
from chainlab.engine.fanout import FanOut, Join, OnError, Tasks, Threads
from chainlab.engine.run import Frame, acall_node, call_node, skip_span
from chainlab.engine.streaming import astream_node, atransform_node, stream_node, transform_node

F = TypeVar("F", bound=FanOut)


class RunnableParallel(Runnable[Input, dict[str, Any]]):
    """Run several runnables on the same input concurrently; return a dict of outputs.

    >>> from chainlab import RunnableParallel
    >>> RunnableParallel(double=lambda x: 2 * x, square=lambda x: x * x).invoke(3)
    {'double': 6, 'square': 9}

    A dict inside a chain is the same thing: ``{"a": f, "b": g} | h``.
    """

    kind = "parallel"

    def __init__(
        self,
        steps__: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        on_error: OnError = "raise",
        **kwargs: Any,
    ) -> None:
        if name is not None and not isinstance(name, str):  # a branch called "name", as in LC
            kwargs["name"], name = name, None
        merged = {**(steps__ or {}), **kwargs}
        steps: dict[str, Runnable[Any, Any]] = {}
        for key, value in merged.items():
            if not isinstance(key, str):
                raise TypeError(f"RunnableParallel branch names must be str, got {key!r}")
            where = f"for branch {key!r} of RunnableParallel"
            try:
                steps[key] = coerce_to_runnable(value, where=where)
            except TypeError as exc:  # from a nested dict: say where it sits
                if isinstance(value, Mapping):
                    exc.add_note(f"inside branch {key!r} of the enclosing dict")
                raise
        self.steps__ = steps
        self.name = name
        if on_error not in ("raise", "partial", "group"):
            raise ValueError(f"on_error must be 'raise', 'partial' or 'group', got {on_error!r}")
        self.on_error: OnError = on_error

    def with_partial_results(self) -> RunnableParallel[Input]:
        """A copy that runs every branch to the end: a failed branch's value is a
        :class:`~chainlab.BranchError` instead of an exception for the whole parallel.

        >>> def bad(x):
        ...     raise ValueError("nope")
        >>> out = RunnableParallel(ok=str, bad=bad).with_partial_results().invoke(1)
        >>> out["ok"], type(out["bad"]).__name__, out["bad"].key
        ('1', 'BranchError', 'bad')
        """
        return RunnableParallel(self.steps__, name=self.name, on_error="partial")

    def with_error_group(self) -> RunnableParallel[Input]:
        """A copy that runs every branch to the end, then raises one ``ExceptionGroup``
        of all the failures (each with a note naming its branch)."""
        return RunnableParallel(self.steps__, name=self.name, on_error="group")

    @property
    def steps(self) -> dict[str, Runnable[Any, Any]]:
        return self.steps__

    def __repr__(self) -> str:
        lines = ",\n  ".join(
            f"{k}: {indent_after_first(repr(v), '  ' + k + ': ')}" for k, v in self.steps__.items()
        )
        return "{\n  " + lines + "\n}"

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or f"RunnableParallel<{key_list(self.steps__)}>"
        return f"{base}{suffix}" if suffix else base

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return [(key, key, step) for key, step in self.steps__.items()]

    # -- fan-out / fan-in ---------------------------------------------------------------

    grace: float | None = None
    """After a branch failed, how long (s) to wait for the branches still running (None:
    the driver's default; a workflow's Parallel waits longer)."""

    def _invoke(self, input: Any, frame: Frame) -> dict[str, Any]:
        fan, frames = self._fan_out(Threads, input, frame)
        run = _or_branch_error if self.on_error == "partial" else call_node
        for step, branch in zip(self.steps__.values(), frames, strict=True):
            fan.start(run, step, input, branch)  # fan-out: each branch on a pool thread
        results = fan.wait()  # every branch done (or the first failure raised)
        return {f.segment: r for f, r in zip(frames, results, strict=True)}  # fan-in

    async def _ainvoke(self, input: Any, frame: Frame) -> dict[str, Any]:
        fan, frames = self._fan_out(Tasks, input, frame)
        run = _aor_branch_error if self.on_error == "partial" else acall_node
        for step, branch in zip(self.steps__.values(), frames, strict=True):
            fan.start(run, step, input, branch)  # fan-out: each branch a task
        results = await fan.wait()
        return {f.segment: r for f, r in zip(frames, results, strict=True)}

    def _fan_out(self, driver: type[F], input: Any, frame: Frame) -> tuple[F, list[Frame]]:
        """The fan-out of the branches, and their frames (sharing a cancel scope of their
        own: a failure here cancels these branches only)."""
        scope = frame.scope.child()
        frames = [frame.child(key, scope=scope) for key in self.steps__]
        steps = list(self.steps__.values())
        fan = driver(
            scope,
            on_error=self.on_error,
            grace=self.grace,
            window=frame.window,
            skip=lambda i: skip_span(steps[i], frames[i], input),
            name=lambda i: frames[i].path,
            what=f"branches of {self.get_name()}",
            noted=lambda exc: self._name_failure(exc, frames),
        )
        return fan, frames

    streams_input = True

    def _stream(self, input: Any, frame: Frame) -> Iterator[dict[str, Any]]:
        """Yield ``AddableDict({key: chunk})`` as the branches stream (all at once)."""
        return self._stream_branches(frame, lambda step, f: stream_node(step, input, f))

    def _transform(self, chunks: Iterator[Any], frame: Frame) -> Iterator[dict[str, Any]]:
        """Every branch gets the input's chunks (they are read first, then replayed)."""
        got = list(chunks)
        return self._stream_branches(frame, lambda step, f: transform_node(step, iter(got), f))

    def _stream_branches(
        self, frame: Frame, streams: Callable[[Runnable[Any, Any], Frame], Iterator[Any]]
    ) -> Iterator[dict[str, Any]]:
        scope = frame.scope.child()
        keys = list(self.steps__)
        frames = [frame.child(key, scope=scope) for key in keys]
        steps = list(self.steps__.values())
        queue: SimpleQueue[tuple[int, Any, BaseException | None, bool]] = SimpleQueue()

        partial = self.on_error == "partial"
        join: Join | None = None

        def put(item: tuple[int, Any, BaseException | None, bool]) -> None:
            queue.put(item)
            if join is not None:
                join.wake()  # the waiting caller takes the chunk (or helps run calls)

        def pump(i: int) -> None:
            start = _seconds(frames[i])
            try:
                with closing(streams(steps[i], frames[i])) as chunks:  # type: ignore[type-var]
                    for chunk in chunks:
                        if scope.cancelled:  # the consumer stopped, or a sibling failed
                            break
                        put((i, chunk, None, False))
            except Exception as exc:
                if not partial:
                    put((i, None, exc, True))
                    raise
                failed = BranchError(keys[i], frames[i].path, exc, _seconds(frames[i]) - start)
                put((i, failed, None, False))
            except BaseException as exc:
                put((i, None, exc, True))
                raise
            put((i, None, None, True))

        def skip(i: int) -> None:  # never started: the stream is over anyway
            skip_span(steps[i], frames[i], None)
            put((i, None, None, True))

        calls: list[Callable[[], Any]] = [functools.partial(pump, i) for i in range(len(steps))]
        join = Join(
            calls, scope, True, False, skip=skip, name=lambda i: frames[i].path, window=frame.window
        )
        join.start()  # (made before it starts: a pump's first chunk must find it)
        ended = 0
        try:
            while ended < len(steps):
                try:
                    index, chunk, error, end = queue.get_nowait()
                except Empty:
                    join.await_progress()  # helps: starts workers, or runs calls here
                    continue
                if error is not None:
                    self._name_failure(error, frames)
                    raise error
                if end:
                    ended += 1
                else:
                    join.caller_leaves()  # (on a virtual clock: see Join.start)
                    yield AddableDict({keys[index]: chunk})
        finally:
            join.caller_leaves()
            if ended < len(steps):  # the consumer stopped early, or a branch failed
                scope.cancel()

    def _astream(self, input: Any, frame: Frame) -> AsyncIterator[dict[str, Any]]:
        return self._astream_branches(frame, lambda step, f: astream_node(step, input, f))

    async def _atransform(
        self, chunks: AsyncIterator[Any], frame: Frame
    ) -> AsyncIterator[dict[str, Any]]:
        got = [chunk async for chunk in chunks]
        stream = self._astream_branches(
            frame, lambda step, f: atransform_node(step, aiter_of(got), f)
        )
        async with aclosing(stream):  # type: ignore[type-var]
            async for chunk in stream:
                yield chunk

    async def _astream_branches(
        self, frame: Frame, streams: Callable[[Runnable[Any, Any], Frame], AsyncIterator[Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        scope = frame.scope.child()
        keys = list(self.steps__)
        frames = [frame.child(key, scope=scope) for key in keys]
        steps = list(self.steps__.values())
        queue: asyncio.Queue[tuple[int, Any, BaseException | None, bool]] = asyncio.Queue()

        partial = self.on_error == "partial"

        async def pump(i: int) -> None:
            start = _seconds(frames[i])
            try:
                async with aclosing(streams(steps[i], frames[i])) as chunks:  # type: ignore[type-var]
                    async for chunk in chunks:
                        queue.put_nowait((i, chunk, None, False))
            except Exception as exc:
                if not partial:
                    queue.put_nowait((i, None, exc, True))
                    raise
                failed = BranchError(keys[i], frames[i].path, exc, _seconds(frames[i]) - start)
                queue.put_nowait((i, failed, None, False))
            except BaseException as exc:
                queue.put_nowait((i, None, exc, True))
                raise
            queue.put_nowait((i, None, None, True))

        loop = asyncio.get_running_loop()
        tasks = [_clock.create_task(loop, pump(i)) for i in range(len(steps))]
        ended = 0
        first: BaseException | None = None
        try:
            while ended < len(steps):
                index, chunk, first, end = await queue.get()
                if first is not None:
                    self._name_failure(first, frames)
                    raise first
                if end:
                    ended += 1
                else:
                    yield AddableDict({keys[index]: chunk})
        finally:
            if ended < len(steps):
                scope.cancel()
                await cancel_all(tasks, lambda i: skip_span(steps[i], frames[i], None))
            collect_late_failures(tasks, first)  # retrieved, and noted on the first

    def _name_failure(self, exc: BaseException, frames: list[Frame]) -> None:
        name_failed_child(exc, frames, self.get_name(), lambda f: f"branch {f.segment!r}")


def key_list(keys: Mapping[str, Any], shown: int = 8) -> str:
    """``a,b,c`` - or, for wide fan-outs, ``k0,k1,k2,…,k9999`` (names stay short,
    so every span path of a 10,000-branch run does not repeat 10,000 keys)."""
    names = list(keys)
    if len(names) <= shown:
        return ",".join(names)
    return ",".join([*names[:3], "…", names[-1]])


def _seconds(frame: Frame) -> float:
    """Now on the run's clock (virtual or real), in seconds: how long a branch took."""
    return _clock.now_ns(frame.run.clock) / 1e9


def _or_branch_error(step: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    """Run a branch of a partial-results parallel: a failure becomes its BranchError
    (a ``CancelledError`` the branch raised itself too); ``SystemExit``,
    ``KeyboardInterrupt`` and other fatal ``BaseException`` s propagate."""
    start = _seconds(frame)
    try:
        return call_node(step, input, frame)
    except (Exception, asyncio.CancelledError) as exc:
        return BranchError(frame.segment, frame.path, exc, _seconds(frame) - start)


async def _aor_branch_error(step: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    start = _seconds(frame)
    try:
        return await acall_node(step, input, frame)
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # this branch was cancelled: not a result
            raise
        return BranchError(frame.segment, frame.path, exc, _seconds(frame) - start)
    except Exception as exc:
        return BranchError(frame.segment, frame.path, exc, _seconds(frame) - start)


RunnableMap = RunnableParallel
"""``RunnableMap`` is another name for :class:`RunnableParallel`, as in LangChain."""
