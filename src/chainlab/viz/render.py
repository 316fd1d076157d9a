"""Render a :class:`~chainlab.engine.graph.Graph`: text, Mermaid, Graphviz (SVG).

* :func:`draw_ascii` needs nothing: a vertical drawing, branches indented under their
  fork, one line per node.
* :func:`draw_mermaid` returns ``flowchart`` source.
* :func:`to_graphviz` returns a ``graphviz.Digraph`` laid out top-down by ``dot``;
  every node's SVG group carries ``id="<node id>"`` (``<g id="root/1/poem" class="node">``)
  so a live view can restyle nodes by id; edges get ``id="<source>-><target>"``.
* :func:`to_svg` runs ``dot``; if it is missing the RuntimeError says how to install it
  (a ``dot`` that fails raises RuntimeError too).
* :func:`draw_svg` is what the views use: ``dot``'s drawing when it works, else
  chainlab's own layout (:mod:`chainlab.viz.layout`), so pictures never need Graphviz.

>>> from chainlab import RunnableLambda, RunnableParallel
>>> def fetch(x): return x
>>> print((RunnableLambda(fetch) | RunnableParallel(a=str, b=repr)).get_graph().draw_ascii())
input
↓
fetch
↓
RunnableParallel<a,b>  (fork)
├─ a ─▶ str
└─ b ─▶ repr
(join)
↓
output
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from chainlab.engine.graph import Block, Chain, Graph, GraphNode, Leaf
from chainlab.viz.layout import node_attrs

if TYPE_CHECKING:
    import graphviz

INSTALL_DOT = (
    "Graphviz's `dot` program is needed to lay out the graph but was not found on PATH. "
    "Install it with `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS) or `conda install graphviz`; `graph.draw_ascii()` works without it."
)

# -- text -------------------------------------------------------------------------------


def draw_ascii(graph: Graph, *, ids: bool = False) -> str:
    """A vertical text drawing of ``graph`` (see the module docstring)."""
    if graph.block is None:  # a graph assembled by hand: list the edges
        return "\n".join(f"{e.source} -> {e.target} {e.label}".rstrip() for e in graph.edges)
    lines = ["input", "↓", *_block_lines(graph.block, ids), "↓", "output"]
    return "\n".join(lines)


def _node_text(node: GraphNode, ids: bool) -> str:
    text = node.label if node.kind != "passthrough" else f"({node.label})"
    return f"{text}  [{node.id}]" if ids else text


def _block_lines(block: Block, ids: bool) -> list[str]:
    if isinstance(block, Leaf):
        return [_node_text(block.node, ids)]
    if isinstance(block, Chain):
        lines: list[str] = []
        for part in block.parts:
            if lines:
                lines.append("↓")
            lines.extend(_block_lines(part, ids))
        return lines
    lines = [_node_text(block.node, ids) + "  (fork)"]
    rows = [(label, _block_lines(b, ids), dashed) for label, b, dashed in block.branches]
    if block.passthrough:
        rows.append(("passthrough", ["(join)"], True))
    for i, (label, sub, dashed) in enumerate(rows):
        last = i == len(rows) - 1
        head = f"{'└' if last else '├'}─ {label} {'╌▶' if dashed else '─▶'} "
        cont = ("  " if last else "│ ") + " " * (len(head) - 2)
        lines.append(head + sub[0])
        lines.extend(cont + line for line in sub[1:])
    lines.append("(join)")
    return lines


# -- Mermaid ----------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    return (
        text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def draw_mermaid(graph: Graph) -> str:
    """Mermaid ``flowchart TD`` source; node ids are ``n0``, ``n1``... in node order."""
    short = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    lines = ["flowchart TD"]
    for node_id, node in graph.nodes.items():
        text = f'"{_mermaid_text(node.label)}"'
        shape = {
            "input": f"([{text}])",
            "output": f"([{text}])",
            "join": '(("join"))',
            "passthrough": f"({text})",
        }.get(node.kind)
        if shape is None:
            shape = f"{{{{{text}}}}}" if node.id + "/__join__" in graph.nodes else f"[{text}]"
        lines.append(f"    {short[node_id]}{shape}")
    for edge in graph.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {short[edge.source]} {arrow}{label} {short[edge.target]}")
    return "\n".join(lines)


# -- Graphviz ---------------------------------------------------------------------------


def to_graphviz(graph: Graph, **graph_attr: str) -> graphviz.Digraph:
    """A ``graphviz.Digraph`` of ``graph`` (top-down; ``graph_attr`` overrides)."""
    import graphviz

    dot = graphviz.Digraph(
        "chain",
        graph_attr={"rankdir": "TB", "nodesep": "0.3", "ranksep": "0.35", **graph_attr},
        node_attr={
            "fontname": "Helvetica",
            "fontsize": "11",
            "height": "0.3",
            "margin": "0.12,0.04",
        },
        edge_attr={
            "fontname": "Helvetica",
            "fontsize": "9",
            "arrowsize": "0.7",
            "color": "#555555",
        },
    )
    short = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    for node_id, node in graph.nodes.items():
        dot.node(short[node_id], **node_attrs(graph, node))
    for edge in graph.edges:
        attrs = {"id": f"{edge.source}->{edge.target}"}
        if edge.label:
            attrs["label"] = f" {edge.label} "
        if edge.dashed:
            attrs["style"] = "dashed"
        dot.edge(short[edge.source], short[edge.target], **attrs)
    return dot


def to_svg(graph: Graph) -> str:
    """The graph as SVG text, laid out by Graphviz ``dot``."""
    import graphviz

    if shutil.which("dot") is None:
        raise RuntimeError(INSTALL_DOT)
    try:
        return str(to_graphviz(graph).pipe(format="svg", encoding="utf-8"))
    except graphviz.ExecutableNotFound as exc:
        raise RuntimeError(INSTALL_DOT) from exc
    except graphviz.CalledProcessError as exc:  # a broken install: still fall back to text
        stderr = (
            exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        )
        raise RuntimeError(
            f"Graphviz's `dot` failed (exit status {exc.returncode}): {str(stderr or '').strip()}. "
            "`graph.draw_ascii()` works without it."
        ) from exc


def draw_svg(graph: Graph) -> str:
    """The graph as SVG: by ``dot`` if it is installed and works, else laid out in Python."""
    if shutil.which("dot") is not None:
        try:
            return to_svg(graph)
        except RuntimeError:
            pass  # a broken dot: the Python layout still draws it
    from chainlab.viz.layout import layout_svg

    return layout_svg(graph)


def mimebundle(graph: Graph) -> dict[str, str]:
    """What Jupyter shows: the SVG (``dot``'s, or the Python layout's) and the text drawing."""
    return {"text/plain": draw_ascii(graph), "image/svg+xml": draw_svg(graph)}
