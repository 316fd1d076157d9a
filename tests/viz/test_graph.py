"""The graph model: nodes and edges from the structure, ids shared with spans."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chainlab import (
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    record,
)
from chainlab.viz import Graph, GraphNode, build_graph
from chainlab.viz.graph import INPUT_ID, OUTPUT_ID


def fetch(x: Any) -> Any:
    return x


def summarize(x: Any) -> Any:
    return x


def edges(graph: Graph) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.label) for e in graph.edges}


def test_a_sequence_is_a_chain_of_its_steps() -> None:
    graph = (RunnableLambda(fetch) | summarize | str).get_graph()
    assert list(graph.nodes) == [INPUT_ID, "root/0", "root/1", "root/2", OUTPUT_ID]
    assert edges(graph) == {
        (INPUT_ID, "root/0", ""),
        ("root/0", "root/1", ""),
        ("root/1", "root/2", ""),
        ("root/2", OUTPUT_ID, ""),
    }
    assert [graph.nodes[i].name for i in graph.leaf_ids()] == ["fetch", "summarize", "str"]
    assert graph.resolve("root") is None  # a sequence is not drawn


def test_a_parallel_forks_with_branch_keys_and_joins() -> None:
    graph = RunnableParallel(joke=fetch, poem=summarize).get_graph()
    assert graph.nodes["root"].kind == "parallel"
    assert graph.nodes["root/__join__"].kind == "join"
    assert edges(graph) == {
        (INPUT_ID, "root", ""),
        ("root", "root/joke", "joke"),
        ("root", "root/poem", "poem"),
        ("root/joke", "root/__join__", ""),
        ("root/poem", "root/__join__", ""),
        ("root/__join__", OUTPUT_ID, ""),
    }


def test_nested_parallels_and_sequences_in_branches() -> None:
    inner = RunnableParallel(x=fetch, y=RunnableLambda(fetch) | summarize)
    graph = (RunnableLambda(fetch) | {"a": inner, "b": summarize} | str).get_graph()
    e = edges(graph)
    assert ("root/1", "root/1/a", "a") in e  # outer fork -> inner fork
    assert ("root/1/a", "root/1/a/x", "x") in e
    assert ("root/1/a", "root/1/a/y/0", "y") in e  # branch label on its first step
    assert ("root/1/a/y/0", "root/1/a/y/1", "") in e
    assert ("root/1/a/y/1", "root/1/a/__join__", "") in e
    assert ("root/1/a/__join__", "root/1/__join__", "") in e  # inner join -> outer join
    assert ("root/1/__join__", "root/2", "") in e
    assert graph.resolve("root/1/a/y") is None


def test_map_draws_its_body_once_with_item_ids() -> None:
    body = RunnableLambda(fetch) | {"p": summarize, "q": str}
    graph = (RunnableLambda(lambda x: [x, x]) | body.map() | len).get_graph()
    e = edges(graph)
    assert graph.nodes["root/1"].kind == "map"
    assert ("root/1", "root/1/*/0", "each item") in e
    assert ("root/1/*/1", "root/1/*/1/p", "p") in e
    assert ("root/1/*/1/__join__", "root/1/__join__", "") in e
    assert ("root/1/__join__", "root/2", "") in e
    assert sum(n.name == "summarize" for n in graph.nodes.values()) == 1


def test_assign_forks_with_a_passthrough_edge() -> None:
    graph = (RunnableLambda(fetch) | RunnablePassthrough.assign(n=len, s=str)).get_graph()
    assert graph.nodes["root/1"].kind == "assign"
    dashed = [(e.source, e.target, e.label) for e in graph.edges if e.dashed]
    assert dashed == [("root/1", "root/1/__join__", "passthrough")]
    assert ("root/1", "root/1/n", "n") in edges(graph)


def test_fallbacks_fork_into_try_and_dashed_fallbacks() -> None:
    graph = RunnableLambda(fetch).with_fallbacks([RunnableLambda(summarize)]).get_graph()
    e = {(x.source, x.target, x.label, x.dashed) for x in graph.edges}
    assert ("root", "root/0", "try", False) in e
    assert ("root", "root/1", "fallback 1", True) in e


def test_lambdas_are_named_after_their_function_and_wrappers_are_transparent() -> None:
    chain = RunnableLambda(fetch).with_retry() | RunnableLambda(summarize).with_config(
        run_name="shorten"
    )
    graph = chain.get_graph()
    assert graph.nodes["root/0"].name == "fetch"
    assert graph.nodes["root/1"].name == "shorten"
    assert RunnableLambda(lambda x: x).get_graph().nodes["root"].name == "lambda x: x"  # its source
    assert RunnableParallel(k=lambda x: x).get_graph().nodes["root/k"].name == "k"  # its key


def test_wide_fan_outs_are_summarised() -> None:
    wide = RunnableParallel({f"q{i}": fetch for i in range(1000)})
    graph = (wide | len).get_graph()
    summary = graph.nodes["root/0/*"]
    assert summary == GraphNode("root/0/*", "fetch", "leaf", count=1000, leaf=True)
    assert summary.label == "fetch ×1000"
    assert len(graph.nodes) == 6  # input, fork, summary, join, len, output
    assert graph.resolve("root/0/q17") == "root/0/*"
    assert graph.resolve("root/0/q17/returned/0") == "root/0/*"
    assert graph.resolve("root/0") == "root/0"
    full = build_graph(wide, summarize_over=1000)
    assert len(full.leaf_ids()) == 1000
    assert (wide.get_graph(summarize_over=5)).nodes["root/*"].count == 1000
    mixed = build_graph(RunnableParallel(a=fetch, b=len, c=str), summarize_over=2)
    assert mixed.nodes["root/*"].name == "branch"
    assert mixed.nodes["root/*"].count == 3


def test_long_names_are_shortened_in_labels() -> None:
    wide = RunnableParallel({f"question_number_{i}": fetch for i in range(6)})
    assert len(wide.get_name()) > 40
    label = wide.get_graph().nodes["root"].label
    assert len(label) <= 40
    assert label.startswith("RunnableParallel<question_number_0")
    assert label[-2:] == "…>"


def test_ids_not_in_the_static_graph_resolve_to_their_nearest_ancestor() -> None:
    graph = (RunnableLambda(fetch) | {"a": summarize}).get_graph()
    assert graph.resolve("root/0/returned") == "root/0"
    assert graph.resolve("root/0/returned/1/x") == "root/0"
    assert graph.resolve("root/1/a/call:lambda") == "root/1/a"
    assert graph.resolve("elsewhere") is None


@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_every_span_maps_to_a_node(driver: str) -> None:
    def route(x: Any) -> Any:
        return RunnableLambda(fetch) | summarize

    def caller(x: Any) -> Any:
        return RunnableLambda(summarize).invoke(x)

    chain = (
        RunnableLambda(lambda x: [x, x])
        | RunnableParallel(
            m=RunnableLambda(fetch).map(),
            r=route,
            c=caller,
            w=RunnableParallel({f"k{i}": str for i in range(20)}),
        )
        | RunnablePassthrough.assign(n=len)
    )
    with record() as rec:
        if driver == "invoke":
            chain.invoke(1)
        else:
            asyncio.run(chain.ainvoke(1))
    graph = chain.get_graph()
    for span in rec.spans:
        target = graph.resolve(span.node_id)
        if span.kind == "sequence":
            assert target is None or span.node_id.startswith("root/1/r/returned")
        else:
            assert target in graph.nodes, span.node_id
        if span.node_id in graph.nodes:  # node ids are the spans' node ids
            assert target == span.node_id
    assert graph.resolve("root/1/w/k7") == "root/1/w/*"


def test_a_summary_of_long_sequences_names_their_first_and_last_steps() -> None:
    def prompt(x: Any) -> Any:
        return x

    def model(x: Any) -> Any:
        return x

    def parse(x: Any) -> Any:
        return x

    def count(x: Any) -> Any:
        return x

    steps = RunnableLambda(prompt) | model | parse | count
    graph = RunnableParallel({f"q{i}": steps for i in range(20)}).get_graph()
    assert graph.nodes["root/*"].label == "prompt | … | count ×20"
    mixed = RunnableParallel(
        {f"q{i}": (RunnableLambda(prompt) | model) if i % 2 else parse for i in range(20)}
    ).get_graph()
    assert mixed.nodes["root/*"].label == "branch ×20"  # different work: named generically
