"""The static final-state SVG: colours by node id, badges, tooltips, padding."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chainlab import RunnableLambda, RunnableParallel
from chainlab.widgets.static import (
    COLORS,
    SVG_NS,
    badge_text,
    final_svg,
    pad_svg,
    svg_img,
)

NS = {"svg": SVG_NS}


def nodes_of(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("id", ""): g for g in root.iter(f"{{{SVG_NS}}}g") if g.get("class") == "node"}


def fills(group: ET.Element) -> set[str]:
    shapes = [
        el for el in group.iter() if el.tag.rsplit("}", 1)[-1] in ("path", "polygon", "ellipse")
    ]
    return {el.get("fill", "") for el in shapes}


def test_final_svg_colours_each_node_by_its_state() -> None:
    graph = (RunnableParallel(a=str, b=repr) | RunnableLambda(len)).get_graph()
    svg = pad_svg(graph.to_svg())
    states = {
        "root/0/a": {"state": "done", "elapsed_ms": 1200.0},
        "root/0/b": {"state": "failed", "elapsed_ms": 3.0, "error": "ValueError: nope"},
        "root/1": {"state": "running", "elapsed_ms": 40.0},
    }
    nodes = nodes_of(final_svg(svg, states))
    assert set(nodes) == set(graph.nodes)
    assert COLORS["done"][0] in fills(nodes["root/0/a"])
    assert COLORS["failed"][0] in fills(nodes["root/0/b"])
    assert COLORS["running"][0] in fills(nodes["root/1"])
    assert COLORS["pending"][0] in fills(nodes["__output__"])
    assert nodes["root/0/b"].get("data-state") == "failed"
    title = nodes["root/0/b"].find("svg:title", NS)
    assert title is not None
    assert "ValueError: nope" in (title.text or "")
    texts = ["".join(t.itertext()) for t in nodes["root/0/a"].iter(f"{{{SVG_NS}}}text")]
    assert "1.2 s" in texts  # the badge


def test_badges() -> None:
    assert badge_text({"state": "done", "elapsed_ms": 40}) == "40 ms"
    assert (
        badge_text({"state": "running", "elapsed_ms": 1500, "done": 3, "total": 9, "failed": 1})
        == "3/9 · 1 failed · 1.5 s"
    )
    assert badge_text({"state": "done"}) == ""


def test_pad_svg_grows_the_canvas() -> None:
    svg = '<svg width="100pt" height="50pt" viewBox="0.00 0.00 100.00 50.00"><g/></svg>'
    padded = pad_svg(svg, top=10, right=12)
    assert 'viewBox="0.00 -10.00 112.00 60.00"' in padded
    assert 'width="112pt"' in padded
    assert 'height="60pt"' in padded


def test_unparseable_svg_is_returned_unchanged() -> None:
    assert final_svg("<svg><g></svg>", {}) == "<svg><g></svg>"
    assert final_svg("", {}) == ""
    assert svg_img("<svg/>").startswith('<img alt="chain graph" src="data:image/svg+xml;base64,')
