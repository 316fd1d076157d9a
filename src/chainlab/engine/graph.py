"""The graph of a runnable: nodes and edges from its structure (``runnable.get_graph()``).

The graph is engine data; ``chainlab.viz`` draws it (``draw_ascii``, ``to_svg``, ... look
their renderer up in :mod:`chainlab.engine.views`).

How a chain is drawn:

* ``__input__`` and ``__output__`` are pseudo nodes at the top and the bottom.
* A **sequence** is not a node of its own: its steps are chained one after another
  (``a | b | c`` draws ``a -> b -> c``).
* A **leaf** (a function, a model) is a box; a passthrough or pick is a small oval.
* A **parallel** is a *fork* node (its id is the parallel's node id) with one edge per
  branch, labelled with the branch key, and a *join* node (id ``<fork id>/__join__``)
  where the branches meet again. ``.assign(...)`` forks the same way and also has a
  dashed ``passthrough`` edge: the input dict goes on to the join unchanged.
* A ``.map()`` forks into one copy of its body (edge ``each item``); the body's nodes
  have ids ending in ``/*`` as the items' spans do. Nested parallels nest the same way.
* ``with_fallbacks`` forks into the primary (``try``) and the fallbacks (dashed edges).
* A parallel with more than ``summarize_over`` branches is drawn as one *summary* node
  (id ``<fork id>/*``, ``count`` = the number of branches, labelled ``name ×N``) instead
  of N boxes; every span inside any of those branches resolves to it.

Node ids are the spans' node ids, so a live view maps an event to its node with
:meth:`Graph.resolve`. Ids that are not in the static graph (a runnable a function
returned, ``<leaf>/returned/...``, or called, ``<leaf>/call:<name>``) resolve to their
nearest drawn ancestor; a sequence's own span resolves to None (it is not drawn).

>>> from chainlab import RunnableLambda, RunnableParallel
>>> def fetch(x): return x
>>> g = (RunnableLambda(fetch) | RunnableParallel(a=str, b=repr)).get_graph()
>>> list(g.nodes)
['__input__', 'root/0', 'root/1', 'root/1/a', 'root/1/b', 'root/1/__join__', '__output__']
>>> [(e.source, e.target, e.label) for e in g.edges if e.label]
[('root/1', 'root/1/a', 'a'), ('root/1', 'root/1/b', 'b')]
>>> g.resolve("root/0"), g.resolve("root"), g.resolve("root/1/a/call:x")
('root/0', None, 'root/1/a')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import graphviz

    from chainlab.engine.base import Runnable

from chainlab.engine.views import view

INPUT_ID = "__input__"
OUTPUT_ID = "__output__"
JOIN_SUFFIX = "/__join__"
SUMMARY_SEGMENT = "*"

_FORK_KINDS = {"parallel", "assign", "map", "fallbacks"}


@dataclass(frozen=True)
class GraphNode:
    """A drawn node.

    Attributes:
        id: the node id (the spans' ``node_id``), or a pseudo id (``__input__``,
            ``__output__``, ``<fork>/__join__``).
        name: the runnable's name.
        kind: ``"leaf"``, ``"passthrough"``, a fork kind (``"parallel"``, ``"map"``,
            ``"assign"``, ``"fallbacks"``), ``"join"``, ``"input"``, ``"output"``, or
            for a summary node the branches' common kind (``"group"`` if they differ).
        count: 1, or N for a node that summarises N branches.
        leaf: True if the node (or every branch it summarises) is user work.
    """

    id: str
    name: str
    kind: str
    count: int = 1
    leaf: bool = False

    @property
    def label(self) -> str:
        """The text drawn in the node."""
        if self.kind == "input":
            return "input"
        if self.kind == "output":
            return "output"
        name = _shorten(self.name)
        return f"{name} ×{self.count}" if self.count > 1 else name


def _shorten(name: str, width: int = 40) -> str:
    """``RunnableParallel<q0,q1,...>`` with 100 keys is too long to draw: cut it."""
    if len(name) <= width:
        return name
    closing = ">" if name.endswith(">") else ""
    return name[: width - 1 - len(closing)] + "…" + closing


@dataclass(frozen=True)
class GraphEdge:
    """An edge; ``label`` is the branch key on fork edges; ``dashed`` for the edges of
    what may not run (fallbacks) or is not work (an assign's passthrough)."""

    source: str
    target: str
    label: str = ""
    dashed: bool = False


# -- the block tree: the structure, before it is flattened into nodes and edges ---------


@dataclass
class Leaf:
    node: GraphNode


@dataclass
class Chain:
    parts: list[Block]


@dataclass
class Fork:
    node: GraphNode
    join: GraphNode
    branches: list[tuple[str, Block, bool]]  # (edge label, block, dashed)
    passthrough: bool = False


Block = Leaf | Chain | Fork


@dataclass
class Graph:
    """Nodes and edges of a runnable; drawn by the renderers ``chainlab.viz`` registers."""

    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[GraphEdge] = field(default_factory=list)
    block: Block | None = field(default=None, repr=False)
    display: dict[str, str | None] = field(default_factory=dict, repr=False)
    """Every static node id -> the drawn node showing it (None for sequences)."""
    notes: list[str] = field(default_factory=list, repr=False)
    """One line per part drawn less finely than it is (a custom LangChain runnable)."""

    def resolve(self, span_node_id: str) -> str | None:
        """The drawn node that displays spans with this node id (None if none does)."""
        display = self.display
        if span_node_id in display:
            return display[span_node_id]
        node_id = span_node_id
        while "/" in node_id:
            node_id = node_id.rsplit("/", 1)[0]
            target = display.get(node_id)
            if target is not None:
                return target
        return None

    def leaf_ids(self) -> list[str]:
        """Ids of the drawn nodes of user work."""
        return [n.id for n in self.nodes.values() if n.leaf]

    @property
    def first_node(self) -> GraphNode:
        return self.nodes[INPUT_ID]

    @property
    def last_node(self) -> GraphNode:
        return self.nodes[OUTPUT_ID]

    # -- renderers: chainlab.viz.render registers them as views ----------------------

    def draw_ascii(self, *, ids: bool = False) -> str:
        """A text drawing (no dependency); ``ids=True`` adds node ids."""
        return str(view("graph.draw_ascii")(self, ids=ids))

    def print_ascii(self, *, ids: bool = False) -> None:
        print(self.draw_ascii(ids=ids))

    def draw_mermaid(self) -> str:
        """Mermaid ``flowchart`` source (renders on GitHub and in many notebooks)."""
        return str(view("graph.draw_mermaid")(self))

    def to_graphviz(self, **graph_attr: str) -> graphviz.Digraph:
        """A ``graphviz.Digraph``; every node's SVG element gets ``id="<node id>"``."""
        return view("graph.to_graphviz")(self, **graph_attr)

    def to_svg(self) -> str:
        """The SVG laid out by Graphviz ``dot`` (RuntimeError with install help if missing)."""
        return str(view("graph.to_svg")(self))

    def _repr_mimebundle_(
        self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
    ) -> dict[str, str]:
        return dict(view("graph.mimebundle")(self))

    def __repr__(self) -> str:
        return f"<Graph: {len(self.nodes)} nodes, {len(self.edges)} edges>"


def build_graph(runnable: Runnable[Any, Any], *, summarize_over: int = 12) -> Graph:
    """The graph of ``runnable`` (what ``runnable.get_graph()`` returns).

    Args:
        runnable: any runnable (its root node id is ``"root"``).
        summarize_over: a parallel with more branches than this is drawn as one
            summary node ``name ×N``.
    """
    builder = _Builder(summarize_over)
    block = builder.block(runnable, "root")
    graph = Graph(block=block, display=builder.display)
    graph.nodes[INPUT_ID] = GraphNode(INPUT_ID, "input", "input")
    exits = _wire(graph, block, [(INPUT_ID, "", False)])
    graph.nodes[OUTPUT_ID] = GraphNode(OUTPUT_ID, "output", "output")
    _connect(graph, exits, OUTPUT_ID)
    return graph


class _Builder:
    def __init__(self, summarize_over: int) -> None:
        self.summarize_over = summarize_over
        self.display: dict[str, str | None] = {}

    def block(self, runnable: Runnable[Any, Any], node_id: str, key: str | None = None) -> Block:
        children = runnable._children()
        kind = runnable.kind
        if kind == "sequence" and children:
            self.display[node_id] = None
            return Chain([self.block(c, f"{node_id}/{seg}") for seg, _, c in children])
        if not children or kind == "sequence":
            node = GraphNode(node_id, display_name(runnable, key), kind, leaf=kind == "leaf")
            self.display[node_id] = node_id
            return Leaf(node)
        fork_kind = kind if kind in _FORK_KINDS else "parallel"
        fork = GraphNode(node_id, display_name(runnable, key), fork_kind)
        join = GraphNode(node_id + JOIN_SUFFIX, "join", "join")
        self.display[node_id] = node_id
        if fork_kind in ("parallel", "assign") and len(children) > self.summarize_over:
            label = f"{children[0][1]} … {children[-1][1]}"
            summary = self._summary(node_id, children)
            return Fork(fork, join, [(label, summary, False)], passthrough=kind == "assign")
        return Fork(
            fork,
            join,
            [
                (
                    label,
                    self.block(
                        child, f"{node_id}/{seg}", label if fork_kind != "fallbacks" else None
                    ),
                    fork_kind == "fallbacks" and i > 0,
                )
                for i, (seg, label, child) in enumerate(children)
            ],
            passthrough=kind == "assign",
        )

    def _summary(self, fork_id: str, children: list[tuple[str, str, Runnable[Any, Any]]]) -> Leaf:
        names = {_summary_name(child) for _, _, child in children}
        kinds = {child.kind for _, _, child in children}
        summary_id = f"{fork_id}/{SUMMARY_SEGMENT}"
        node = GraphNode(
            summary_id,
            names.pop() if len(names) == 1 else "branch",
            kinds.pop() if len(kinds) == 1 else "group",
            count=len(children),
            leaf=all(child.kind == "leaf" and not child._children() for _, _, child in children),
        )
        self.display[summary_id] = summary_id
        for seg, _, _ in children:
            self.display[f"{fork_id}/{seg}"] = summary_id
        return Leaf(node)


def display_name(runnable: Runnable[Any, Any], key: str | None = None) -> str:
    """The name drawn on a node: the function's or runnable's own name, except where
    that name says nothing: an anonymous function is named by its branch ``key`` (or
    its source, ``lambda d: d["docs"]``); a default composite name such as
    ``fallbacks<RunnableSequence>`` or ``map<RunnableSequence>`` by what it wraps.

    >>> from chainlab import RunnableLambda
    >>> display_name(RunnableLambda(lambda x: x), "docs")
    'docs'
    >>> display_name(RunnableLambda(str.upper).with_fallbacks([RunnableLambda(str)]))
    'with fallbacks: upper'
    """
    name = str(runnable.get_name())
    children = runnable._children()
    if name == "lambda":
        return key or _lambda_source(runnable) or name
    if name.startswith("fallbacks<") and children:
        return (
            f"{key}: with fallbacks" if key else "with fallbacks: " + _summary_name(children[0][2])
        )
    if name.startswith("map<") and children:
        return "map: " + _summary_name(children[0][2])
    return name


def _lambda_source(runnable: Runnable[Any, Any], width: int = 30) -> str:
    """``lambda d: f"{len(d['docs'])} do…``: the start of a lambda's source, or ""."""
    import inspect

    func = getattr(runnable, "func", None) or getattr(runnable, "afunc", None)
    try:
        lines, first = inspect.getsourcelines(func)  # type: ignore[arg-type]
        positions = func.__code__.co_positions()  # type: ignore[union-attr]
        body = min(col for line, _, col, _ in positions if line == first and col)
    except (OSError, TypeError, ValueError, AttributeError):
        return ""
    line = lines[0]
    start = line.rfind("lambda", 0, body)  # this lambda, if the line has several
    if start < 0:
        return ""
    depth, end = 0, len(line)
    for i in range(start, len(line)):  # up to the bracket or comma that closes it
        depth += (line[i] in "([{") - (line[i] in ")]}")
        if depth < 0 or (depth == 0 and line[i] == ","):
            end = i
            break
    text = " ".join(line[start:end].split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _summary_name(runnable: Runnable[Any, Any]) -> str:
    """What a summarised branch does: its name, or for a sequence its steps
    (``prompt | model | parser``; the middle elided beyond three steps)."""
    if runnable.kind != "sequence":
        return display_name(runnable)
    steps = [display_name(child) for _, _, child in runnable._children()]
    if len(steps) > 3:
        steps = [steps[0], "…", steps[-1]]
    return " | ".join(steps)


Pending = list[tuple[str, str, bool]]  # edges waiting for their target: (source, label, dashed)


def _connect(graph: Graph, pending: Pending, target: str) -> None:
    for source, label, dashed in pending:
        graph.edges.append(GraphEdge(source, target, label, dashed))


def _wire(graph: Graph, block: Block, pending: Pending) -> Pending:
    """Add ``block``'s nodes and edges; ``pending`` edges lead into it. Returns its exits."""
    if isinstance(block, Leaf):
        graph.nodes[block.node.id] = block.node
        _connect(graph, pending, block.node.id)
        return [(block.node.id, "", False)]
    if isinstance(block, Chain):
        for part in block.parts:
            pending = _wire(graph, part, pending)
        return pending
    fork = block.node
    graph.nodes[fork.id] = fork
    _connect(graph, pending, fork.id)
    exits: Pending = []
    for label, branch, dashed in block.branches:
        exits.extend(_wire(graph, branch, [(fork.id, label, dashed)]))
    if block.passthrough:
        exits.append((fork.id, "passthrough", True))
    graph.nodes[block.join.id] = block.join
    _connect(graph, exits, block.join.id)
    return [(block.join.id, "", False)]
