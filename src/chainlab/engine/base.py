"""``Runnable``: the one interface every chain piece shares, as in LangChain.

A subclass implements two methods and inherits the whole public API:

* ``_invoke(input, frame)``: run synchronously (threads for concurrency);
* ``_ainvoke(input, frame)``: run on the event loop (tasks for concurrency).

``frame`` is the node's place in the run tree (see ``run.py``). The public methods
(``invoke``, ``batch``, ``stream``, ``|``, ``with_retry`` ...) live here and are the same
for every runnable.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from chainlab.engine import batching
from chainlab.engine.config import merge_configs, validate_config
from chainlab.engine.leaf import submit_in_frame
from chainlab.engine.lending import (
    acall_joined,
    alend_while_waiting,
    call_joined,
    lend_while_waiting,
)
from chainlab.engine.limiter import Limiter
from chainlab.engine.run import (
    Frame,
    acall_node,
    awatched_run,
    call_node,
    run_ended,
    run_started,
    start_run,
    watched_run,
)
from chainlab.engine.schema import TypesAndListeners
from chainlab.engine.streaming import astream_node, atransform_node, stream_node, transform_node

if TYPE_CHECKING:
    from chainlab.engine.each import RunnableEach
    from chainlab.engine.fallbacks import RunnableWithFallbacks
    from chainlab.engine.retry import RunnableRetry
    from chainlab.engine.sequence import RunnableSequence

Input = TypeVar("Input")
Output = TypeVar("Output")
Other = TypeVar("Other")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Runnable(TypesAndListeners, Generic[Input, Output]):
    """A unit of work that can be invoked, batched, streamed and composed."""

    name: str | None = None
    kind: str = "leaf"
    """``"leaf"`` for user work; otherwise the structure ("parallel", "sequence", ...)."""
    transparent: bool = False
    """True for wrappers that emit no span of their own (retries re-run their child)."""
    config: Mapping[str, Any] = _EMPTY
    """Config bound with :meth:`with_config` (empty for most runnables)."""
    streams_input: bool = False
    """True for runnables that take their input as a stream (``_transform``): a
    passthrough, a parallel, a LangChain parser. The others get the chunks added up."""

    # -- what subclasses implement ---------------------------------------------------

    def _invoke(self, input: Input, frame: Frame) -> Output:
        raise NotImplementedError

    async def _ainvoke(self, input: Input, frame: Frame) -> Output:
        """Default: run the sync implementation on the engine's pool."""
        return await asyncio.wrap_future(submit_in_frame(frame, self._invoke, input, frame))

    def _stream(self, input: Input, frame: Frame) -> Iterator[Output]:
        yield self._invoke(input, frame)

    async def _astream(self, input: Input, frame: Frame) -> AsyncIterator[Output]:
        yield await self._ainvoke(input, frame)

    def _transform(self, chunks: Iterator[Input], frame: Frame) -> Iterator[Output]:
        """Only for ``streams_input`` runnables: stream output from streamed input."""
        raise NotImplementedError

    def _atransform(self, chunks: AsyncIterator[Input], frame: Frame) -> AsyncIterator[Output]:
        raise NotImplementedError

    def _with_kwargs(self, kwargs: dict[str, Any]) -> Runnable[Input, Output]:
        """A copy whose function gets ``kwargs`` (what :meth:`bind` builds)."""
        raise TypeError(
            f"{self.get_name()} takes no keyword arguments, so .bind({_kw(kwargs)}) has "
            "nothing to pass them to; bind them on the function or model that takes them "
            "(a RunnableLambda, RunnablePassthrough(func), a LangChain model)"
        )

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        """Sub-runnables as ``(id_segment, edge_label, child)``, for graphs."""
        return []

    # -- names -------------------------------------------------------------------------

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        """The runnable's name (its ``name``, else its class name), plus ``suffix``."""
        base = name or self.name or type(self).__name__
        return f"{base}{suffix}" if suffix else base

    def __repr__(self) -> str:
        return self.get_name()

    def __call__(self, input: Input) -> Output:
        """``runnable(x)`` is ``runnable.invoke(x)``.

        This makes a chainlab runnable (a simulated model, say) a plain function to
        langchain_core, which accepts functions wherever it accepts runnables: lesson
        code runs on LangChain by changing the import.
        """
        return self.invoke(input)

    # -- running -----------------------------------------------------------------------

    def invoke(
        self, input: Input, config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Output:
        """Run on one input and return the output; parallel branches run on threads.

        Keyword arguments go to the function, as with :meth:`bind`."""
        if kwargs:
            return self.bind(**kwargs).invoke(input, config)
        frame = start_run(self, config)
        if frame.parent is not None:
            return call_joined(self, input, frame)
        tracer = run_started(frame, "invoke") if frame.run.tracer is not None else None
        try:
            output = call_node(self, input, frame)
        except BaseException as exc:
            frame.scope.cancel(exc)  # cooperative work still running stops early
            if tracer is not None:
                run_ended(tracer, frame, exc)
            raise
        if tracer is not None:  # (no call at all on the hot path without listeners)
            run_ended(tracer, frame, None)
        return output

    async def ainvoke(
        self, input: Input, config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Output:
        """Run on one input on the event loop; parallel branches run as tasks."""
        if kwargs:
            return await self.bind(**kwargs).ainvoke(input, config)
        frame = start_run(self, config)
        if frame.parent is not None:
            return await acall_joined(self, input, frame)
        tracer = run_started(frame, "ainvoke") if frame.run.tracer is not None else None
        try:
            output = await acall_node(self, input, frame)
        except BaseException as exc:
            frame.scope.cancel(exc)
            if tracer is not None:
                run_ended(tracer, frame, exc)
            raise
        if tracer is not None:  # (no call at all on the hot path without listeners)
            run_ended(tracer, frame, None)
        return output

    def batch(
        self,
        inputs: Sequence[Input],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """Run on many inputs at once; outputs in input order.

        One run covers the whole batch, so ``max_concurrency`` bounds all leaf calls of
        all items together. After a failure no queued item starts (unless
        ``return_exceptions=True``, which puts each error in its item's place).
        """
        runnable = self.bind(**kwargs) if kwargs else self
        return batching.batch(runnable, inputs, config, return_exceptions)

    async def abatch(
        self,
        inputs: Sequence[Input],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """Async :meth:`batch`: items run as tasks under one global limit."""
        runnable = self.bind(**kwargs) if kwargs else self
        return await batching.abatch(runnable, inputs, config, return_exceptions)

    def batch_as_completed(
        self,
        inputs: Sequence[Input],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> Iterator[tuple[int, Output | Exception]]:
        """Like :meth:`batch`, but yield ``(index, output)`` as each item finishes."""
        runnable = self.bind(**kwargs) if kwargs else self
        return batching.batch_as_completed(runnable, inputs, config, return_exceptions)

    def abatch_as_completed(
        self,
        inputs: Sequence[Input],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[tuple[int, Output | Exception]]:
        """Async :meth:`batch_as_completed`."""
        runnable = self.bind(**kwargs) if kwargs else self
        return batching.abatch_as_completed(runnable, inputs, config, return_exceptions)

    def stream(
        self, input: Input, config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        """Yield the output in chunks: a RunnableParallel yields ``{key: value}`` as
        branch streams, adding up to the whole dict; a generator function or a
        LangChain model yields its chunks; most runnables yield their whole output once."""
        if kwargs:
            yield from self.bind(**kwargs).stream(input, config)
            return
        frame = start_run(self, config)
        if frame.parent is None:
            yield from watched_run(frame, "stream", stream_node(self, input, frame))
        else:  # streamed from inside a leaf: the leaf lends its slot while it waits
            yield from lend_while_waiting(frame.parent, stream_node(self, input, frame))

    def transform(
        self, input: Iterator[Input], config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        """Like :meth:`stream`, for an input that itself arrives in chunks."""
        if kwargs:
            yield from self.bind(**kwargs).transform(input, config)
            return
        frame = start_run(self, config)
        chunks = transform_node(self, iter(input), frame)
        if frame.parent is None:
            yield from watched_run(frame, "transform", chunks)
        else:
            yield from lend_while_waiting(frame.parent, chunks)

    async def astream(
        self, input: Input, config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        """Async :meth:`stream`."""
        if kwargs:
            async for chunk in self.bind(**kwargs).astream(input, config):
                yield chunk
            return
        frame = start_run(self, config)
        chunks = astream_node(self, input, frame)
        if frame.parent is not None:  # streamed from inside a leaf: it lends its slot
            chunks = alend_while_waiting(frame.parent, chunks)
        else:
            chunks = awatched_run(frame, "astream", chunks)
        async with aclosing(chunks):  # a consumer stopping early stops the work now
            async for chunk in chunks:
                yield chunk

    async def atransform(
        self,
        input: AsyncIterator[Input],
        config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Output]:
        """Async :meth:`transform`."""
        runnable = self.bind(**kwargs) if kwargs else self
        frame = start_run(runnable, config)
        chunks = atransform_node(runnable, aiter(input), frame)
        if frame.parent is not None:
            chunks = alend_while_waiting(frame.parent, chunks)
        else:
            chunks = awatched_run(frame, "atransform", chunks)
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    # -- composition -------------------------------------------------------------------

    def __or__(self, other: Any) -> RunnableSequence:
        from chainlab.engine.sequence import RunnableSequence

        return RunnableSequence(self, coerce_to_runnable(other))

    def __ror__(self, other: Any) -> RunnableSequence:
        from chainlab.engine.sequence import RunnableSequence

        return RunnableSequence(coerce_to_runnable(other), self)

    def pipe(self, *others: Any, name: str | None = None) -> RunnableSequence:
        """``a.pipe(b, c)`` is ``a | b | c``."""
        from chainlab.engine.sequence import RunnableSequence

        return RunnableSequence(self, *(coerce_to_runnable(o) for o in others), name=name)

    def map(self) -> RunnableEach:
        """A runnable that applies this one to every item of a list, in parallel."""
        from chainlab.engine.each import RunnableEach

        return RunnableEach(bound=self)

    def assign(self, **kwargs: Any) -> RunnableSequence:
        """Add keys computed from this runnable's dict output: ``chain.assign(n=len)``."""
        from chainlab.engine.passthrough import RunnableAssign

        return self | RunnableAssign(kwargs)

    def pick(self, keys: str | list[str]) -> RunnableSequence:
        """Keep only ``keys`` of this runnable's dict output (a str key gives the value)."""
        from chainlab.engine.passthrough import RunnablePick

        return self | RunnablePick(keys)

    def bind(self, **kwargs: Any) -> Runnable[Input, Output]:
        """A copy that passes ``kwargs`` to its function on every call (a model's
        ``stop=...``, a function's options), as in langchain_core."""
        return self._with_kwargs(kwargs) if kwargs else self

    def with_config(
        self, config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Runnable[Input, Output]:
        """A copy of this runnable with config keys bound (``run_name``, ``max_concurrency``...)."""
        if config is not None:
            validate_config(config)  # a clear error for a non-dict, before merging it
        merged = merge_configs(config, kwargs)
        validate_config(merged)
        bound = getattr(self, "bound", None)
        if self.transparent and isinstance(bound, Runnable):
            # a retry / timeout has no span of its own: bind inside it, so that every
            # attempt is the bound node (one span each, with its run_name and tags)
            outer = copy.copy(self)
            outer.bound = bound.with_config(merged)  # type: ignore[attr-defined]
            return outer
        return RunnableBinding(self, merged)

    def with_retry(
        self,
        *,
        retry_if_exception_type: tuple[type[BaseException], ...]
        | Callable[[BaseException], bool] = (Exception,),
        wait_exponential_jitter: bool = True,
        exponential_jitter_params: Mapping[str, float] | None = None,
        stop_after_attempt: int = 3,
    ) -> RunnableRetry:
        """Retry on the given exception types (or when a predicate on the exception
        says so), waiting longer (with jitter) each time.

        ``exponential_jitter_params`` are tenacity's ``wait_exponential_jitter``
        arguments (``initial``, ``max``, ``exp_base``, ``jitter``), as in LangChain.
        """
        from chainlab.engine.retry import RunnableRetry

        return RunnableRetry(
            self,
            retry_exception_types=retry_if_exception_type,
            wait_exponential_jitter=wait_exponential_jitter,
            max_attempt_number=stop_after_attempt,
            exponential_jitter_params=exponential_jitter_params,
        )

    def with_fallbacks(
        self,
        fallbacks: Sequence[Runnable[Input, Output]],
        *,
        exceptions_to_handle: tuple[type[BaseException], ...] = (Exception,),
        exception_key: str | None = None,
        raise_last: bool = False,
    ) -> RunnableWithFallbacks:
        """Try ``fallbacks`` in order when this runnable raises one of the exceptions.

        ``exception_key="error"`` passes the previous error to each fallback in its
        (dict) input. When all fail, the first error is raised (as in LangChain), or
        the last one with ``raise_last=True``; the other is attached as a note.
        """
        from chainlab.engine.fallbacks import RunnableWithFallbacks

        return RunnableWithFallbacks(
            self,
            fallbacks,
            exceptions_to_handle=exceptions_to_handle,
            exception_key=exception_key,
            raise_last=raise_last,
        )

    def with_timeout(self, seconds: float) -> Runnable[Input, Output]:
        """Raise ``TimeoutError`` (naming the path) if a call takes longer than ``seconds``.

        chainlab only (langchain_core has no timeouts); see ``engine/timeout.py`` for
        what happens to a sync call that is still running at the deadline.
        """
        from chainlab.engine.timeout import RunnableTimeout

        return RunnableTimeout(self, seconds)

    def get_graph(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """The structure as a graph (nodes share the span ids); see ``engine/graph.py``.

        Called by langchain_core (a LangChain chain drawing its steps), it is
        LangChain's graph of this runnable as one node, which is what LangChain expects.
        """
        if sys._getframe(1).f_globals.get("__name__", "").startswith("langchain_core."):
            from chainlab.engine.interop import langchain_graph

            return langchain_graph(self, config)
        from chainlab.engine.graph import build_graph

        return build_graph(self, **kwargs)


class RunnableBinding(Runnable[Input, Output]):
    """A runnable with config bound to it (what :meth:`Runnable.with_config` returns)."""

    def __init__(
        self,
        bound: Runnable[Input, Output],
        config: Mapping[str, Any],
        *,
        input_type: Any = None,
        output_type: Any = None,
    ) -> None:
        outer = bound if isinstance(bound, RunnableBinding) else None
        self.bound: Runnable[Input, Output] = outer.bound if outer else bound
        self.config = merge_configs(outer.config, config) if outer else dict(config)
        self.custom_input_type: Any = input_type or (outer and outer.custom_input_type)
        self.custom_output_type: Any = output_type or (outer and outer.custom_output_type)
        self.kind = self.bound.kind
        self.transparent = self.bound.transparent  # no span over a retry's attempts
        self.streams_input = self.bound.streams_input

    def __getattr__(self, name: str) -> Any:
        """Anything else comes from the bound runnable (``.steps``...); a method of it
        that returns a new runnable (``.with_partial_results()``) keeps this config."""
        if name.startswith("__") or name in _OWN:  # copy, pickle
            raise AttributeError(name)
        attr = getattr(self.bound, name)
        if not inspect.ismethod(attr):
            return attr

        @functools.wraps(attr)
        def keeping_config(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            return self._rebind(out) if isinstance(out, Runnable) else out

        return keeping_config

    def _rebind(self, runnable: Runnable[Input, Output]) -> RunnableBinding[Input, Output]:
        return RunnableBinding(
            runnable,
            self.config,
            input_type=self.custom_input_type,
            output_type=self.custom_output_type,
        )

    def _with_kwargs(self, kwargs: dict[str, Any]) -> Runnable[Input, Output]:
        return self._rebind(self.bound._with_kwargs(kwargs))

    def __repr__(self) -> str:
        return repr(self.bound)

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return self.bound.get_name(suffix, name=name or self.config.get("run_name"))

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return self.bound._children()

    def _bind(self, frame: Frame) -> Frame:
        frame.config = merge_configs(frame.config, self.config)
        limit = self.config.get("max_concurrency")
        if limit is not None:  # a limit for this subtree, on top of any outer one
            frame.limiters = (*frame.limiters, Limiter(limit))
        return frame

    def _invoke(self, input: Input, frame: Frame) -> Output:
        return self.bound._invoke(input, self._bind(frame))

    async def _ainvoke(self, input: Input, frame: Frame) -> Output:
        return await self.bound._ainvoke(input, self._bind(frame))

    def _stream(self, input: Input, frame: Frame) -> Iterator[Output]:
        return self.bound._stream(input, self._bind(frame))

    def _astream(self, input: Input, frame: Frame) -> AsyncIterator[Output]:
        return self.bound._astream(input, self._bind(frame))

    def _transform(self, chunks: Iterator[Input], frame: Frame) -> Iterator[Output]:
        return self.bound._transform(chunks, self._bind(frame))

    def _atransform(self, chunks: AsyncIterator[Input], frame: Frame) -> AsyncIterator[Output]:
        return self.bound._atransform(chunks, self._bind(frame))


_OWN = frozenset({"bound", "config", "custom_input_type", "custom_output_type"})


def _kw(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r:.30}" for k, v in kwargs.items())


def coerce_to_runnable(thing: Any, *, where: str = "") -> Runnable[Any, Any]:
    """A dict becomes a RunnableParallel, a callable a RunnableLambda.

    >>> coerce_to_runnable({"n": len}).invoke("abc")
    {'n': 3}
    """
    if isinstance(thing, Runnable):
        return thing
    if isinstance(thing, Mapping):
        from chainlab.engine.parallel import RunnableParallel

        return RunnableParallel(dict(thing))
    if is_foreign_runnable(thing):
        from chainlab.engine.foreign import ForeignRunnable

        return ForeignRunnable(thing)
    if callable(thing):
        from chainlab.engine.lambdas import RunnableLambda

        return RunnableLambda(thing)
    place = f" {where}" if where else ""
    raise TypeError(
        f"expected a Runnable, a callable or a dict{place}, got {type(thing).__name__}: "
        f"{thing!r:.80}. Wrap a constant value as `lambda _: value`."
    )


def is_foreign_runnable(thing: Any) -> bool:
    """A langchain_core runnable (a real one: an object that merely has an ``invoke``
    method, a ``Mock`` say, is not), and not a chainlab :class:`Runnable`."""
    from chainlab.engine.interop import langchain_runnable_class

    foreign = langchain_runnable_class()
    return foreign is not None and isinstance(thing, foreign) and not isinstance(thing, Runnable)
