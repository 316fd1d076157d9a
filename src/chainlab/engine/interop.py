"""langchain_core, both ways, without importing it.

* A langchain_core runnable inside a chainlab chain is a leaf (``foreign.py``).
* A chainlab runnable inside a langchain_core chain must be a LangChain ``Runnable``
  to LangChain, or it would be wrapped as a plain function (no streaming, no batch).
  langchain_core's ``Runnable`` is an abstract base class, so chainlab's
  :class:`~chainlab.engine.base.Runnable` is *registered* as a virtual subclass of it:
  ``coerce_to_runnable`` then keeps it as it is and calls its ``invoke``, ``batch``,
  ``transform``, ``ainvoke`` ..., which chainlab has with the same signatures.

Registration happens when both libraries are loaded, in either order: at once if
langchain_core is already imported, else by a one-shot import hook that runs when
``langchain_core.runnables.base`` is first imported. chainlab never imports
langchain_core itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

_MODULE = "langchain_core.runnables.base"


def langchain_runnable_class() -> type | None:
    """langchain_core's ``Runnable`` class, if langchain_core is loaded."""
    module = sys.modules.get(_MODULE)
    return getattr(module, "Runnable", None) if module is not None else None


def _register(module: ModuleType) -> None:
    from chainlab.engine.base import Runnable

    module.Runnable.register(Runnable)


class _Hook(importlib.abc.MetaPathFinder):
    """Registers chainlab's Runnable the moment langchain_core's is defined."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _MODULE:
            return None
        sys.meta_path.remove(self)  # one shot
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_register(module: ModuleType) -> None:
            exec_module(module)
            _register(module)

        loader.exec_module = exec_and_register  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Make chainlab runnables LangChain runnables, now or when LangChain loads."""
    module = sys.modules.get(_MODULE)
    if module is not None and hasattr(module, "Runnable"):
        _register(module)
    elif not any(isinstance(f, _Hook) for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook())


def langchain_graph(runnable: Any, config: Any) -> Any:
    """LangChain's graph of ``runnable``: input, the runnable as one node, output
    (what langchain_core's own ``Runnable.get_graph`` builds)."""
    base = langchain_runnable_class()
    assert base is not None  # only langchain_core calls this
    return getattr(base, "get_graph")(runnable, config)  # noqa: B009 - a class of LangChain


def own_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config from langchain_core, as chainlab reads it: LangChain's callback
    managers and handlers are LangChain's business (they are dropped); chainlab
    span listeners (``on_start`` / ``on_end``) stay."""
    callbacks = config.get("callbacks")
    items: Sequence[Any] = callbacks if isinstance(callbacks, list | tuple) else [callbacks]
    kept = [c for c in items if hasattr(c, "on_start") or hasattr(c, "on_end")]
    out = {k: v for k, v in config.items() if k != "callbacks"}
    if kept:
        out["callbacks"] = kept
    return out
