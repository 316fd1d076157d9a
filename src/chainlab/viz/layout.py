"""Draw a graph as SVG without Graphviz: a layout in pure Python.

Graphviz's ``dot`` draws the nicest graphs, but it is a system program that ``pip``
cannot install. Without it, :func:`layout_svg` draws the same nodes (same shapes,
colours and labels as :mod:`chainlab.viz.render`) in an SVG of the same structure
(``<g class="node" id="<node id>">`` per node, ``<g class="edge">`` per edge), so the
live graph restyles it and :mod:`chainlab.widgets.static` colours it exactly as it does
Graphviz's.

Why a layout of our own rather than a bundled one (a WASM Graphviz or ELK in the
widget's JavaScript): a chain's graph is *series-parallel* by construction (sequences
stack, a fork's branches sit side by side between the fork and its join), and such a
graph has a drawing without crossings that a short recursion finds exactly: each block
is a box; a sequence stacks its parts' boxes, a fork puts its branches' boxes side by
side. That costs no megabytes of JavaScript, works where no browser runs (nbconvert,
the static pictures, ``./dev docs``), and is the same picture everywhere. A graph built
by hand (no block tree) gets a plain layered drawing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from chainlab.engine.graph import INPUT_ID, OUTPUT_ID, Block, Chain, Fork, Graph, GraphNode, Leaf

CHAR_W = 6.2  # average width of an 11 pt Helvetica character
NODE_H = 24.0
GAP_X = 16.0  # between branch columns
GAP_Y = 30.0  # between ranks
FORK_GAP = 44.0  # below a fork: room for the branch labels
BEND = 24.0  # the height of a curve out of a fork
MARGIN = 8.0
JOIN_R = 5.0


@dataclass
class Box:
    """The size of a laid-out block."""

    width: float
    height: float


class _Layout:
    """Positions (centre x, top y) of every node, and the x of direct fork→join lanes."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.at: dict[str, tuple[float, float]] = {}
        self.lanes: dict[tuple[str, str, str], float] = {}
        self._sizes: dict[int, Box] = {}

    # -- sizes --------------------------------------------------------------------------

    def node_size(self, node: GraphNode) -> tuple[float, float]:
        if node.kind == "join":
            return 2 * JOIN_R, 2 * JOIN_R
        width = max(44.0, CHAR_W * len(node.label) + 18)
        return width, NODE_H

    def size(self, block: Block) -> Box:
        key = id(block)
        if key not in self._sizes:
            self._sizes[key] = self._measure(block)
        return self._sizes[key]

    def _measure(self, block: Block) -> Box:
        if isinstance(block, Leaf):
            return Box(*self.node_size(block.node))
        if isinstance(block, Chain):
            boxes = [self.size(part) for part in block.parts]
            height = sum(b.height for b in boxes) + GAP_Y * max(0, len(boxes) - 1)
            return Box(max([b.width for b in boxes] + [0.0]), height)
        columns = self.columns(block)
        width = sum(w for w, _ in columns) + GAP_X * max(0, len(columns) - 1)
        fork_w, fork_h = self.node_size(block.node)
        inner = max([b.height for _, b in columns if b is not None] + [0.0])
        height = fork_h + FORK_GAP + inner + GAP_Y + 2 * JOIN_R
        return Box(max(width, fork_w), height)

    def columns(self, fork: Fork) -> list[tuple[float, Box | None]]:
        """The width and box of each branch (None: a direct lane, no node in it)."""
        out: list[tuple[float, Box | None]] = []
        for label, branch, _ in fork.branches:
            label_w = CHAR_W * 0.85 * len(label) + 10
            box = self.size(branch)
            empty = isinstance(branch, Chain) and not branch.parts
            out.append((max(box.width, label_w), None if empty else box))
        if fork.passthrough:
            out.append((CHAR_W * 0.85 * len("passthrough") + 10, None))
        return out

    # -- placement ----------------------------------------------------------------------

    def place(self, block: Block, x: float, y: float) -> None:
        """Put ``block`` with its top centre at ``(x, y)``."""
        if isinstance(block, Leaf):
            self.at[block.node.id] = (x, y)
        elif isinstance(block, Chain):
            for part in block.parts:
                self.place(part, x, y)
                y += self.size(part).height + GAP_Y
        else:
            self.at[block.node.id] = (x, y)
            box = self.size(block)
            columns = self.columns(block)
            total = sum(w for w, _ in columns) + GAP_X * max(0, len(columns) - 1)
            left = x - total / 2
            top = y + self.node_size(block.node)[1] + FORK_GAP
            labels = [label for label, _, _ in block.branches]
            if block.passthrough:
                labels.append("passthrough")
            for i, (width, inner) in enumerate(columns):
                centre = left + width / 2
                if inner is None:
                    self.lanes[(block.node.id, block.join.id, labels[i])] = centre
                else:
                    self.place(block.branches[i][1], centre, top)
                left += width + GAP_X
            self.at[block.join.id] = (x, y + box.height - 2 * JOIN_R)

    def layered(self) -> None:
        """Ranks by longest path from the sources; each rank centred, in node order."""
        rank = dict.fromkeys(self.graph.nodes, 0)
        for _ in self.graph.nodes:  # Bellman-Ford style; graphs here are small DAGs
            changed = False
            for edge in self.graph.edges:
                if rank[edge.target] < rank[edge.source] + 1 <= len(rank):
                    rank[edge.target] = rank[edge.source] + 1
                    changed = True
            if not changed:
                break
        rows: dict[int, list[GraphNode]] = {}
        for node_id, node in self.graph.nodes.items():
            rows.setdefault(rank[node_id], []).append(node)
        widths = {
            r: sum(self.node_size(n)[0] for n in row) + GAP_X * (len(row) - 1)
            for r, row in rows.items()
        }
        widest = max(widths.values(), default=0.0)
        for r, row in rows.items():
            left = (widest - widths[r]) / 2
            for node in row:
                w = self.node_size(node)[0]
                self.at[node.id] = (left + w / 2, r * (NODE_H + GAP_Y))
                left += w + GAP_X


