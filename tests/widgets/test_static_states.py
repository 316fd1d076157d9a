"""The static picture for every state: fills and strokes, dashed cancelled nodes,
badges, tooltips (also on the links) with hostile error text escaped, and the picture
of a real run drawn from the live graph's last state."""

from __future__ import annotations

import base64
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel
from chainlab.widgets import LiveGraph
from chainlab.widgets.static import (
    COLORS,
    SVG_NS,
    XLINK_NS,
    badge_spot,
    badge_text,
    final_svg,
    pad_svg,
    shape_box,
    svg_img,
    tooltip,
)

SHAPES = ("path", "polygon", "ellipse", "rect", "polyline", "circle")


def graph_svg() -> tuple[Any, str]:
    chain = RunnableParallel(a=str, b=repr, c=len, d=ascii) | RunnableLambda(lambda d: d)
    graph = chain.get_graph()
    return graph, pad_svg(graph.to_svg())


def groups(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {
        g.get("id", ""): g
        for g in root.iter(f"{{{SVG_NS}}}g")
        if "node" in (g.get("class") or "").split()
    }


def shapes(group: ET.Element) -> list[ET.Element]:
    return [
        el
        for el in group.iter()
        if el.tag.rsplit("}", 1)[-1] in SHAPES and "cl-badge" not in (el.get("class") or "")
    ]


def title_of(group: ET.Element) -> str:
    title = group.find(f"{{{SVG_NS}}}title")
    assert title is not None
    return title.text or ""


def badge_of(group: ET.Element) -> str | None:
    badge = next(
        (g for g in group.iter(f"{{{SVG_NS}}}g") if g.get("class") == "cl-badge"),
        None,
    )
    return None if badge is None else "".join(badge.itertext())


@pytest.mark.parametrize("state", sorted(COLORS))
def test_each_state_has_its_fill_and_stroke_on_every_shape(state: str) -> None:
    graph, svg = graph_svg()
    out = groups(final_svg(svg, {"root/0/a": {"state": state, "elapsed_ms": 12.0}}))
    fill, stroke = COLORS[state]
    node = out["root/0/a"]
    assert node.get("data-state") == state
    assert shapes(node)
    for el in shapes(node):
        assert (el.get("fill"), el.get("stroke")) == (fill, stroke)
        assert (el.get("stroke-dasharray") == "4,2") == (state == "cancelled")
    # every other node is pending
    for node_id, group in out.items():
        if node_id != "root/0/a":
            assert group.get("data-state") == "pending"
    assert set(out) == set(graph.nodes)


def test_an_unknown_state_is_drawn_as_pending_but_keeps_its_name() -> None:
    _, svg = graph_svg()
    node = groups(final_svg(svg, {"root/1": {"state": "exploded"}}))["root/1"]
    assert node.get("data-state") == "exploded"
    assert {el.get("fill") for el in shapes(node)} == {COLORS["pending"][0]}


def test_badges_show_counts_failures_and_time() -> None:
    _, svg = graph_svg()
    states = {
        "root/0/a": {"state": "done", "elapsed_ms": 2500.0, "done": 7, "total": 7},
        "root/0/b": {"state": "failed", "elapsed_ms": 40.0, "done": 3, "total": 9, "failed": 2},
        "root/0/c": {"state": "running", "elapsed_ms": 99.4},
        "root/0/d": {"state": "pending", "elapsed_ms": 5.0},
    }
    out = groups(final_svg(svg, states))
    assert badge_of(out["root/0/a"]) == "7/7 · 2.5 s"
    assert badge_of(out["root/0/b"]) == "3/9 · 2 failed · 40 ms"
    assert badge_of(out["root/0/c"]) == "99 ms"
    assert badge_of(out["root/0/d"]) is None  # pending: no time, no badge
    assert badge_of(out["root/1"]) is None


def test_badges_cover_no_arrowhead() -> None:
    _, svg = graph_svg()
    ids = [g.get("id") for g in ET.fromstring(svg).iter() if "node" in (g.get("class") or "")]
    states = {i: {"state": "done", "elapsed_ms": 2500.0, "done": 7, "total": 9} for i in ids}
    root = ET.fromstring(final_svg(svg, states))
    arrows = []  # the arrowheads: the polygons of the edges
    for edge in root.iter(f"{{{SVG_NS}}}g"):
        if "edge" in (edge.get("class") or ""):
            for polygon in edge.iter(f"{{{SVG_NS}}}polygon"):
                holder = ET.Element(f"{{{SVG_NS}}}g")
                holder.append(polygon)
                arrows.append(shape_box(holder))
    assert arrows
    nodes = {g.get("id"): g for g in root.iter(f"{{{SVG_NS}}}g") if g.get("id") in ids}
    badges = 0
    for node_id, node in nodes.items():
        rect = next(
            (el for el in node.iter(f"{{{SVG_NS}}}rect") if el.get("class") == "cl-badge"), None
        )
        if rect is None:
            continue
        badges += 1
        x, y = float(rect.get("x", "0")), float(rect.get("y", "0"))
        box = (x, y, x + float(rect.get("width", "0")), y + 13)
        assert badge_of(node) == "7/9 · 2.5 s"
        for other in [a for a in arrows if a]:
            assert not (
                box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]
            ), (node_id, box, other)
    assert badges >= 4


