"""Renderers on every shape: text, Mermaid, the Graphviz source and the SVG that dot lays out."""

from __future__ import annotations

import re
import shutil
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough, RunnablePick
from chainlab.viz import Graph, GraphEdge, GraphNode
from chainlab.viz.graph import INPUT_ID, OUTPUT_ID
from chainlab.viz.layout import layout_svg

SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")


def f(x: Any) -> Any:
    return x


def g(x: Any) -> Any:
    return x


def every_kind() -> Any:
    """Fallbacks, assign, pick, a parallel with a map and a passthrough, a wide fan-out."""
    return (
        RunnableLambda(f).with_fallbacks([RunnableLambda(g)])
        | RunnablePassthrough.assign(n=len)
        | RunnablePick("n")
        | RunnableParallel(
            a=RunnableLambda(f).map(),
            b=RunnablePassthrough(),
            wide=RunnableParallel({f"q{i}": g for i in range(20)}),
        )
    )


def test_ascii_draws_every_kind() -> None:
    assert every_kind().get_graph().draw_ascii() == "\n".join(
        [
            "input",
            "↓",
            "with fallbacks: f  (fork)",
            "├─ try ─▶ f",
            "└─ fallback 1 ╌▶ g",
            "(join)",
            "↓",
            "assign<n>  (fork)",
            "├─ n ─▶ len",
            "└─ passthrough ╌▶ (join)",
            "(join)",
            "↓",
            "(pick<n>)",
            "↓",
            "RunnableParallel<a,b,wide>  (fork)",
            "├─ a ─▶ map: f  (fork)",
            "│       └─ each item ─▶ f",
            "│       (join)",
            "├─ b ─▶ (RunnablePassthrough)",
            "└─ wide ─▶ RunnableParallel<q0,q1,q2,…,q19>  (fork)",
            "           └─ q0 … q19 ─▶ g ×20",
            "           (join)",
            "(join)",
            "↓",
            "output",
        ]
    )


def test_ascii_with_ids_names_every_drawn_node_once() -> None:
    graph = every_kind().get_graph()
    text = graph.draw_ascii(ids=True)
    found = re.findall(r"\[([^\]]+)\]", text)
    drawn = [n for n in graph.nodes if n not in (INPUT_ID, OUTPUT_ID) and "__join__" not in n]
    assert sorted(found) == sorted(drawn)


def test_ascii_of_a_hand_made_graph_lists_its_edges() -> None:
    graph = Graph()
    graph.nodes["a"] = GraphNode("a", "a", "leaf")
    graph.edges += [GraphEdge("a", "b", "first"), GraphEdge("b", "c")]
    assert graph.draw_ascii() == "a -> b first\nb -> c"


def test_mermaid_shapes_by_kind() -> None:
    graph = every_kind().get_graph()
    lines = graph.draw_mermaid().splitlines()
    short = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    declared = {}
    for line in lines[1:]:
        if "->" not in line:  # a node, not an edge
            declared[re.split(r"[(\[{]", line.strip(), maxsplit=1)[0]] = line.strip()
    assert set(declared) == set(short.values())  # every node declared once
    for node_id, node in graph.nodes.items():
        line = declared[short[node_id]]
        if node.kind in ("input", "output"):
            assert line.endswith(f'(["{node.label}"])')
        elif node.kind == "join":
            assert line.endswith('(("join"))')
        elif node.kind == "passthrough":
            assert re.fullmatch(r'n\d+\("[^"]+"\)', line), line
        elif node_id + "/__join__" in graph.nodes:
            assert re.fullmatch(r'n\d+\{\{"[^"]+"\}\}', line), line  # forks: hexagons
        else:
            assert re.fullmatch(r'n\d+\["[^"]+"\]', line), line
    dashed = [line.strip() for line in lines if "-.->" in line]
    assert len(dashed) == 2  # the fallback and the assign's passthrough
    assert any('|"fallback 1"|' in line for line in dashed)


