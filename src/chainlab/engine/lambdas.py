"""RunnableLambda and ``@chain``: turn a plain function into a runnable leaf."""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from chainlab.engine.base import Runnable
from chainlab.engine.leaf import (
    arun_leaf,
    arun_sync_leaf,
    iter_leaf,
    run_coroutine_leaf,
    run_leaf,
)
from chainlab.engine.run import Frame, acall_node, call_node


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


class RunnableLambda(Runnable[Any, Any]):
    """A function as a runnable: a leaf of the tree, where real work happens.

    >>> RunnableLambda(lambda x: x + 1).invoke(1)
    2

    Sync and ``async def`` functions both work under ``invoke`` and ``ainvoke``; pass
    both as ``RunnableLambda(func, afunc)`` to pick the right one for each driver. A
    function with a ``config`` parameter receives the run's config. A function that
    returns a runnable has it invoked on the same input (up to ``recursion_limit``).
    A generator function streams its chunks with ``stream``; ``invoke`` adds them up:

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
        self.name = name or _function_name(main)
        self._config_arg = accepts_config(main)
        self._generator: Callable[..., Iterator[Any]] | None = (
            func if inspect.isgeneratorfunction(func) else None
        )
        if self._generator is not None:  # invoke adds its chunks up; stream yields them
            func = functools.partial(accumulate, self._generator)
        if inspect.isasyncgenfunction(afunc):
            afunc = functools.partial(aaccumulate, afunc)
        self.func = func
        self.afunc = afunc

    def _invoke(self, input: Any, frame: Frame) -> Any:
        if self.func is not None:
            if self._config_arg:
                output = run_leaf(frame, call_with_config, self.func, input, frame.public_config())
            else:
                output = run_leaf(frame, self.func, input)
        else:
            assert self.afunc is not None
            output = run_coroutine_leaf(frame, self._acall, input, frame)
        if isinstance(output, Runnable):
            return call_node(output, input, _deeper(frame, output))
        return output

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        if self.afunc is not None and not self._config_arg:
            output = await arun_leaf(frame, self.afunc, input)
        elif self.afunc is not None:
            output = await arun_leaf(frame, self._acall, input, frame)
        elif self._config_arg:
            assert self.func is not None
            output = await arun_sync_leaf(
                frame, call_with_config, self.func, input, frame.public_config()
            )
        else:
            assert self.func is not None
            output = await arun_sync_leaf(frame, self.func, input)
        if isinstance(output, Runnable):
            return await acall_node(output, input, _deeper(frame, output))
        return output

    def _stream(self, input: Any, frame: Frame) -> Iterator[Any]:
        if self._generator is None:
            yield from super()._stream(input, frame)
            return
        config = (frame.public_config(),) if self._config_arg else ()
        yield from iter_leaf(frame, call_with_config, self._generator, input, *config)

    async def _acall(self, input: Any, frame: Frame) -> Any:
        assert self.afunc is not None
        if self._config_arg:
            return await self.afunc(input, config=frame.public_config())
        return await self.afunc(input)


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


def _deeper(frame: Frame, runnable: Runnable[Any, Any]) -> Frame:
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


def from_foreign_runnable(runnable: Any) -> RunnableLambda:
    """A langchain_core runnable as one chainlab leaf (its insides are not drawn).

    It is called without chainlab's config, which langchain_core would not understand.
    """

    def call(input: Any) -> Any:
        return runnable.invoke(input)

    async def acall(input: Any) -> Any:
        return await runnable.ainvoke(input)

    return RunnableLambda(call, acall, name=str(runnable.get_name()))


def chain(func: Callable[..., Any]) -> RunnableLambda:
    """Decorator: make a function a runnable (``@chain`` as in langchain_core).

    >>> @chain
    ... def shout(text):
    ...     return text.upper()
    >>> shout.invoke("hi")
    'HI'
    """
    return RunnableLambda(func)