def test_a_badge_moves_off_an_arrowhead_on_its_corner() -> None:
    node = (0.0, 20.0, 100.0, 40.0)
    corner = badge_spot(node, 40, [])
    assert corner == (66.0, 12.0)  # the top right corner when nothing is in the way
    arrow = (80.0, 12.0, 90.0, 20.0)  # an arrowhead landing right there
    x, y = badge_spot(node, 40, [arrow])
    assert (x, y) == (103.0, 23.5)  # on the node's right side instead


HOSTILE = '<script>alert("x")</script> & </title><g id="root/0/b"> \'quoted\' ]]>'


def test_tooltips_carry_the_error_escaped_also_on_links() -> None:
    _, svg = graph_svg()
    states = {"root/0/a": {"state": "failed", "elapsed_ms": 3.0, "error": HOSTILE}}
    out_svg = final_svg(svg, states)
    assert "<script>" not in out_svg  # escaped, not markup
    assert "&lt;script&gt;" in out_svg
    forged = [g for g in ET.fromstring(out_svg).iter() if g.get("id") == "root/0/b"]
    assert len(forged) == 1  # no element forged by the error text
    node = groups(out_svg)["root/0/a"]
    text = title_of(node)
    assert text.splitlines()[0] == "root/0/a"
    assert text.splitlines()[1] == "failed · 3 ms"
    assert HOSTILE in text  # the exact error, after parsing
    links = [a for a in node.iter(f"{{{SVG_NS}}}a") if a.get(f"{{{XLINK_NS}}}title")]
    assert links
    assert all(a.get(f"{{{XLINK_NS}}}title") == text for a in links)


def test_tooltip_text() -> None:
    assert tooltip("n", {}) == "n\npending"
    assert tooltip("n", {"state": "done", "elapsed_ms": 1500}) == "n\ndone · 1.5 s"
    assert tooltip("n", {"state": "failed", "error": "E: x\nnote"}) == "n\nfailed\nE: x\nnote"
    assert badge_text({"state": "done", "elapsed_ms": None}) == ""  # under 1 ms: no badge
    assert badge_text({"state": "done", "elapsed_ms": 0.4}, full=True) == "0.4 ms"
    assert tooltip("n", {"state": "done", "elapsed_ms": 0.4}) == "n\ndone · 0.4 ms"  # kept
    assert tooltip("n", {"state": "handled", "error": "E: x"}).startswith(
        "n\nfailed, handled (fallback used)"
    )
    assert badge_text({"state": "running", "done": 0, "total": 5}) == "0/5"


def test_a_node_without_a_title_gets_one() -> None:
    svg = (
        f'<svg xmlns="{SVG_NS}" viewBox="0 0 10 10">'
        '<g class="node" id="x"><ellipse cx="5" cy="5" rx="2" ry="3"/></g>'
        '<g class="node other" id="y"><circle cx="1" cy="1" r="1" fill="transparent"/></g>'
        "</svg>"
    )
    out = groups(final_svg(svg, {"x": {"state": "done", "elapsed_ms": 1.0}}))
    assert title_of(out["x"]).startswith("x\ndone")
    assert shape_box(out["x"]) == (3.0, 2.0, 7.0, 8.0)
    circle = next(iter(out["y"].iter(f"{{{SVG_NS}}}circle")))
    assert circle.get("fill") == "transparent"  # transparent shapes stay transparent
    assert title_of(out["y"]) == "y\npending"


def test_pad_svg_leaves_what_it_cannot_read_alone() -> None:
    assert pad_svg("no svg here") == "no svg here"
    no_box = '<svg width="10" height="5"><g/></svg>'
    assert pad_svg(no_box) == no_box
    bad_box = '<svg viewBox="a b c d"><g/></svg>'
    assert pad_svg(bad_box) == bad_box
    unitless = pad_svg('<svg width="100" height="50" viewBox="0,0,100,50"/>', top=5, right=4)
    assert 'width="104"' in unitless
    assert 'height="55"' in unitless
    assert 'viewBox="0.00 -5.00 104.00 55.00"' in unitless


def test_svg_img_is_a_data_uri_with_an_escaped_alt() -> None:
    tag = svg_img("<svg/>", alt='a "graph" <b>')
    assert 'alt="a &quot;graph&quot; &lt;b&gt;"' in tag
    data = re.search(r'base64,([^"]+)"', tag)
    assert data is not None
    assert base64.b64decode(data.group(1)) == b"<svg/>"


def test_a_real_run_s_static_picture_matches_its_final_states() -> None:
    def slow(x: Any) -> Any:
        time.sleep(0.01)
        return x

    def broken(x: Any) -> Any:
        time.sleep(0.02)
        raise ValueError("<bad> & worse")

    chain = RunnableParallel(ok=slow, bad=broken, each=RunnableLambda(slow).map())
    live = LiveGraph(chain)
    with pytest.raises(ValueError):
        live.run([1, 2, 3])
    out = groups(live.static_svg())
    assert set(out) == set(live.graph.nodes)
    for node_id, group in out.items():
        expected = live.states.get(node_id, {"state": "pending"})["state"]
        assert group.get("data-state") == expected, node_id
    assert out["root/bad"].get("data-state") == "failed"
    assert "ValueError: <bad> & worse" in title_of(out["root/bad"])
    assert "branch 'bad'" in title_of(out["root/bad"])
    assert out["__output__"].get("data-state") == "failed"
    assert badge_of(out["root/each/*"]) is not None