def layout(graph: Graph) -> _Layout:
    """Every node's position: recursive on the block tree, else layered."""
    lay = _Layout(graph)
    if graph.block is not None and INPUT_ID in graph.nodes and OUTPUT_ID in graph.nodes:
        whole = Chain([Leaf(graph.nodes[INPUT_ID]), graph.block, Leaf(graph.nodes[OUTPUT_ID])])
        lay.place(whole, lay.size(whole).width / 2, 0.0)
    else:
        lay.layered()
    return lay


_FILL = {
    "input": "#eeeeee",
    "output": "#eeeeee",
    "leaf": "#dbe8f6",
    "fork": "#fbe3c2",
    "passthrough": "#ffffff",
    "join": "#555555",
}


def node_attrs(graph: Graph, node: GraphNode) -> dict[str, str]:
    """A node's look (shape, colours, label): Graphviz attributes, also read by this layout."""
    attrs = {"id": node.id, "tooltip": node.id, "label": node.label}
    if node.kind in ("input", "output"):
        attrs.update(shape="box", style="rounded,filled", fillcolor=_FILL["input"])
    elif node.kind == "join":
        attrs.update(
            shape="circle",
            style="filled",
            fillcolor=_FILL["join"],
            label="",
            width="0.15",
            height="0.15",
            fixedsize="true",
        )
    elif node.id + "/__join__" in graph.nodes:  # a fork
        attrs.update(shape="box", style="filled", fillcolor=_FILL["fork"], fontsize="10")
    elif node.kind == "passthrough":
        attrs.update(shape="box", style="rounded,dashed", fillcolor=_FILL["passthrough"])
    else:
        attrs.update(shape="box", style="rounded,filled", fillcolor=_FILL["leaf"])
        if node.count > 1 or "/*/" in node.id + "/":  # many copies: a summary, a map body
            attrs.update(peripheries="2", penwidth="1.5")
    return attrs


def layout_svg(graph: Graph) -> str:
    """``graph`` as SVG text, laid out in Python (see the module docstring)."""
    lay = layout(graph)
    boxes = {}
    for node_id, (x, y) in lay.at.items():
        w, h = lay.node_size(graph.nodes[node_id])
        boxes[node_id] = (x - w / 2, y, x + w / 2, y + h)
    x0 = min(b[0] for b in boxes.values()) - MARGIN
    y0 = min(b[1] for b in boxes.values()) - MARGIN
    x1 = max(b[2] for b in boxes.values()) + MARGIN
    y1 = max(b[3] for b in boxes.values()) + MARGIN
    width, height = x1 - x0, y1 - y0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width:.0f}pt" height="{height:.0f}pt" '
        f'viewBox="0.00 0.00 {width:.2f} {height:.2f}">',
        f'<g id="graph0" class="graph" transform="translate({-x0:.2f} {-y0:.2f})">',
        "<title>chain</title>",
    ]
    for edge in graph.edges:
        parts.append(_edge_svg(lay, boxes, edge.source, edge.target, edge.label, edge.dashed))
    for node_id, node in graph.nodes.items():
        parts.append(_node_svg(node_id, boxes[node_id], node_attrs(graph, node)))
    parts.append("</g></svg>")
    return "\n".join(parts)


