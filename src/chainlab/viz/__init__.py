"""Views of chains: the structure graph and the matplotlib timeline.

* ``graph``    - the graph of ``runnable.get_graph()`` (engine data: :mod:`chainlab.engine.graph`)
* ``render``   - text, Mermaid, Graphviz / SVG renderers of a graph
* ``timeline`` - :func:`plot_recording`, :func:`plot_comparison` (matplotlib, imported lazily)

Importing this package registers its drawings as views (:mod:`chainlab.engine.views`):
that is how ``graph.draw_ascii()`` and ``rec.plot()`` reach them without importing up.
"""

from typing import Any

from chainlab.engine import Graph, GraphEdge, GraphNode, build_graph, register_view
from chainlab.viz import render

__all__ = ["Graph", "GraphEdge", "GraphNode", "build_graph", "plot_comparison", "plot_recording"]


def __getattr__(name: str) -> object:
    if name in ("plot_recording", "plot_comparison"):
        from chainlab.viz import timeline

        return getattr(timeline, name)
    raise AttributeError(f"module 'chainlab.viz' has no attribute {name!r}")


# matplotlib loads on the first plot, not with this package


def _plot_recording(*args: Any, **kwargs: Any) -> Any:
    from chainlab.viz.timeline import plot_recording

    return plot_recording(*args, **kwargs)


def _plot_comparison(*args: Any, **kwargs: Any) -> Any:
    from chainlab.viz.timeline import plot_comparison

    return plot_comparison(*args, **kwargs)


def _plot_concurrency(*args: Any, **kwargs: Any) -> Any:
    from chainlab.viz.concurrency import plot_concurrency

    return plot_concurrency(*args, **kwargs)


def _plot_engines(*args: Any, **kwargs: Any) -> Any:
    from chainlab.viz.engines import plot_engines

    return plot_engines(*args, **kwargs)


def _plot_sweep(*args: Any, **kwargs: Any) -> Any:
    from chainlab.viz.whatif import plot_sweep

    return plot_sweep(*args, **kwargs)


def _register_views() -> None:
    views = {
        "graph.draw_ascii": render.draw_ascii,
        "graph.draw_mermaid": render.draw_mermaid,
        "graph.to_graphviz": render.to_graphviz,
        "graph.to_svg": render.to_svg,
        "graph.mimebundle": render.mimebundle,
        "plot_recording": _plot_recording,
        "plot_comparison": _plot_comparison,
        "plot_concurrency": _plot_concurrency,
        "plot_engines": _plot_engines,
        "plot_sweep": _plot_sweep,
    }
    for name, draw in views.items():
        register_view(name, draw)


_register_views()