def test_mermaid_escapes_what_would_break_its_syntax() -> None:
    text = RunnableParallel({'say "hi"': f, "#1": g}).get_graph().draw_mermaid()
    assert '|"say #quot;hi#quot;"|' in text
    assert '|"#35;1"|' in text
    assert "<" not in text
    assert ">" not in text.replace("-->", "").replace("-.->", "")


def test_graphviz_labels_styles_and_attributes() -> None:
    graph = every_kind().get_graph()
    dot = graph.to_graphviz(rankdir="LR")
    source = dot.source
    assert "rankdir=LR" in source  # graph_attr overrides the default
    assert "rankdir=TB" not in source
    short = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    node_lines = {m.group(1): m.group(2) for m in re.finditer(r"^\t(n\d+) \[(.*)\]$", source, re.M)}
    assert set(node_lines) == set(short.values())
    for node_id, node in graph.nodes.items():
        attrs = node_lines[short[node_id]]
        if node.kind == "join":
            assert 'label=""' in attrs
            assert "shape=circle" in attrs
        else:
            label = re.search(r'label=("(?:[^"\\]|\\.)*"|\S+)', attrs)
            assert label is not None
            assert label.group(1).strip('"').replace('\\"', '"') == node.label
    assert "peripheries=2" in node_lines[short["root/3/a/*"]]  # a map body: many copies
    assert "peripheries=2" in node_lines[short["root/3/wide/*"]]  # a summary
    assert "peripheries" not in node_lines[short["root/3/b"]]
    edge_lines = re.findall(r"^\t(n\d+) -> (n\d+) \[(.*)\]$", source, re.M)
    assert len(edge_lines) == len(graph.edges)
    for (src, dst, attrs), edge in zip(edge_lines, graph.edges, strict=True):
        assert (src, dst) == (short[edge.source], short[edge.target])
        assert ("style=dashed" in attrs) == edge.dashed
        if edge.label:
            assert f'label=" {edge.label} "' in attrs


def svg_groups(svg: str, kind: str) -> list[str]:
    root = ET.fromstring(svg)
    return [el.get("id", "") for el in root.iter(f"{SVG}g") if el.get("class") == kind]


@needs_dot
@pytest.mark.parametrize(
    "chain",
    [
        every_kind(),
        RunnableParallel({"a&b": f, 'say "hi"': g, "x<y>": RunnableLambda(f).map()}),
        RunnableLambda(f) | g,
    ],
    ids=["every kind", "awkward keys", "sequence"],
)
def test_svg_has_every_node_id_exactly_once_and_every_edge(chain: Any) -> None:
    graph = chain.get_graph()
    svg = graph.to_svg()
    nodes = svg_groups(svg, "node")
    assert sorted(nodes) == sorted(graph.nodes)
    assert len(nodes) == len(set(nodes))
    assert sorted(svg_groups(svg, "edge")) == sorted(f"{e.source}->{e.target}" for e in graph.edges)
    root = ET.fromstring(svg)
    titles = {el.get("id"): el.findtext(f"{SVG}title") for el in root.iter(f"{SVG}g")}
    assert titles["__input__"] == "n0"  # dot's own names stay short


def test_without_dot_on_path_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no dot anywhere
    graph = every_kind().get_graph()
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        graph.to_svg()
    bundle = graph._repr_mimebundle_()
    assert bundle == {"text/plain": graph.draw_ascii(), "image/svg+xml": layout_svg(graph)}


def test_a_dot_that_fails_falls_back_to_text_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Format: svg not recognized' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    graph = RunnableParallel(a=f, b=g).get_graph()
    with pytest.raises(RuntimeError, match="svg not recognized") as info:
        graph.to_svg()
    assert "draw_ascii" in str(info.value)
    assert graph._repr_mimebundle_()["image/svg+xml"] == layout_svg(graph)  # no dot needed
