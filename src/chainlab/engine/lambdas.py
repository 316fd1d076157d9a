"""RunnableLambda and ``@chain``: turn a plain function into a runnable leaf."""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import Any

from chainlab.engine.base import Input, Output, Runnable, coerce_to_runnable, is_foreign_runnable
from chainlab.engine.chunks import aiter_of
from chainlab.engine.describe import lambda_source
from chainlab.engine.leaf import (
    arun_leaf,
    arun_sync_leaf,
    iter_leaf,
    run_coroutine_leaf,
    run_leaf,
)
from chainlab.engine.run import Frame, acall_node, call_node
from chainlab.engine.streaming import aiter_leaf, astream_node, stream_node


def _function_name(func: Callable[..., Any]) -> str:
    if isinstance(func, operator.itemgetter | operator.attrgetter):
        return repr(func).replace("operator.", "")
    name = getattr(func, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else name


def accepts_config(func: Callable[..., Any]) -> bool:
    """Whether ``func`` has a ``config`` parameter (it then receives the run's config)."""
    try:
        return "config" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins such as itemgetter have no signature
        return False


def call_with_config(func: Callable[..., Any], input: Any, *config: Any) -> Any:
    """``func(input)``, or ``func(input, config=...)`` when a config is given."""
    return func(input, config=config[0]) if config else func(input)


async def acall_with_config(afunc: Callable[..., Any], input: Any, *config: Any) -> Any:
    """Async :func:`call_with_config`."""
    return await (afunc(input, config=config[0]) if config else afunc(input))


def accumulate(gen: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any) -> Any:
    """Run a generator function to the end; its chunks added up (``a + b``), as
    langchain_core does for a generator in a RunnableLambda (the last chunk wins
    where chunks cannot be added)."""
    output = None
    for chunk in gen(*args, **kwargs):
        output = chunk if output is None else _add(output, chunk)
    return output


async def aaccumulate(agen: Callable[..., AsyncIterator[Any]], *args: Any, **kwargs: Any) -> Any:
    """Async :func:`accumulate`, for an ``async def`` generator."""
    output = None
    async for chunk in agen(*args, **kwargs):
        output = chunk if output is None else _add(output, chunk)
    return output


def _add(total: Any, chunk: Any) -> Any:
    try:
        return total + chunk
    except TypeError:
        return chunk


class RunnableLambda(Runnable[Input, Output]):
    """A function as a runnable: a leaf of the tree, where real work happens.

    >>> RunnableLambda(lambda x: x + 1).invoke(1)
    2

    Sync and ``async def`` functions both work under ``invoke`` and ``ainvoke``; pass
    both as ``RunnableLambda(func, afunc)`` to pick the right one for each driver. A
    function with a ``config`` parameter receives the run's config. A function that
    returns a runnable (chainlab's or langchain_core's) has it run on the same input
    (up to ``recursion_limit``). A generator function (``async def`` too) streams its
    chunks with ``stream`` / ``astream``; ``invoke`` adds them up:

    >>> def words(text):
    ...     for word in text.split():
    ...         yield word + " "
    >>> RunnableLambda(words).invoke("a b"), list(RunnableLambda(words).stream("a b"))
    ('a b ', ['a ', 'b '])
    """

    kind = "leaf"

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        afunc: Callable[..., Any] | None = None,
        name: str | None = None,
    ) -> None:
        if func is None and afunc is None:
            raise TypeError(
                "RunnableLambda needs a function: RunnableLambda(func) or (func, afunc)"
            )
        for f in (func, afunc):
            if f is not None and not callable(f):
                raise TypeError(
                    f"RunnableLambda expects a callable, got {type(f).__name__}: {f!r:.60}"
                )
        if func is not None and _is_async(func):
            func, afunc = None, func
        if afunc is not None and not _is_async(afunc):
            raise TypeError(f"afunc must be an async function, got {afunc!r:.60}")
        main = func if func is not None else afunc
        assert main is not None
        self._given = (func, afunc)  # as passed (for repr, bind and schemas)
        self.name = name or _function_name(main)
        self._config_arg = accepts_config(main)
        self._generator: Callable[..., Iterator[Any]] | None = (
            func if inspect.isgeneratorfunction(func) else None
        )
        self._agenerator: Callable[..., AsyncIterator[Any]] | None = (
            afunc if inspect.isasyncgenfunction(afunc) else None
        )
        if self._generator is not None:  # invoke adds its chunks up; stream yields them
            func = functools.partial(accumulate, self._generator)
        if self._agenerator is not None:
            afunc = functools.partial(aaccumulate, self._agenerator)
        self.func = func
        self.afunc = afunc

    def __repr__(self) -> str:
        func, afunc = self._given
        if isinstance(func, operator.itemgetter):
            return f"RunnableLambda({str(func)[len('operator.') :]})"
        if func is not None:
            return f"RunnableLambda({lambda_source(func) or '...'})"
        assert afunc is not None
        return f"RunnableLambda(afunc={lambda_source(afunc) or '...'})"

    def _with_kwargs(self, kwargs: dict[str, Any]) -> RunnableLambda[Input, Output]:
        func, afunc = self._given
        for f in (func, afunc):
            if f is not None and not takes_kwargs(f, kwargs):
                raise TypeError(
                    f"{self!r}.bind({', '.join(kwargs)}=...): its function "
                    f"{_function_name(f)}{_signature(f)} takes no such keyword argument"
                )
        return RunnableLambda(
            functools.partial(func, **kwargs) if func is not None else None,
            functools.partial(afunc, **kwargs) if afunc is not None else None,
            name=self.name,
        )

    def _call(self, input: Any, frame: Frame) -> Any:
        if self.func is not None:
            if self._config_arg:
                return run_leaf(frame, call_with_config, self.func, input, frame.public_config())
            return run_leaf(frame, self.func, input)
        assert self.afunc is not None
        return run_coroutine_leaf(frame, self._acall, input, frame)

    def _acall_leaf(self, input: Any, frame: Frame) -> Awaitable[Any]:
        """The leaf call under ``ainvoke`` (returned, not awaited here: no extra
        coroutine per call, which 10,000-branch fan-outs would pay for)."""
        if self.afunc is not None and not self._config_arg:
            return arun_leaf(frame, self.afunc, input)
        if self.afunc is not None:
            return arun_leaf(frame, self._acall, input, frame)
        assert self.func is not None
        if self._config_arg:
            return arun_sync_leaf(frame, call_with_config, self.func, input, frame.public_config())
        return arun_sync_leaf(frame, self.func, input)

    def _invoke(self, input: Any, frame: Frame) -> Any:
        output = self._call(input, frame)
        if isinstance(output, Runnable):
            return call_node(output, input, _deeper(frame, output))
        if _is_foreign(output):
            return call_node(_coerce(output), input, _deeper(frame, output))
        return output

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        output = await self._acall_leaf(input, frame)
        if isinstance(output, Runnable):
            return await acall_node(output, input, _deeper(frame, output))
        if _is_foreign(output):
            return await acall_node(_coerce(output), input, _deeper(frame, output))
        return output

    def _stream(self, input: Any, frame: Frame) -> Iterator[Any]:
        config = (frame.public_config(),) if self._config_arg else ()
        if self._generator is not None:
            yield from iter_leaf(frame, call_with_config, self._generator, input, *config)
            return
        output = self._call(input, frame)
        if isinstance(output, Runnable) or _is_foreign(output):
            returned = _coerce(output)  # a returned runnable streams its own chunks
            yield from stream_node(returned, input, _deeper(frame, returned))
        else:
            yield output

    async def _astream(self, input: Any, frame: Frame) -> AsyncIterator[Any]:
        config = (frame.public_config(),) if self._config_arg else ()
        chunks: AsyncGenerator[Any, None]
        if self._agenerator is not None:
            chunks = aiter_leaf(frame, call_with_config, self._agenerator, input, *config)
        elif self._generator is not None and self.afunc is None:  # its chunks, from a thread
            chunks = aiter_of(
                await arun_sync_leaf(frame, _collect, self._generator, input, *config)
            )
        else:
            output = await self._acall_leaf(input, frame)
            if isinstance(output, Runnable) or _is_foreign(output):
                returned = _coerce(output)
                chunks = astream_node(returned, input, _deeper(frame, returned))
            else:
                chunks = aiter_of([output])
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def _acall(self, input: Any, frame: Frame) -> Any:
        assert self.afunc is not None
        if self._config_arg:
            return await self.afunc(input, config=frame.public_config())
        return await self.afunc(input)


