"""A langchain_core chain run by LangChain's engine, heard by chainlab's listeners.

chainlab's views pass listeners (a live graph, a recording) in ``config["callbacks"]``,
as they do for a chainlab chain. LangChain only calls its own callback handlers, so
:class:`LangChainChain` puts those listeners behind one
:class:`~chainlab.trace.langchain.SpanBridge` (given the chain's walked structure, so
every span's node id is a node of chainlab's graph of the chain), keeps LangChain's own
handlers as they are, and hands the rest of the config to LangChain unchanged
(``max_concurrency`` is then LangChain's, per level).

>>> from langchain_core.runnables import RunnableParallel
>>> import chainlab
>>> chain = LangChainChain(RunnableParallel(up=str.upper, n=len))
>>> rec = chainlab.Recording("demo")
>>> chain.invoke("abc", {"callbacks": [rec]})
{'up': 'ABC', 'n': 3}
>>> sorted(s.node_id for s in rec.leaf_spans)
['root/n', 'root/up']
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from chainlab.engine import Tracer, run_status
from chainlab.trace.lcstructure import is_langchain_runnable, kinds_of


class LangChainChain:
    """A langchain_core runnable with chainlab-style config (listeners as callbacks).

    Args:
        runnable: the langchain_core runnable (``.runnable``).
    """

    engine = "langchain_core"

    def __init__(self, runnable: Any) -> None:
        inner: Any = runnable.runnable if isinstance(runnable, LangChainChain) else runnable
        if not is_langchain_runnable(inner):
            raise TypeError(f"expected a langchain_core runnable, got {type(inner).__name__}")
        self.runnable: Any = inner

    @functools.cached_property
    def kinds(self) -> dict[str, str]:
        """Node id -> kind of the walked structure (what the bridge needs)."""
        return kinds_of(self.runnable)

    def get_name(self) -> str:
        return str(self.runnable.get_name())

    def config(self, config: Mapping[str, Any] | None, root_path: str | None = None) -> Any:
        """``config`` for LangChain: its chainlab listeners behind one span bridge."""
        from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager

        from chainlab.trace.langchain import SpanBridge

        cfg = dict(config or {})
        callbacks = cfg.get("callbacks") or []
        if isinstance(callbacks, BaseCallbackManager):
            return cfg
        if not isinstance(callbacks, list | tuple):
            callbacks = [callbacks]
        native = [c for c in callbacks if isinstance(c, BaseCallbackHandler)]
        listeners = tuple(c for c in callbacks if not isinstance(c, BaseCallbackHandler))
        if listeners:
            native.append(SpanBridge(listeners, kinds=self.kinds, root_path=root_path))
        cfg["callbacks"] = native
        return cfg

    def _batch_configs(self, n: int, config: Mapping[str, Any] | None) -> list[Any]:
        """One config per input: item ``i``'s top-level path is ``name[i]`` (as chainlab's)."""
        name = self.get_name()
        return [self.config(config, f"{name}[{i}]") for i in range(n)]

    @contextmanager
    def _run(
        self, config: Mapping[str, Any] | None, mode: str, size: int | None = None
    ) -> Iterator[None]:
        """Call the chainlab listeners' run hooks around one LangChain run (LangChain
        has no such event: the run is this call)."""
        callbacks = (config or {}).get("callbacks") or []
        listeners = tuple(c for c in callbacks if hasattr(c, "on_run_start"))
        if not listeners or not isinstance(callbacks, list | tuple):
            yield
            return
        tracer = Tracer(listeners)  # the run as listeners see it (no engine run: LangChain's)
        run = SimpleNamespace(mode=mode, size=size, name=self.get_name())
        tracer.run_start(run)
        try:
            yield
        except BaseException as exc:
            tracer.run_end(run, run_status(exc))
            raise
        tracer.run_end(run, "done")

    def invoke(self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        with self._run(config, "invoke"):
            return self.runnable.invoke(input, self.config(config), **kwargs)

    async def ainvoke(
        self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        with self._run(config, "ainvoke"):
            return await self.runnable.ainvoke(input, self.config(config), **kwargs)

    def batch(
        self, inputs: Sequence[Any], config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Any]:
        configs = self._batch_configs(len(inputs), config)
        with self._run(config, "batch", len(inputs)):
            return list(self.runnable.batch(list(inputs), configs, **kwargs))

    async def abatch(
        self, inputs: Sequence[Any], config: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Any]:
        configs = self._batch_configs(len(inputs), config)
        with self._run(config, "abatch", len(inputs)):
            return list(await self.runnable.abatch(list(inputs), configs, **kwargs))

    def __repr__(self) -> str:
        return f"LangChainChain({self.get_name()})"


def as_langchain_chain(chain: Any) -> LangChainChain | None:
    """``chain`` as a :class:`LangChainChain` if it is a langchain_core runnable, else None."""
    if isinstance(chain, LangChainChain):
        return chain
    return LangChainChain(chain) if is_langchain_runnable(chain) else None
