"""Packing a leaf call for travel, and saying exactly what cannot travel.

A leaf goes to another process as ``cloudpickle.dumps((fn, args))``. cloudpickle (not
plain pickle) is what lets lambdas, closures and functions defined in a notebook travel:
they are pickled by value. Some objects never pickle (locks, sockets, generators,
connections); then the error names the branch and the object:

>>> import threading
>>> from chainlab import ProcessExecutor, RunnableParallel
>>> lock = threading.Lock()
>>> def count(x):
...     with lock:
...         return x + 1
>>> chain = RunnableParallel(a=count).with_config(executor=ProcessExecutor(1))
>>> chain.invoke(1)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainlab.executors.errors.UnpicklableError: ... 'count' → global 'lock' (a _thread.lock) ...
"""

from __future__ import annotations

import functools
import pickle
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import cloudpickle

from chainlab.engine import RUN_KEY, call_with_config
from chainlab.executors.errors import UnpicklableError

if TYPE_CHECKING:
    from chainlab.engine import Frame

LOCAL_ONLY_KEYS = frozenset({RUN_KEY, "callbacks", "executor"})
"""Config keys a remote leaf does not get: the link to the running tree, the span
listeners and the executor itself only make sense in the calling process."""

_MAX_DEPTH = 6
_MAX_PARTS = 64


def pack(frame: Frame, fn: Callable[..., Any], args: tuple[Any, ...], where: str) -> bytes:
    """``(fn, args)`` as bytes for the trip to ``where``; raises :class:`UnpicklableError`
    naming ``frame.path`` and the object that does not pickle."""
    args = portable(args)
    try:
        return cloudpickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise UnpicklableError(explain(frame, fn, args, exc, where)) from None


def portable(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The args with any run config (a dict that links to the running tree) reduced to
    the keys that make sense elsewhere: a remote leaf that invokes runnables itself
    starts a run of its own in the worker."""
    if not any(isinstance(a, dict) and RUN_KEY in a for a in args):
        return args
    return tuple(
        {k: v for k, v in a.items() if k not in LOCAL_ONLY_KEYS}
        if isinstance(a, dict) and RUN_KEY in a
        else a
        for a in args
    )


def explain(
    frame: Frame, fn: Callable[..., Any], args: tuple[Any, ...], error: Exception, where: str
) -> str:
    """A message naming the branch and the (innermost) object that does not pickle."""
    found = None
    for label, obj in _roots(fn, args):
        if not _picklable(obj):
            found = _culprit(label, obj, 0)
            break
    if found is None:  # only the combination fails (should not happen): say what we know
        return f"cannot run {frame.path!r} on {where}: the call cannot be pickled ({error})"
    trail, obj, reason = found
    return (
        f"cannot run {frame.path!r} on {where}: {trail} ({_kind(obj)}) cannot be pickled "
        f"({reason}). A leaf that runs elsewhere needs a function, input and output that "
        "pickle: create such objects inside the function, or keep this step on threads "
        "with .with_config(executor='threads')."
    )


def _roots(fn: Callable[..., Any], args: tuple[Any, ...]) -> Iterator[tuple[str, Any]]:
    if fn is call_with_config and len(args) >= 2:  # a leaf's function, maybe with config
        fn, args = args[0], args[1:2]
        yield f"function {_name(fn)!r}", fn
        yield "input", args[0]
        return
    yield f"function {_name(fn)!r}", fn
    for i, arg in enumerate(args):
        yield ("input" if len(args) == 1 else f"argument {i}"), arg


def _culprit(trail: str, obj: Any, depth: int) -> tuple[str, Any, str]:
    """Descend into the parts of an unpicklable ``obj`` to the innermost failing one."""
    if depth < _MAX_DEPTH:
        for label, part in _parts(obj):
            if not _picklable(part):
                sep = "" if label[:1] in "[." else " → "
                return _culprit(f"{trail}{sep}{label}", part, depth + 1)
    return trail, obj, _reason(obj)


def _parts(obj: Any) -> Iterator[tuple[str, Any]]:
    """What pickling ``obj`` pickles in turn, labelled for a reader."""
    if isinstance(obj, functools.partial):
        yield "function", obj.func
        yield from ((f"argument {i}", a) for i, a in enumerate(obj.args))
        yield from ((f"keyword {k!r}", v) for k, v in obj.keywords.items())
    elif isinstance(obj, types.MethodType):
        yield "self", obj.__self__
        yield "function", obj.__func__
    elif isinstance(obj, types.FunctionType):
        code = obj.__code__
        for name, cell in zip(code.co_freevars, obj.__closure__ or (), strict=False):
            try:
                yield f"closure variable {name!r}", cell.cell_contents
            except ValueError:  # an empty cell
                continue
        for name in sorted(_global_names(code)):
            if name in obj.__globals__:
                yield f"global {name!r}", obj.__globals__[name]
        yield from ((f"default {i}", d) for i, d in enumerate(obj.__defaults__ or ()))
        yield from ((f"default {k!r}", v) for k, v in (obj.__kwdefaults__ or {}).items())
    elif isinstance(obj, dict):
        yield from ((f"[{k!r}]", v) for k, v in list(obj.items())[:_MAX_PARTS])
    elif isinstance(obj, list | tuple | set | frozenset):
        yield from ((f"[{i}]", v) for i, v in enumerate(list(obj)[:_MAX_PARTS]))
    else:
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            yield from ((f".{k}", v) for k, v in list(attrs.items())[:_MAX_PARTS])
        for slot in getattr(type(obj), "__slots__", ()):
            if isinstance(slot, str) and hasattr(obj, slot):
                yield f".{slot}", getattr(obj, slot)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _picklable(obj: Any) -> bool:
    try:
        cloudpickle.dumps(obj)
    except Exception:
        return False
    return True


def _reason(obj: Any) -> str:
    try:
        cloudpickle.dumps(obj)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return "it pickles alone, not as part of the call"


def _kind(obj: Any) -> str:
    cls = type(obj)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return f"a {name}"


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__