def _collect(gen: Callable[..., Iterator[Any]], *args: Any) -> list[Any]:
    return list(call_with_config(gen, *args))


_PLAIN = (Runnable, str, int, float, dict, list, tuple)  # outputs that are no foreign runnable


def _is_foreign(output: Any) -> bool:
    return not isinstance(output, _PLAIN) and is_foreign_runnable(output)


def _coerce(output: Any) -> Runnable[Any, Any]:
    return output if isinstance(output, Runnable) else coerce_to_runnable(output)


def takes_kwargs(func: Callable[..., Any], kwargs: dict[str, Any]) -> bool:
    """Whether ``func`` accepts these keyword arguments (``**kwargs`` or by name)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return True  # no signature to check (a builtin): let the call say
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True
    return all(
        k in params and params[k].kind is not inspect.Parameter.POSITIONAL_ONLY for k in kwargs
    )


def _signature(func: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return "(...)"


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


def _deeper(frame: Frame, runnable: Any) -> Frame:
    """The frame for a runnable that a function returned, one level deeper."""
    limit = frame.run.recursion_limit
    if frame.depth + 1 > limit:
        raise RecursionError(
            f"{frame.path} returned runnables nested more than recursion_limit={limit} "
            "deep; raise the limit with config={'recursion_limit': N} if this is intended"
        )
    child = frame.child(runnable.get_name(), "returned")
    child.depth = frame.depth + 1
    return child


def chain(func: Callable[..., Any]) -> RunnableLambda[Any, Any]:
    """Decorator: make a function a runnable (``@chain`` as in langchain_core).

    >>> @chain
    ... def shout(text):
    ...     return text.upper()
    >>> shout.invoke("hi")
    'HI'
    """
    return RunnableLambda(func)
