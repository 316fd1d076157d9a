"""The final state as a static SVG: what nbconvert, GitHub and a closed kernel show.

The browser restyles the live SVG with CSS (``livegraph.css``); a static picture cannot
count on a stylesheet surviving a sanitiser, so here the colours are written straight
into the Graphviz SVG: each ``<g class="node" id="...">`` gets the fill and stroke of
its state, a small badge (elapsed time, ``done/total``) and a tooltip (``<title>``)
with the state and the error.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

COLORS: dict[str, tuple[str, str]] = {
    # state: (fill, stroke) - the same palette as livegraph.css
    "pending": ("#ffffff", "#9ca3af"),
    "running": ("#fde68a", "#d97706"),
    "done": ("#bbf7d0", "#15803d"),
    "handled": ("#ffedd5", "#ea580c"),  # failed, but a fallback (or partial results) took over
    "failed": ("#fecaca", "#b91c1c"),
    "cancelled": ("#e5e7eb", "#6b7280"),
    "skipped": ("#f9fafb", "#d1d5db"),  # user work that never ran (an unused fallback)
}
DASHED = {"cancelled": "4,2", "handled": "6,2", "skipped": "2,2"}
MIN_BADGE_MS = 1.0
"""Shorter times are left off the badge (a "0 ms" on every prompt is noise); the
tooltip keeps them."""

_SHAPES = {"polygon", "ellipse", "path", "rect", "polyline", "circle"}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


STALL_STROKE = "#d32f2f"  # a node that blocked the event loop (chainlab.widgets.marks)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def badge_text(state: dict[str, Any], *, full: bool = False) -> str:
    """``"1.2 s"`` or ``"37/200 · 2 failed · 1.2 s"``; times under ``MIN_BADGE_MS``
    only with ``full`` (the tooltip)."""
    parts = []
    if "total" in state:
        parts.append(f"{state.get('done', 0)}/{state['total']}")
        if state.get("failed"):
            parts.append(f"{state['failed']} failed")
    if "elapsed_ms" in state and state.get("state") not in ("pending", "skipped"):
        ms = float(state["elapsed_ms"] or 0)
        if full or ms >= MIN_BADGE_MS:
            parts.append(
                f"{ms / 1000:.1f} s" if ms >= 100 else f"{ms:.1f} ms" if ms < 1 else f"{ms:.0f} ms"
            )
    if state.get("stall"):  # chainlab.widgets.marks: this node held the event loop
        parts.append(f"⚠ {state['stall']}")
    return " · ".join(parts)


def tooltip(node_id: str, state: dict[str, Any]) -> str:
    """The hover text of a node: id, state, counts, error."""
    name = state.get("state", "pending")
    name = "failed, handled (fallback used)" if name == "handled" else name
    lines = [node_id, " · ".join(filter(None, [name, badge_text(state, full=True)]))]
    if state.get("error"):
        lines.append(str(state["error"]))
    if state.get("abandoned"):
        lines.append(
            f"{state['abandoned']} abandoned: their threads ignored the cancel and may still "
            "be running; shown cancelled, their late ends ignored"
        )
    return "\n".join(lines)


def shape_box(group: ET.Element) -> tuple[float, float, float, float] | None:
    """The bounding box ``(x0, y0, x1, y1)`` of a node's shapes, from their coordinates."""
    xs: list[float] = []
    ys: list[float] = []
    for el in group.iter():
        tag = _local(el.tag)
        if tag == "ellipse":
            cx, cy = float(el.get("cx", 0)), float(el.get("cy", 0))
            rx, ry = float(el.get("rx", 0)), float(el.get("ry", 0))
            xs += [cx - rx, cx + rx]
            ys += [cy - ry, cy + ry]
        elif tag in ("polygon", "polyline", "path"):
            numbers = [float(n) for n in _NUMBER.findall(el.get("points") or el.get("d") or "")]
            xs += numbers[0::2]
            ys += numbers[1::2]
        elif tag == "rect" and "cl-badge" not in (el.get("class") or ""):
            x, y = float(el.get("x", 0)), float(el.get("y", 0))
            xs += [x, x + float(el.get("width", 0))]
            ys += [y, y + float(el.get("height", 0))]
    if not xs or not ys:
        return None
    return min(xs), min(ys), max(xs), max(ys)


Box = tuple[float, float, float, float]  # x0, y0, x1, y1
BADGE_HEIGHT = 13.0