def _node_svg(node_id: str, box: tuple[float, float, float, float], attrs: dict[str, str]) -> str:
    x0, y0, x1, y1 = box
    ident = html.escape(node_id, quote=True)
    fill = attrs.get("fillcolor", "#ffffff") if "filled" in attrs.get("style", "") else "none"
    stroke = 'stroke="#555555"'
    out = [f'<g id="{ident}" class="node">', f"<title>{ident}</title>"]
    if attrs.get("shape") == "circle":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        out.append(
            f'<ellipse fill="{fill}" {stroke} cx="{cx:.2f}" cy="{cy:.2f}" '
            f'rx="{JOIN_R}" ry="{JOIN_R}"/>'
        )
        out.append("</g>")
        return "".join(out)
    style = attrs.get("style", "")
    rx = 6 if "rounded" in style else 0
    dash = ' stroke-dasharray="5,2"' if "dashed" in style else ""
    if attrs.get("peripheries") == "2":  # many copies: a double border
        out.append(
            f'<rect fill="transparent" {stroke} x="{x0 - 3:.2f}" y="{y0 - 3:.2f}" '
            f'width="{x1 - x0 + 6:.2f}" height="{y1 - y0 + 6:.2f}" rx="{rx + 2}"/>'
        )
    out.append(
        f'<rect fill="{fill}" {stroke}{dash} x="{x0:.2f}" y="{y0:.2f}" '
        f'width="{x1 - x0:.2f}" height="{y1 - y0:.2f}" rx="{rx}"/>'
    )
    size = attrs.get("fontsize", "11")
    out.append(
        f'<text text-anchor="middle" x="{(x0 + x1) / 2:.2f}" y="{(y0 + y1) / 2 + 4:.2f}" '
        f'font-family="Helvetica,sans-serif" font-size="{size}">'
        f"{html.escape(attrs.get('label', ''))}</text></g>"
    )
    return "".join(out)


def _edge_svg(
    lay: _Layout,
    boxes: dict[str, tuple[float, float, float, float]],
    source: str,
    target: str,
    label: str,
    dashed: bool,
) -> str:
    """A curve from the source's bottom to the target's top, down its branch's lane."""
    sx0, _, sx1, sy = boxes[source]
    tx0, ty, tx1, _ = boxes[target]
    x1, x2 = (sx0 + sx1) / 2, (tx0 + tx1) / 2
    lane = lay.lanes.get((source, target, label))
    if lane is None:  # into a branch: its column is the target's; out of one: the source's
        lane = x2 if lay.graph.nodes[source].id + "/__join__" in lay.graph.nodes else x1
    end = ty - 6  # room for the arrowhead
    bends = (lane != x1) + (lane != x2)
    h = min(BEND, (end - sy) / bends) if bends else 0.0
    path = f"M{x1:.2f},{sy:.2f}"
    if lane != x1:  # out of a fork, into the branch's lane
        path += f" C{x1:.2f},{sy + h / 2:.2f} {lane:.2f},{sy + h / 2:.2f} {lane:.2f},{sy + h:.2f}"
    path += f" V{end - h if lane != x2 else end:.2f}"
    if lane != x2:  # out of the lane, into a join
        path += f" C{lane:.2f},{end - h / 2:.2f} {x2:.2f},{end - h / 2:.2f} {x2:.2f},{end:.2f}"
    ident = html.escape(f"{source}->{target}", quote=True)
    dash = ' stroke-dasharray="5,2"' if dashed else ""
    out = [
        f'<g id="{ident}" class="edge"><title>{ident}</title>',
        f'<path fill="none" stroke="#555555"{dash} d="{path}"/>',
        f'<polygon fill="#555555" stroke="#555555" points="{x2 - 3.5:.2f},{end:.2f} '
        f'{x2 + 3.5:.2f},{end:.2f} {x2:.2f},{ty:.2f}"/>',
    ]
    if label:  # below the bend, clear of the fork's other edges, above the arrowhead
        label_y = sy + BEND + 9 if end - sy > BEND + 12 else (sy + end) / 2 + 4
        out.append(
            f'<text text-anchor="middle" x="{lane:.2f}" y="{label_y:.2f}" '
            f'font-family="Helvetica,sans-serif" font-size="9" fill="#374151" '
            'stroke="#ffffff" stroke-width="3" paint-order="stroke">'
            f"{html.escape(label)}</text>"
        )
    out.append("</g>")
    return "".join(out)
