"""The graph of a runnable, where the views look for it.

The structure is engine data (:mod:`chainlab.engine.graph`, what ``get_graph()``
returns); this package draws it (:mod:`chainlab.viz.render`, :mod:`chainlab.viz.layout`).
"""

from chainlab.engine.graph import (
    INPUT_ID,
    JOIN_SUFFIX,
    OUTPUT_ID,
    SUMMARY_SEGMENT,
    Block,
    Chain,
    Fork,
    Graph,
    GraphEdge,
    GraphNode,
    Leaf,
    build_graph,
    display_name,
)

__all__ = [
    "INPUT_ID",
    "JOIN_SUFFIX",
    "OUTPUT_ID",
    "SUMMARY_SEGMENT",
    "Block",
    "Chain",
    "Fork",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "Leaf",
    "build_graph",
    "display_name",
]
