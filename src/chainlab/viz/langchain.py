"""The graph of a langchain_core chain, drawn as chainlab draws its own chains.

chainlab walks LangChain's runnables (:mod:`chainlab.trace.lcstructure`) rather than
using LangChain's ``get_graph()``, which loses a parallel's branch keys and has no node
ids to match runs to. The walk is adapted to what :func:`~chainlab.engine.graph.build_graph`
reads (``kind``, ``get_name()``, ``_children()``), so both kinds of chain get the same
picture, the same ``×N`` summaries and the same node ids as the LangChain bridge's spans.

A runnable chainlab cannot look into (your own ``Runnable`` subclass) is one node whose
label says so, and the graph's ``notes`` explain it in one line.
"""

from __future__ import annotations

from typing import Any

from chainlab.engine import Graph, build_graph
from chainlab.trace.lcstructure import Shape, notes_of, shape


class _Walked:
    """A langchain_core runnable seen through the three methods the graph builder uses."""

    def __init__(self, runnable: Any) -> None:
        self._shape: Shape = shape(runnable)
        self.kind = self._shape.kind

    def get_name(self) -> str:
        name = self._shape.name
        return f"{name} (custom)" if self._shape.note else name

    def _children(self) -> list[tuple[str, str, _Walked]]:
        return [(seg, label, _Walked(child)) for seg, label, child in self._shape.children]


def langchain_graph(runnable: Any, *, summarize_over: int = 12) -> Graph:
    """The :class:`~chainlab.engine.graph.Graph` of a langchain_core runnable.

    >>> from langchain_core.runnables import RunnableLambda, RunnableParallel
    >>> g = langchain_graph(RunnableParallel(a=RunnableLambda(str), b=repr) | len)
    >>> [(e.source, e.target, e.label) for e in g.edges if e.label]
    [('root/0', 'root/0/a', 'a'), ('root/0', 'root/0/b', 'b')]
    """
    graph = build_graph(_Walked(runnable), summarize_over=summarize_over)  # type: ignore[arg-type]
    graph.notes = notes_of(runnable)
    return graph
