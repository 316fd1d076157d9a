"""Views of chains: the structure graph and the matplotlib timeline.

* ``graph``    - :func:`build_graph` (``runnable.get_graph()``): nodes, edges, ``resolve``
* ``render``   - text, Mermaid, Graphviz / SVG renderers of a graph
* ``timeline`` - :func:`plot_recording`, :func:`plot_comparison` (matplotlib, imported lazily)
"""

from chainlab.viz.graph import Graph, GraphEdge, GraphNode, build_graph

__all__ = ["Graph", "GraphEdge", "GraphNode", "build_graph", "plot_comparison", "plot_recording"]


def __getattr__(name: str) -> object:
    if name in ("plot_recording", "plot_comparison"):
        from chainlab.viz import timeline

        return getattr(timeline, name)
    raise AttributeError(f"module 'chainlab.viz' has no attribute {name!r}")
