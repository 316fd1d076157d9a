"""The structure of a langchain_core runnable, walked as chainlab walks its own.

chainlab draws a LangChain chain by walking its runnables, not with LangChain's
``get_graph()``: that graph drops a parallel's branch keys (its edges carry no label)
and has no ids a live view could match to runs. Walking gives the same shapes and node
ids as a chainlab chain (``root``, ``root/0``, ``root/0/joke/1``...), and the LangChain
bridge (:mod:`chainlab.trace.langchain`) derives the same ids from LangChain's
callbacks, so a run lights up the node it belongs to.

=========================  ==============  =========================================
langchain_core class       kind            children (id segment, edge label)
=========================  ==============  =========================================
RunnableSequence           ``sequence``    steps ``0``, ``1``, ...
RunnableParallel           ``parallel``    one per key (``joke``, ``joke``)
RunnableAssign             ``assign``      its mapper's branches (plus passthrough)
RunnableEach (``.map()``)  ``map``         the body, ``*`` (``each item``)
RunnableWithFallbacks      ``fallbacks``   ``0`` (``try``), ``1`` (``fallback 1``)...
RunnableBinding, retry     (its bound's)   its bound's: drawn as the bound runnable
                           (a retry's run: ``retry:<bound's kind>``, for the bridge)
RunnablePassthrough/Pick   ``passthrough`` none
models, prompts, lambdas   ``leaf``        none
=========================  ==============  =========================================

Anything else (your own ``Runnable`` subclass) is one ``leaf`` with a ``note``: its
inside is not visible, what runs in it shows on its node.

This module imports nothing from langchain_core until a LangChain object is walked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Children = list[tuple[str, str, Any]]


def is_langchain_runnable(thing: Any) -> bool:
    """True for a langchain_core ``Runnable`` (without importing langchain_core)."""
    return any(
        cls.__name__ == "Runnable" and cls.__module__ == "langchain_core.runnables.base"
        for cls in type(thing).__mro__
    )


@dataclass
class Shape:
    """One runnable, as chainlab draws it.

    Attributes:
        kind: ``"leaf"``, ``"passthrough"``, ``"sequence"``, ``"parallel"``,
            ``"assign"``, ``"map"`` or ``"fallbacks"``.
        name: the node's name (LangChain's ``get_name()``).
        children: ``(id segment, edge label, child runnable)``.
        note: why a runnable is drawn as one node although it may hold more.
    """

    kind: str
    name: str
    children: Children = field(default_factory=list)
    note: str = ""


def shape(runnable: Any) -> Shape:
    """The :class:`Shape` of a langchain_core runnable (never raises)."""
    try:
        return _shape(unbind(runnable))
    except Exception as exc:  # a broken custom runnable: still one node
        name = type(runnable).__name__
        return Shape("leaf", name, note=f"{name}: cannot look inside ({exc!r:.80})")


def unbind(runnable: Any) -> Any:
    """Bindings (``.bind()``, ``.with_config()``, ``.with_retry()``) draw as their bound
    runnable: they start no run of their own, or one around their bound's runs."""
    from langchain_core.runnables.base import RunnableBindingBase

    while isinstance(runnable, RunnableBindingBase):
        runnable = runnable.bound
    return runnable


def _shape(runnable: Any) -> Shape:
    from langchain_core.runnables import (
        RunnableAssign,
        RunnableParallel,
        RunnablePassthrough,
        RunnablePick,
        RunnableSequence,
        RunnableWithFallbacks,
    )
    from langchain_core.runnables.base import RunnableEachBase

    name = str(runnable.get_name())
    if isinstance(runnable, RunnableSequence):
        return Shape("sequence", name, [(str(i), "", s) for i, s in enumerate(runnable.steps)])
    if isinstance(runnable, RunnableParallel):
        return Shape("parallel", name, [(k, k, s) for k, s in runnable.steps__.items()])
    if isinstance(runnable, RunnableAssign):
        return Shape("assign", name, _shape(runnable.mapper).children)
    if isinstance(runnable, RunnableEachBase):
        return Shape("map", name, [("*", "each item", runnable.bound)])
    if isinstance(runnable, RunnableWithFallbacks):
        tries = [runnable.runnable, *runnable.fallbacks]
        return Shape(
            "fallbacks",
            name,
            [(str(i), "try" if i == 0 else f"fallback {i}", r) for i, r in enumerate(tries)],
        )
    if isinstance(runnable, RunnablePick) or (
        isinstance(runnable, RunnablePassthrough) and runnable.func is None
    ):
        return Shape("passthrough", name)
    return Shape("leaf", name, note="" if _known_leaf(runnable) else _custom_note(name))


def _wrapped_in(runnable: Any, cls: type) -> bool:
    """True if a binding of type ``cls`` is around ``runnable``'s innermost bound."""
    from langchain_core.runnables.base import RunnableBindingBase

    while isinstance(runnable, RunnableBindingBase):
        if isinstance(runnable, cls):
            return True
        runnable = runnable.bound
    return False


def _known_leaf(runnable: Any) -> bool:
    """A leaf LangChain defines (or a subclass of one: a model, a retriever, a tool...)."""
    from langchain_core.runnables import Runnable, RunnableSerializable

    generic = (Runnable, RunnableSerializable)
    for cls in type(runnable).__mro__:
        if cls in generic:
            return False  # reached the bare base: a custom Runnable subclass
        if cls.__module__.startswith(("langchain", "chainlab.")):
            return True
    return False


def _custom_note(name: str) -> str:
    return f"{name} is a custom Runnable: drawn as one node (runs inside it show on it)"


def kinds_of(runnable: Any, node_id: str = "root") -> dict[str, str]:
    """Every node id of the walked structure -> its kind (what the bridge needs to
    turn a run's parent into its id segment)."""
    from langchain_core.runnables.retry import RunnableRetry

    out: dict[str, str] = {}
    stack = [(runnable, node_id)]
    while stack:
        item, nid = stack.pop()
        s = shape(item)
        out[nid] = f"retry:{s.kind}" if _wrapped_in(item, RunnableRetry) else s.kind
        stack.extend((child, f"{nid}/{seg}") for seg, _, child in s.children)
    return out


def notes_of(runnable: Any) -> list[str]:
    """The notes of every node (one line each, in walking order, without repeats)."""
    notes: list[str] = []
    stack = [runnable]
    while stack:
        s = shape(stack.pop())
        if s.note and s.note not in notes:
            notes.append(s.note)
        stack.extend(child for _, _, child in reversed(s.children))
    return notes
