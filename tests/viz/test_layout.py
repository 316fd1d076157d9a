"""The Python layout: graphs drawn without Graphviz, for the live graph and the pictures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest

from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough
from chainlab.viz import Graph, GraphEdge, GraphNode
from chainlab.viz.layout import layout, layout_svg
from chainlab.viz.render import draw_svg
from chainlab.widgets.static import final_svg

NS = {"svg": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"


def retrieve(x: object) -> object:
    return x


def summarize(x: object) -> object:
    return x


def chains() -> dict[str, object]:
    inner = RunnableParallel(x=str, y=repr)
    return {
        "rag": RunnableLambda(retrieve)
        | RunnableParallel(
            docs=retrieve,
            web=RunnableLambda(str) | RunnableLambda(repr) | summarize,
            q=RunnablePassthrough(),
            deep=inner,
        )
        | RunnablePassthrough.assign(n=len)
        | RunnableLambda(summarize).map(),
        "wide": RunnableParallel(**{f"q{i}": str for i in range(30)}),
        "fallbacks": RunnableLambda(str).with_fallbacks([RunnableLambda(repr)]),
        "one": RunnableLambda(str),
    }


def boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Each node's outer box, read back from the SVG."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "node":
            continue
        xs: list[float] = []
        ys: list[float] = []
        for rect in g.findall("svg:rect", NS):
            x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
            xs += [x, x + float(rect.get("width", 0))]
            ys += [y, y + float(rect.get("height", 0))]
        for ell in g.findall("svg:ellipse", NS):
            cx, cy, r = float(ell.get("cx", 0)), float(ell.get("cy", 0)), float(ell.get("rx", 0))
            xs += [cx - r, cx + r]
            ys += [cy - r, cy + r]
        out[g.get("id", "")] = (min(xs), min(ys), max(xs), max(ys))
    return out


@pytest.mark.parametrize("name", list(chains()))
def test_every_node_and_edge_is_drawn_once_and_nothing_overlaps(name: str) -> None:
    graph = chains()[name].get_graph()  # type: ignore[attr-defined]
    svg = layout_svg(graph)
    found = boxes(svg)
    assert sorted(found) == sorted(graph.nodes)  # the live view restyles them by these ids
    edges = [g.get("id") for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "edge"]
    assert sorted(edges) == sorted(f"{e.source}->{e.target}" for e in graph.edges)  # type: ignore[arg-type]
    for (a, ba), (b, bb) in combinations(found.items(), 2):
        apart = ba[2] <= bb[0] or bb[2] <= ba[0] or ba[3] <= bb[1] or bb[3] <= ba[1]
        assert apart, (a, ba, b, bb)
    for label in (e.label for e in graph.edges if e.label):  # branch keys are written
        assert f">{label}</text>" in svg


def test_a_fork_puts_its_branches_side_by_side_between_it_and_its_join() -> None:
    graph = chains()["rag"].get_graph()  # type: ignore[attr-defined]
    at = layout(graph).at
    fork = "root/1"
    branches = ["root/1/docs", "root/1/web/0", "root/1/q", "root/1/deep"]
    assert len({at[b][1] for b in branches}) == 1  # one row
    xs = [at[b][0] for b in branches]
    assert xs == sorted(xs)  # in the order of the keys
    assert at[fork][1] < at[branches[0]][1] < at["root/1/web/2"][1] < at[fork + "/__join__"][1]
    assert at["__input__"][1] < at[fork][1] < at["__output__"][1]
    for edge in graph.edges:  # every edge points down
        assert at[edge.source][1] < at[edge.target][1], edge


def test_a_graph_without_a_block_tree_is_drawn_in_layers() -> None:
    nodes = [GraphNode("a", "a", "leaf"), GraphNode("b", "b", "leaf"), GraphNode("c", "c", "leaf")]
    graph = Graph(
        nodes={n.id: n for n in nodes},
        edges=[GraphEdge("a", "b"), GraphEdge("a", "c"), GraphEdge("b", "c")],
    )
    at = layout(graph).at
    assert at["a"][1] < at["b"][1] < at["c"][1]  # c waits for b: longest path
    assert sorted(boxes(layout_svg(graph))) == ["a", "b", "c"]


def test_without_dot_pictures_and_the_live_graph_use_the_layout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot
    chain = RunnableLambda(retrieve) | RunnableParallel(a=str, b=RunnableLambda(str) | repr)
    graph = chain.get_graph()
    assert draw_svg(graph) == layout_svg(graph)
    from chainlab.widgets import LiveGraph

    live = LiveGraph(chain)
    try:
        assert sorted(boxes(live.svg)) == sorted(graph.nodes)  # was "(no graph ...)"
        live.run("x")
        picture = ET.fromstring(live.static_svg())
        states = {
            g.get("id"): g.get("data-state")
            for g in picture.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "node"
        }
        assert set(states.values()) == {"done"}  # the static picture, coloured
        done_fill = 'fill="#bbf7d0"'
        assert live.static_svg().count(done_fill) >= len(graph.nodes)
    finally:
        live.close()


def test_the_static_colouring_finds_the_layouts_shapes() -> None:
    graph = chains()["fallbacks"].get_graph()  # type: ignore[attr-defined]
    svg = final_svg(layout_svg(graph), {"root/0": {"state": "failed", "error": "boom"}})
    assert 'data-state="failed"' in svg
    assert "boom" in svg
    assert 'fill="#fecaca"' in svg
