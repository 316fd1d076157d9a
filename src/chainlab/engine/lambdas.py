"""RunnableLambda and ``@chain``: turn a plain function into a runnable leaf."""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from typing import Any

from chainlab.engine.base import Runnable
from chainlab.engine.leaf import arun_leaf, arun_sync_leaf, run_coroutine_leaf, run_leaf
from chainlab.engine.run import Frame, acall_node, call_node


def _function_name(func: Callable[..., Any]) -> str:
    if isinstance(func, operator.itemgetter | operator.attrgetter):
        return repr(func).replace("operator.", "")
    name = getattr(func, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else name


def _accepts_config(func: Callable[..., Any]) -> bool:
    try:
        return "config" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins such as itemgetter have no signature
        return False


class RunnableLambda(Runnable[Any, Any]):
    """A function as a runnable: a leaf of the tree, where real work happens.

    >>> RunnableLambda(lambda x: x + 1).invoke(1)
    2

    Sync and ``async def`` functions both work under ``invoke`` and ``ainvoke``; pass
    both as ``RunnableLambda(func, afunc)`` to pick the right one for each driver. A
    function with a ``config`` parameter receives the run's config. A function that
    returns a runnable has it invoked on the same input (up to ``recursion_limit``).
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
        if func is not None and inspect.iscoroutinefunction(func):
            func, afunc = None, func
        if afunc is not None and not inspect.iscoroutinefunction(afunc):
            raise TypeError(f"afunc must be an async function, got {afunc!r:.60}")
        self.func = func
        self.afunc = afunc
        main = func if func is not None else afunc
        assert main is not None
        self.name = name or _function_name(main)
        self._config_arg = _accepts_config(main)

    def _invoke(self, input: Any, frame: Frame) -> Any:
        if self.func is not None:
            if self._config_arg:
                output = run_leaf(frame, _with_config, self.func, input, frame.public_config())
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
                frame, _with_config, self.func, input, frame.public_config()
            )
        else:
            assert self.func is not None
            output = await arun_sync_leaf(frame, self.func, input)
        if isinstance(output, Runnable):
            return await acall_node(output, input, _deeper(frame, output))
        return output

    async def _acall(self, input: Any, frame: Frame) -> Any:
        assert self.afunc is not None
        if self._config_arg:
            return await self.afunc(input, config=frame.public_config())
        return await self.afunc(input)


def _with_config(func: Callable[..., Any], input: Any, config: dict[str, Any]) -> Any:
    return func(input, config=config)


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


def chain(func: Callable[..., Any]) -> RunnableLambda:
    """Decorator: make a function a runnable (``@chain`` as in langchain_core).

    >>> @chain
    ... def shout(text):
    ...     return text.upper()
    >>> shout.invoke("hi")
    'HI'
    """
    return RunnableLambda(func)
