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
RunnableParallel<joke,poem>/poem/ChatModel`` (a ``.map()`` item or a fallback adds its
index). Its *node id* is the id of the node that draws it in chainlab's graph of the
chain (:mod:`chainlab.trace.lcstructure`): ``root`` for the top run, then one segment
per level, chosen by the parent's kind: a sequence step's index (``seq:step:N`` tag,
minus one), a parallel's key, ``*`` under a ``.map()``, the try's index under fallbacks,
nothing for an assign's mapper (the branches are the assign's), and ``call:<name>`` for
a run inside a leaf (a retry's attempt, a function calling a chain), which resolves to
the leaf. A run with no child runs is a leaf (user work); its lane is the thread (or
asyncio task) that reported it. A run started inside a chainlab leaf (a LangChain
runnable in a chainlab chain) nests under that leaf.

This module imports langchain_core: chainlab loads it only when langchain_core is.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.context import register_configure_hook

from chainlab.engine import (
    Listener,
    Span,
    Tracer,
    current_frame,
    global_listeners,
    preview,
    task_lane,
)
from chainlab.engine import clock_hooks as _clock
from chainlab.trace.concurrency import LangChainPool

_KIND_OF = {
    "RunnableSequence": "sequence",
    "RunnableParallel": "parallel",
    "RunnableEach": "map",
    "RunnableWithFallbacks": "fallbacks",
    "RunnableAssign": "assign",
}


class _Open:
    """A run still open: its span, who hears it, its kind and child count."""

    __slots__ = ("children", "inner", "kind", "span", "tracer")

    def __init__(self, span: Span, tracer: Tracer | None, kind: str, inner: str) -> None:
        self.span, self.tracer, self.kind, self.inner = span, tracer, kind, inner
        self.children = 0


def _tag(tags: list[str] | None, prefix: str) -> str | None:
    """The value of the last ``prefix<value>`` tag (a run inherits its parent's tags)."""
    found = [t[len(prefix) :] for t in tags or () if t.startswith(prefix)]
    return found[-1] if found else None


def _step(tags: list[str] | None) -> str | None:
    return _tag(tags, "seq:step:") or _tag(tags, "map:key:")


def child_segments(
    parent_kind: str, name: str, tags: list[str] | None, index: int
) -> tuple[str | None, str]:
    """The node id segment (None: the parent's own node) and path segment of a run.

    Args:
        parent_kind: the parent run's kind (``sequence``, ``parallel``, ``map``...).
        name: the run's name; tags: its LangChain tags; index: how many runs the
            parent started before it.
    """
    if parent_kind == "sequence" and (step := _tag(tags, "seq:step:")) is not None:
        return str(int(step) - 1), name
    if parent_kind == "parallel" and (key := _tag(tags, "map:key:")) is not None:
        return key, key
    if parent_kind == "map":
        return "*", str(index)
    if parent_kind == "fallbacks":
        return str(index), f"{index}:{name}"
    if parent_kind in ("assign", "retry"):  # its mapper, its attempt: the same node
        return None, name
    return f"call:{name}", name


class SpanBridge(BaseCallbackHandler):
    """A langchain_core callback handler that reports runs as chainlab spans.

    Args:
        listeners: who hears the spans; by default the listeners attached with
            ``chainlab.listen`` / ``chainlab.record()`` when each top-level run starts.
        kinds: node id -> kind of the chain's walked structure
            (:func:`chainlab.trace.lcstructure.kinds_of`); without it a run's kind comes
            from its name (a renamed ``.map()`` is then not seen as one).
        root_path: the path of the top-level run (default: its name), e.g.
            ``name[3]`` for the fourth item of a batch.
    """

    run_inline = True  # called in the thread / task of the run: that is its lane
    raise_error = False

    def __init__(
        self,
        listeners: tuple[Listener, ...] | None = None,
        *,
        kinds: dict[str, str] | None = None,
        root_path: str | None = None,
    ) -> None:
        self.listeners = listeners
        self.kinds = kinds or {}
        self.root_path = root_path
        self._lock = threading.Lock()
        self._open: dict[UUID, _Open] = {}
        self._fallbacks: dict[tuple[UUID | None, str | None], UUID] = {}  # open fallbacks runs

    # -- start and end, whatever the run type ------------------------------------------

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        tags: list[str] | None,
        inputs: Any,
    ) -> None:
        kind = _KIND_OF.get(name.split("<")[0], "chain")
        with self._lock:
            parent = self._open.get(parent_run_id) if parent_run_id is not None else None
            index = 0
            if parent is not None:
                index, parent.children = parent.children, parent.children + 1
        parent_id: int | None
        if self._fallbacks:
            parent, index = self._fallback_owner(parent, parent_run_id, tags, index)
        if parent is not None:
            up, tracer = parent.span, parent.tracer
            node_seg, path_seg = child_segments(parent.kind, name, tags, index)
            parent_id, path = up.run_id, f"{up.path}/{path_seg}"
            node_id = up.node_id if node_seg is None else f"{up.node_id}/{node_seg}"
            if parent.kind == "retry":  # an attempt: what the retry wraps
                kind = parent.inner
            elif node_seg is not None:  # the walked structure knows its kind, whatever its name
                kind = self.kinds.get(node_id, kind)
        else:
            tracer = self._tracer()
            parent_id, path, node_id = self._enclosing(name, self.root_path)
            kind = self.kinds.get(node_id, kind)
        kind, _, inner = kind.partition(":")  # "retry:leaf": a retry around a leaf
        span = Span(
            parent_id=parent_id,
            node_id=node_id,
            path=path,
            name=name,
            kind=kind,
            lane=task_lane(),
            start_ns=_clock.now_ns(),
            input_preview=preview(brief(inputs)),
            tags=tuple(t for t in tags or () if not t.startswith(("map:key:", "seq:step:"))),
        )
        config = var_child_runnable_config.get()  # for the concurrency audit and replay
        span.limiters = (LangChainPool(config.get("max_concurrency") if config else None),)
        with self._lock:
            self._open[run_id] = _Open(span, tracer, kind, inner)
            if kind == "fallbacks":
                self._fallbacks[(parent_run_id, _step(tags))] = run_id
        if tracer is not None:
            tracer.start(span)

    def _end(self, run_id: UUID, output: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            opened = self._open.pop(run_id, None)
            if opened is not None and opened.kind == "fallbacks":
                self._fallbacks = {k: v for k, v in self._fallbacks.items() if v != run_id}
        if opened is None:
            return
        span, tracer = opened.span, opened.tracer
        span.end_ns = _clock.now_ns()
        if not opened.children and span.kind == "chain":
            span.kind = "leaf"  # nothing ran inside it: this is where work happened
        if error is None:
            span.status, span.output_preview = "ok", preview(brief(output))
        else:
            span.status, span.error = "error", error
        if tracer is not None:
            tracer.end(span)

    def _fallback_owner(
        self, parent: _Open | None, parent_run_id: UUID | None, tags: list[str] | None, index: int
    ) -> tuple[_Open | None, int]:
        """langchain_core's sync fallbacks start their tries as *siblings* of the
        fallbacks run (same parent, same step tag): give them to the fallbacks run."""
        owner_id = self._fallbacks.get((parent_run_id, _step(tags)))
        with self._lock:
            owner = self._open.get(owner_id) if owner_id is not None else None
            if owner is None:
                return parent, index
            if parent is not None:
                parent.children -= 1  # counted on the wrong parent
            owner.children += 1
            return owner, owner.children - 1

    def _tracer(self) -> Tracer | None:
        listeners = self.listeners if self.listeners is not None else global_listeners()
        return Tracer(listeners) if listeners else None

    @staticmethod
    def _enclosing(name: str, root_path: str | None) -> tuple[int | None, str, str]:
        """Parent id, path and node id of a top-level LangChain run: under the chainlab
        leaf it runs in, if any (then it resolves to that leaf's node)."""
        frame = current_frame()
        span = frame.span if frame is not None else None
        if span is None:
            return None, root_path or name, "root"
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


def brief(value: Any, depth: int = 0) -> Any:
    """What a span preview shows of a LangChain value, cheaply: a message's content, a
    prompt's text, a model result's text (their pydantic reprs take a millisecond)."""
    generations = getattr(value, "generations", None)
    if isinstance(generations, list) and generations and generations[0]:
        return getattr(generations[0][0], "text", "")
    if callable(getattr(value, "to_string", None)) and hasattr(value, "to_messages"):
        return value.to_string()
    content = getattr(value, "content", None)
    if isinstance(content, str) and hasattr(value, "type"):
        return f"{value.type}: {content}"
    if isinstance(value, list) and depth < 2:
        return [brief(item, depth + 1) for item in value[:4]]
    return value


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
