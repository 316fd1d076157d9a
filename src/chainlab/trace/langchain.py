"""The LangChain bridge: langchain_core runs seen by chainlab's listeners.

A LangChain callback handler that turns every run of a langchain_core chain (chains,
lambdas, models, retrievers, tools) into a chainlab :class:`~chainlab.engine.tracing.Span`,
so your own LangChain chains get the same timeline, critical path and comparison as the
lessons' chains. You rarely create it yourself:

* inside ``with chainlab.record() as rec:`` every langchain_core run is recorded too;
* ``chainlab.compare(lc_chain, x)`` runs a langchain_core chain with
  ``max_concurrency=1`` and without, through this bridge.

A run's path is built from its ancestors' names, with a parallel's branch key (from
LangChain's ``map:key:`` tag) as the segment, e.g. ``RunnableSequence/
RunnableParallel<joke,poem>/poem/ChatModel``. A run with no child runs is a leaf (user
work); its lane is the thread (or asyncio task) that reported it. A run started inside
a chainlab leaf (a LangChain runnable in a chainlab chain) nests under that leaf.

This module imports langchain_core: chainlab loads it only when langchain_core is.
"""

from __future__ import annotations

import threading
import time
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from chainlab.engine.run import current_frame, task_lane
from chainlab.engine.tracing import Listener, Span, Tracer, global_listeners, preview

_KIND_OF = {"RunnableSequence": "sequence", "RunnableParallel": "parallel"}


class SpanBridge(BaseCallbackHandler):
    """A langchain_core callback handler that reports runs as chainlab spans.

    Args:
        listeners: who hears the spans; by default the listeners attached with
            ``chainlab.listen`` / ``chainlab.record()`` when each top-level run starts.
    """

    run_inline = True  # called in the thread / task of the run: that is its lane
    raise_error = False

    def __init__(self, listeners: tuple[Listener, ...] | None = None) -> None:
        self.listeners = listeners
        self._lock = threading.Lock()
        self._open: dict[UUID, tuple[Span, Tracer | None]] = {}
        self._has_children: set[UUID] = set()

    # -- start and end, whatever the run type ------------------------------------------

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        tags: list[str] | None,
        inputs: Any,
    ) -> None:
        segment = next((t[len("map:key:") :] for t in tags or () if t.startswith("map:key:")), name)
        with self._lock:
            parent = self._open.get(parent_run_id) if parent_run_id is not None else None
            if parent_run_id is not None:
                self._has_children.add(parent_run_id)
        parent_id: int | None
        node_id: str | None
        if parent is not None:
            parent_span, tracer = parent
            parent_id, path, node_id = parent_span.run_id, f"{parent_span.path}/{segment}", None
        else:
            tracer = self._tracer()
            parent_id, path, node_id = self._enclosing(name)
        span = Span(
            parent_id=parent_id,
            node_id=node_id or path,
            path=path,
            name=name,
            kind=_KIND_OF.get(name.split("<")[0], "chain"),
            lane=task_lane(),
            start_ns=time.perf_counter_ns(),
            input_preview=preview(inputs),
            tags=tuple(t for t in tags or () if not t.startswith(("map:key:", "seq:step:"))),
        )
        with self._lock:
            self._open[run_id] = (span, tracer)
        if tracer is not None:
            tracer.start(span)

    def _end(self, run_id: UUID, output: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            opened = self._open.pop(run_id, None)
            had_children = run_id in self._has_children
            self._has_children.discard(run_id)
        if opened is None:
            return
        span, tracer = opened
        span.end_ns = time.perf_counter_ns()
        if not had_children:
            span.kind = "leaf"  # nothing ran inside it: this is where work happened
        if error is None:
            span.status, span.output_preview = "ok", preview(output)
        else:
            span.status, span.error = "error", error
        if tracer is not None:
            tracer.end(span)

    def _tracer(self) -> Tracer | None:
        listeners = self.listeners if self.listeners is not None else global_listeners()
        return Tracer(listeners) if listeners else None

    @staticmethod
    def _enclosing(name: str) -> tuple[int | None, str, str | None]:
        """Parent id, path and node id of a top-level LangChain run: under the chainlab
        leaf it runs in, if any."""
        frame = current_frame()
        span = frame.span if frame is not None else None
        if span is None:
            return None, name, None
        return span.run_id, f"{span.path}/{name}", f"{span.node_id}/{name}"

    # -- langchain_core's callbacks ----------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs), tags, inputs)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs), tags, messages)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs), tags, prompts)

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs), tags, query)

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs), tags, input_str)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, outputs)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, response)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, documents)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, output)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)


def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any]) -> str:
    name = kwargs.get("name") or (serialized or {}).get("name")
    if not name and serialized and serialized.get("id"):
        name = serialized["id"][-1]
    return str(name or "run")


# -- every langchain_core run inside chainlab.record() ------------------------------------

_active: ContextVar[SpanBridge | None] = ContextVar("chainlab_langchain_bridge", default=None)
register_configure_hook(_active, inheritable=True)


def attach() -> Any:
    """Report every langchain_core run started in this context to chainlab's global
    listeners (what ``chainlab.record()`` does); returns a token for :func:`detach`."""
    if _active.get() is not None:
        return None  # already bridged (a record() inside a record())
    return _active.set(SpanBridge())


def detach(token: Any) -> None:
    if token is not None:
        _active.reset(token)
