"""Renderers: text, Mermaid, Graphviz / SVG (node ids on the SVG groups)."""

from __future__ import annotations

import re
import shutil
from typing import Any

import graphviz
import pytest

from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough
from chainlab.viz import render


def fetch(x: Any) -> Any:
    return x


def chain() -> Any:
    return (
        RunnableLambda(fetch)
        | RunnableParallel(
            joke=RunnableLambda(fetch) | str,
            poem=RunnableLambda(fetch).map(),
            many=RunnableParallel({f"q{i}": fetch for i in range(50)}),
        )
        | RunnablePassthrough.assign(n=len)
    )


def test_ascii_drawing() -> None:
    text = (RunnableLambda(fetch) | {"a": str, "b": RunnableLambda(repr) | len}).get_graph()
    assert text.draw_ascii() == "\n".join(
        [
            "input",
            "↓",
            "fetch",
            "↓",
            "RunnableParallel<a,b>  (fork)",
            "├─ a ─▶ str",
            "└─ b ─▶ repr",
            "        ↓",
            "        len",
            "(join)",
            "↓",
            "output",
        ]
    )


def test_ascii_shows_ids_summaries_and_passthrough() -> None:
    text = chain().get_graph().draw_ascii(ids=True)
    assert "fetch  [root/0]" in text
    assert "fetch ×50  [root/1/many/*]" in text
    assert "each item ─▶ fetch  [root/1/poem/*]" in text
    assert "passthrough ╌▶" in text


def test_mermaid() -> None:
    text = chain().get_graph().draw_mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '-->|"joke"|' in text
    assert '-.->|"passthrough"|' in text
    assert "RunnableParallel#lt;joke,poem,many#gt;" in text
    assert '"fetch ×50"' in text
    graph = chain().get_graph()
    assert sum("-->" in line or "-.->" in line for line in lines) == len(graph.edges)


def test_graphviz_digraph_carries_node_ids() -> None:
    graph = chain().get_graph()
    dot = graph.to_graphviz()
    assert isinstance(dot, graphviz.Digraph)
    for node_id in graph.nodes:  # dot quotes an id only when it must
        assert re.search(rf' id="?{re.escape(node_id)}"?[ \]]', dot.source), node_id


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_svg_has_a_group_per_node_with_its_id() -> None:
    graph = chain().get_graph()
    svg = graph.to_svg()
    assert svg.lstrip().startswith("<?xml")
    assert "</svg>" in svg
    groups = re.findall(r'<g id="([^"]+)" class="node"', svg)
    assert sorted(groups) == sorted(graph.nodes)
    assert '<g id="root/1/joke/0" class="node">' in svg
    bundle = graph._repr_mimebundle_()
    assert bundle["image/svg+xml"] == svg
    assert bundle["text/plain"] == graph.draw_ascii()


def test_missing_dot_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    graph = chain().get_graph()
    with pytest.raises(RuntimeError, match="apt-get install graphviz") as info:
        graph.to_svg()
    assert "brew install graphviz" in str(info.value)
    bundle = graph._repr_mimebundle_()  # the picture is still there: the Python layout
    assert bundle["text/plain"] == graph.draw_ascii()
    assert sorted(re.findall(r'<g id="([^"]+)" class="node"', bundle["image/svg+xml"])) == sorted(
        graph.nodes
    )


def test_dot_failing_to_run_is_reported_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    with pytest.raises(RuntimeError, match="brew install graphviz"):
        chain().get_graph().to_svg()
