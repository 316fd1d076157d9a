"""The graph of every kind of runnable, and where every span of a real run is drawn."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from chainlab import (
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    record,
)
from chainlab.viz import Graph
from chainlab.viz.graph import INPUT_ID, OUTPUT_ID


def f(x: Any) -> Any:
    return x


def g(x: Any) -> Any:
    return x


def h(x: Any) -> Any:
    return x


def shape(graph: Graph) -> list[tuple[str, str, str]]:
    """Every node between input and output as (id, name, kind)."""
    return [(n.id, n.name, n.kind) for n in graph.nodes.values()][1:-1]


def edges(graph: Graph) -> set[tuple[str, str, str, bool]]:
    return {(e.source, e.target, e.label, e.dashed) for e in graph.edges}


def test_every_graph_starts_at_input_and_ends_at_output() -> None:
    for runnable in (RunnableLambda(f), RunnableLambda(f) | g, RunnableParallel(a=f)):
        graph = runnable.get_graph()
        assert next(iter(graph.nodes)) == INPUT_ID == graph.first_node.id
        assert list(graph.nodes)[-1] == OUTPUT_ID == graph.last_node.id
        assert sum(e.source == INPUT_ID for e in graph.edges) == 1
        assert sum(e.target == OUTPUT_ID for e in graph.edges) == 1
        assert all(e.source in graph.nodes and e.target in graph.nodes for e in graph.edges)


def test_sequence_inside_a_parallel_inside_a_map() -> None:
    body = RunnableParallel(x=f, y=RunnableLambda(g) | h)
    graph = body.map().get_graph()
    assert shape(graph) == [
        ("root", "map: RunnableParallel<x,y>", "map"),
        ("root/*", "RunnableParallel<x,y>", "parallel"),
        ("root/*/x", "f", "leaf"),
        ("root/*/y/0", "g", "leaf"),
        ("root/*/y/1", "h", "leaf"),
        ("root/*/__join__", "join", "join"),
        ("root/__join__", "join", "join"),
    ]
    assert edges(graph) == {
        (INPUT_ID, "root", "", False),
        ("root", "root/*", "each item", False),
        ("root/*", "root/*/x", "x", False),
        ("root/*", "root/*/y/0", "y", False),
        ("root/*/y/0", "root/*/y/1", "", False),
        ("root/*/x", "root/*/__join__", "", False),
        ("root/*/y/1", "root/*/__join__", "", False),
        ("root/*/__join__", "root/__join__", "", False),
        ("root/__join__", OUTPUT_ID, "", False),
    }


def test_assign_then_pick() -> None:
    graph = (RunnablePassthrough.assign(n=len) | RunnablePick(["n"])).get_graph()
    assert shape(graph) == [
        ("root/0", "assign<n>", "assign"),
        ("root/0/n", "len", "leaf"),
        ("root/0/__join__", "join", "join"),
        ("root/1", "pick<n>", "passthrough"),
    ]
    assert ("root/0", "root/0/__join__", "passthrough", True) in edges(graph)
    assert ("root/0/__join__", "root/1", "", False) in edges(graph)
    assert graph.leaf_ids() == ["root/0/n"]  # pick and passthrough are not work


def test_passthrough_is_a_node_but_a_passthrough_with_a_function_is_work() -> None:
    plain = RunnableParallel(orig=RunnablePassthrough(), n=len).get_graph()
    assert plain.nodes["root/orig"].kind == "passthrough"
    assert not plain.nodes["root/orig"].leaf
    side = RunnablePassthrough(print).get_graph()
    assert side.nodes["root"].kind == "leaf"
    assert side.nodes["root"].leaf


def test_fallbacks_of_a_sequence_keep_the_sequence_steps() -> None:
    graph = (RunnableLambda(f) | g).with_fallbacks([RunnableLambda(h)]).get_graph()
    assert shape(graph) == [
        ("root", "with fallbacks: f | g", "fallbacks"),
        ("root/0/0", "f", "leaf"),
        ("root/0/1", "g", "leaf"),
        ("root/1", "h", "leaf"),
        ("root/__join__", "join", "join"),
    ]
    assert ("root", "root/0/0", "try", False) in edges(graph)
    assert ("root", "root/1", "fallback 1", True) in edges(graph)
    assert graph.resolve("root/0") is None  # the primary sequence itself is not drawn


@pytest.mark.parametrize(
    "wrap",
    [
        lambda r: r.with_retry(),
        lambda r: r.with_timeout(5),
        lambda r: r.with_config(tags=["t"]),
        lambda r: r.with_retry().with_timeout(5).with_config(max_concurrency=2),
    ],
    ids=["retry", "timeout", "config", "all three"],
)
def test_retry_timeout_and_config_are_transparent(wrap: Any) -> None:
    inner = RunnableLambda(f) | RunnableParallel(a=g, b=h)
    plain, wrapped = inner.get_graph(), wrap(inner).get_graph()
    assert shape(wrapped) == shape(plain)
    assert edges(wrapped) == edges(plain)
    assert wrapped.display == plain.display


def test_with_config_run_name_renames_the_node_it_wraps() -> None:
    graph = (RunnableLambda(f) | RunnableParallel(a=g).with_config(run_name="fan")).get_graph()
    assert graph.nodes["root/1"].name == "fan"
    assert graph.nodes["root/1"].kind == "parallel"
    assert graph.nodes["root/1/a"].name == "g"


def test_a_function_returning_a_runnable_is_one_leaf_until_it_runs() -> None:
    def route(x: Any) -> Any:
        return RunnableLambda(f) | g

    graph = RunnableLambda(route).get_graph()
    assert shape(graph) == [("root", "route", "leaf")]
    assert graph.resolve("root/returned") == "root"
    assert graph.resolve("root/returned/1") == "root"


def test_nested_dicts_are_coerced_into_nested_parallels() -> None:
    graph = (RunnableLambda(f) | {"a": {"x": f, "y": {"deep": g}}, "b": h}).get_graph()
    kinds = {n.id: n.kind for n in graph.nodes.values()}
    assert kinds["root/1"] == kinds["root/1/a"] == kinds["root/1/a/y"] == "parallel"
    assert kinds["root/1/a/y/deep"] == "leaf"
    assert ("root/1/a/y", "root/1/a/y/deep", "deep", False) in edges(graph)
    joins = [n for n in graph.nodes if n.endswith("/__join__")]
    assert joins == ["root/1/a/y/__join__", "root/1/a/__join__", "root/1/__join__"]


def test_every_node_but_input_is_reachable_and_every_fork_has_its_join() -> None:
    chain = RunnableLambda(f) | {
        "m": RunnableLambda(g).map(),
        "fb": RunnableLambda(f).with_fallbacks([RunnableLambda(g), RunnableLambda(h)]),
        "as": RunnablePassthrough.assign(k=len),
    }
    graph = chain.get_graph()
    targets = {e.target for e in graph.edges}
    assert set(graph.nodes) - targets == {INPUT_ID}
    for node in graph.nodes.values():
        if node.kind in ("parallel", "map", "assign", "fallbacks"):
            assert node.id + "/__join__" in graph.nodes
    fallback_edges = [e for e in graph.edges if e.source == "root/1/fb"]
    assert [(e.label, e.dashed) for e in fallback_edges] == [
        ("try", False),
        ("fallback 1", True),
        ("fallback 2", True),
    ]


# -- where the spans of a real run are drawn ---------------------------------------------


def everything() -> Any:
    attempts = iter(range(100))
    lock = threading.Lock()

    def to_list(x: Any) -> list[Any]:
        return [x, x]

    def route(x: Any) -> Any:
        return RunnableLambda(f) | g

    def caller(x: Any) -> Any:
        return RunnableLambda(g).invoke(x)

    def bad(x: Any) -> Any:
        raise ValueError("x")

    def flaky(x: Any) -> Any:
        with lock:
            if next(attempts) == 0:
                raise ValueError("again")
        return x

    return (
        RunnableLambda(to_list)
        | RunnableParallel(
            m=(RunnableLambda(f) | {"p": g, "q": h}).map(),
            w=RunnableParallel({f"k{i}": RunnableLambda(f) | g for i in range(15)}),
            r=route,
            c=caller,
            fb=RunnableLambda(bad).with_fallbacks([RunnableLambda(h)]),
            rt=RunnableLambda(flaky).with_retry(wait_exponential_jitter=False),
        )
        | RunnablePassthrough.assign(n=len)
        | RunnablePick("n")
    )


@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_every_span_id_of_a_real_run_resolves_to_the_node_that_draws_it(driver: str) -> None:
    chain = everything()
    with record() as rec:
        out = chain.invoke(1) if driver == "invoke" else asyncio.run(chain.ainvoke(1))
    assert out == 6
    graph = chain.get_graph()
    expected: dict[str, str | None] = {
        "root": None,  # the outer sequence is not drawn
        "root/0": "root/0",
        "root/1": "root/1",
        "root/1/m": "root/1/m",
        "root/1/m/*": None,  # each item's sequence
        "root/1/m/*/0": "root/1/m/*/0",
        "root/1/m/*/1": "root/1/m/*/1",
        "root/1/m/*/1/p": "root/1/m/*/1/p",
        "root/1/m/*/1/q": "root/1/m/*/1/q",
        "root/1/w": "root/1/w",
        "root/1/r": "root/1/r",
        "root/1/r/returned": "root/1/r",
        "root/1/r/returned/0": "root/1/r",
        "root/1/r/returned/1": "root/1/r",
        "root/1/c": "root/1/c",
        "root/1/c/call:g": "root/1/c",
        "root/1/fb": "root/1/fb",
        "root/1/fb/0": "root/1/fb/0",
        "root/1/fb/1": "root/1/fb/1",
        "root/1/rt": "root/1/rt",
        "root/2": "root/2",
        "root/2/n": "root/2/n",
        "root/3": "root/3",
    }
    for i in range(15):  # 15 branches > 12: one summary node shows them all
        branch = f"root/1/w/k{i}"
        expected |= dict.fromkeys([branch, f"{branch}/0", f"{branch}/1"], "root/1/w/*")
    seen = {s.node_id for s in rec.spans}
    assert seen == set(expected)
    assert {node_id: graph.resolve(node_id) for node_id in seen} == expected
    retried = [s for s in rec.spans if s.node_id == "root/1/rt"]
    assert [s.attempt for s in retried] == [1, 2]  # both attempts on the same node
    items = [s for s in rec.spans if s.node_id == "root/1/m/*/1/p"]
    assert len(items) == 2  # both map items on the body's one node
    summary = graph.nodes["root/1/w/*"]
    assert (summary.count, summary.label) == (15, "f | g ×15")  # what each branch does