def badge_spot(
    box: Box, width: float, arrows: Sequence[Box], nodes: Sequence[Box] = ()
) -> tuple[float, float]:
    """Where a badge ``width`` wide goes (its rect's x, y): of the spots around the node
    (top right corner, right side, bottom right, top left, above, left side), the first
    that covers no arrowhead and no other node; failing that, the first that covers no
    arrowhead (a node's edge matters less). The same rule as ``badgeSpot`` in
    livegraph.js."""
    x0, y0, x1, y1 = box
    middle = (y0 + y1) / 2 - BADGE_HEIGHT / 2
    spots = [
        (x1 - width + 6, y0 - 8),
        (x1 + 3, middle),
        (x1 - width + 6, y1 - 5),
        (x0 - 6, y0 - 8),
        ((x0 + x1 - width) / 2, y0 - BADGE_HEIGHT - 2),
        (x0 - width - 3, middle),
    ]

    def hits(spot: tuple[float, float], obstacles: Sequence[Box]) -> int:
        rect = (spot[0], spot[1], spot[0] + width, spot[1] + BADGE_HEIGHT)
        return sum(_overlap(rect, other) for other in obstacles)

    return min(spots, key=lambda s: (hits(s, arrows), hits(s, nodes) > 0))


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def obstacles_of(root: ET.Element) -> dict[str, tuple[list[Box], list[Box]]]:
    """Per node id, what its badge must not cover: every edge's arrowhead, and the other
    nodes."""
    arrows: list[Box] = []
    nodes: dict[str, Box] = {}
    for group in root.iter(f"{{{SVG_NS}}}g"):
        classes = (group.get("class") or "").split()
        if "edge" in classes:
            for polygon in group.iter(f"{{{SVG_NS}}}polygon"):
                found = shape_box(_wrap(polygon))
                if found is not None:
                    arrows.append(found)
        elif "node" in classes:
            found = shape_box(group)
            if found is not None:
                nodes[group.get("id") or ""] = found
    return {
        node_id: (arrows, [b for other, b in nodes.items() if other != node_id])
        for node_id in nodes
    }


def _wrap(element: ET.Element) -> ET.Element:
    group = ET.Element(f"{{{SVG_NS}}}g")
    group.append(element)
    return group


def _badge(box: Box, text: str, stroke: str, obstacles: tuple[list[Box], list[Box]]) -> ET.Element:
    width = 6.0 * len(text) + 8
    x, y = badge_spot(box, width, *obstacles)
    y += 8  # the text's baseline and the rect are placed from the old anchor
    g = ET.Element(f"{{{SVG_NS}}}g", {"class": "cl-badge"})
    ET.SubElement(
        g,
        f"{{{SVG_NS}}}rect",
        {
            "class": "cl-badge",
            "x": f"{x:.1f}",
            "y": f"{y - 8:.1f}",
            "width": f"{width:.1f}",
            "height": "13",
            "rx": "6",
            "fill": "#ffffff",
            "stroke": stroke,
        },
    )
    label = ET.SubElement(
        g,
        f"{{{SVG_NS}}}text",
        {
            "x": f"{x + width / 2:.1f}",
            "y": f"{y + 2:.1f}",
            "text-anchor": "middle",
            "font-family": "sans-serif",
            "font-size": "9",
            "fill": stroke,
        },
    )
    label.text = text
    return g


def final_svg(svg: str, states: dict[str, dict[str, Any]]) -> str:
    """``svg`` with every node coloured by its state in ``states`` (missing = pending).

    Returns ``svg`` unchanged if it cannot be parsed (a static picture is a nicety; it
    must never fail the run).
    """
    if not svg:
        return svg
    try:
        root = ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", svg))
    except ET.ParseError:
        return svg
    obstacles = obstacles_of(root)
    for group in root.iter(f"{{{SVG_NS}}}g"):
        if "node" not in (group.get("class") or "").split():
            continue
        node_id = group.get("id") or ""
        state = states.get(node_id, {"state": "pending"})
        name = state.get("state", "pending")
        fill, stroke = COLORS.get(name, COLORS["pending"])
        group.set("data-state", name)
        for el in group.iter():
            if _local(el.tag) in _SHAPES and el.get("fill") != "transparent":
                el.set("fill", fill)
                el.set("stroke", stroke)
                if name in DASHED:
                    el.set("stroke-dasharray", DASHED[name])
                if state.get("stall"):
                    el.set("stroke", STALL_STROKE)
                    el.set("stroke-width", "3")
        title = group.find(f"{{{SVG_NS}}}title")
        if title is None:
            title = ET.Element(f"{{{SVG_NS}}}title")
            group.insert(0, title)
        title.text = tooltip(node_id, state)
        for anchor in group.iter(f"{{{SVG_NS}}}a"):
            if anchor.get(f"{{{XLINK_NS}}}title") is not None:
                anchor.set(f"{{{XLINK_NS}}}title", title.text)
        text = badge_text(state)
        box = shape_box(group)
        if text and box is not None:
            group.append(_badge(box, text, stroke, obstacles.get(node_id, ([], []))))
    return ET.tostring(root, encoding="unicode")


_ROOT_TAG = re.compile(r"<svg\b[^>]*>", re.S)


def pad_svg(svg: str, top: float = 10.0, right: float = 12.0) -> str:
    """Grow the canvas at the top and right so node badges are never clipped."""
    match = _ROOT_TAG.search(svg)
    if match is None:
        return svg
    tag = match.group(0)
    box = re.search(r'viewBox="([^"]+)"', tag)
    if box is None:
        return svg
    try:
        x, y, w, h = (float(v) for v in box.group(1).replace(",", " ").split())
    except ValueError:
        return svg
    new = tag.replace(
        box.group(0), f'viewBox="{x:.2f} {y - top:.2f} {w + right:.2f} {h + top:.2f}"'
    )
    for attr, extra in (("width", right), ("height", top)):
        size = re.search(rf'\b{attr}="([\d.]+)(pt|px)?"', new)
        if size is not None:
            unit = size.group(2) or ""
            new = new.replace(size.group(0), f'{attr}="{float(size.group(1)) + extra:.0f}{unit}"')
    return svg[: match.start()] + new + svg[match.end() :]


def svg_img(svg: str, alt: str = "chain graph") -> str:
    """An ``<img>`` tag carrying ``svg`` as a data URI (safe inside ``text/html``)."""
    import base64

    data = base64.b64encode(svg.encode()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}"/>'
