"""Which library a learner's code runs on: chainlab, or langchain_core after the swap.

A lesson's exercise cell defines a function or class in the notebook, whose globals hold
the setup cell's ``RunnableLambda``: chainlab's, or LangChain's in the swapped lesson
(:func:`chainlab.lessons.swap.to_langchain`). A check builds its test chains from the
same library, so a swapped kernel never sees a chainlab runnable.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, NamedTuple


class Library(NamedTuple):
    """``name`` ("chainlab" or "langchain_core"), its runnables and its simulated world."""

    name: str
    runnables: ModuleType
    sim: ModuleType


def notebook_globals(obj: Any) -> dict[str, Any]:
    """The namespace ``obj`` (a function or class from a cell) was defined in."""
    namespace = getattr(obj, "__globals__", None)
    if isinstance(namespace, dict):
        return namespace
    if isinstance(obj, type):  # a class: its methods know where it was defined
        for member in vars(obj).values():
            namespace = getattr(member, "__globals__", None)
            if isinstance(namespace, dict):
                return namespace
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    return vars(module) if module is not None else {}


def library_of(obj: Any) -> Library:
    """The library of the ``RunnableLambda`` where ``obj`` was defined (chainlab if none)."""
    lambda_class = notebook_globals(obj).get("RunnableLambda")
    if getattr(lambda_class, "__module__", "").startswith("langchain_core"):
        import langchain_core.runnables

        import chainlab.sim.langchain

        return Library("langchain_core", langchain_core.runnables, chainlab.sim.langchain)
    import chainlab.engine
    import chainlab.sim

    return Library("chainlab", chainlab.engine, chainlab.sim)
