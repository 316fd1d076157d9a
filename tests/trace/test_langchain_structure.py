"""LangChain chains walked as chainlab's: the graph, the bridge's node ids, conversion.

Real langchain_core objects throughout. The key property: every span the LangChain
bridge reports for a run has the node id of the node that draws it in chainlab's graph
of the chain (so a live view lights up the right node), for every structure LCEL has.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import chainlab

lc = pytest.importorskip("langchain_core.runnables")

from chainlab.trace.lcchain import LangChainChain, as_langchain_chain  # noqa: E402
from chainlab.trace.lcconvert import to_chainlab  # noqa: E402
from chainlab.trace.lcstructure import is_langchain_runnable, kinds_of, shape  # noqa: E402
from chainlab.viz.langchain import langchain_graph  # noqa: E402


def nap(name: str, seconds: float = 0.0) -> Any:
    def work(x: Any) -> Any:
        time.sleep(seconds)
        return x

    work.__name__ = name
    return lc.RunnableLambda(work)


def fails_once() -> Any:
    calls = {"n": 0}

    def flaky(x: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("first try fails")
        return x

    return lc.RunnableLambda(flaky)


def every_shape() -> Any:
    """A parallel, an assign, a pick, a .map(), fallbacks, a retry, bindings, nesting."""
    inner = lc.RunnableParallel(x=nap("x"), y=nap("y") | nap("y2"))
    return (
        lc.RunnableParallel(a=nap("a"), b=nap("b1") | nap("b2"), nested=inner)
        | lc.RunnablePassthrough.assign(extra=nap("extra"))
        | lc.RunnablePick(["a", "extra"])
        | nap("split").with_config(run_name="split")
        | lc.RunnableLambda(lambda d: [1, 2, 3])
        | nap("item").map()
        | lc.RunnableLambda(lambda xs: 1 / 0).with_fallbacks([nap("rescue")])
        | fails_once().with_retry(stop_after_attempt=2, wait_exponential_jitter=False)
        | nap("bound").bind()
    )


def test_the_graph_keeps_branch_keys_and_every_structure() -> None:
    chain = every_shape()
    graph = langchain_graph(chain)
    labels = {(e.source, e.target): e.label for e in graph.edges if e.label}
    assert labels[("root/0", "root/0/a")] == "a"
    assert labels[("root/0", "root/0/nested")] == "nested"
    assert labels[("root/0/nested", "root/0/nested/x")] == "x"
    assert labels[("root/1", "root/1/extra")] == "extra"
    assert labels[("root/1", "root/1/__join__")] == "passthrough"
    assert labels[("root/5", "root/5/*")] == "each item"
    assert labels[("root/6", "root/6/0")] == "try"
    assert labels[("root/6", "root/6/1")] == "fallback 1"
    kinds = {i: n.kind for i, n in graph.nodes.items()}
    assert kinds["root/2"] == "passthrough"  # the pick
    assert kinds["root/5"] == "map"
    assert kinds["root/6"] == "fallbacks"
    assert graph.nodes["root/7"].name == "flaky"  # a retry draws as what it retries
    assert graph.nodes["root/8"].name == "bound"  # a binding too
    assert graph.notes == []
    # LangChain's own graph has no branch keys at all: why chainlab walks instead
    assert not any(e.data for e in chain.get_graph().edges)


def test_every_span_lands_on_the_node_that_draws_it() -> None:
    chain = every_shape()
    graph = langchain_graph(chain)
    rec = chainlab.Recording("lc")
    out = LangChainChain(chain).invoke({"q": 1}, {"callbacks": [rec]})
    assert out == [1, 2, 3]
    leaves = {s.node_id for s in rec.leaf_spans}
    for span in rec.spans:
        drawn = graph.resolve(span.node_id)
        if span.kind == "sequence":
            assert drawn is None, span.node_id
        else:
            assert drawn in graph.nodes, (span.node_id, span.path)
    assert {"root/0/a", "root/0/b/0", "root/0/b/1", "root/0/nested/y/1", "root/1/extra"} <= leaves
    items = [s for s in rec.leaf_spans if s.node_id == "root/5/*"]
    assert len(items) == 3  # one node, 3 items
    assert len({s.path for s in items}) == 3
    tries = sorted((s.node_id, s.status) for s in rec.spans if s.node_id.startswith("root/6/"))
    assert tries == [("root/6/0", "error"), ("root/6/1", "ok")]
    attempts = [s for s in rec.leaf_spans if graph.resolve(s.node_id) == "root/7"]
    assert [s.status for s in attempts] == ["error", "ok"]  # both tries, on the retry's node


def test_node_ids_come_from_names_too_without_the_walked_structure() -> None:
    """Inside ``chainlab.record()`` (no graph at hand) the ids are the same."""
    chain = lc.RunnableParallel(a=nap("a"), b=nap("b").map())
    with chainlab.record() as rec:
        chain.invoke([1, 2])
    assert sorted(s.node_id for s in rec.leaf_spans) == ["root/a", "root/b/*", "root/b/*"]


def test_a_batch_keeps_each_items_path() -> None:
    rec = chainlab.Recording("batch")
    chain = LangChainChain(lc.RunnableParallel(a=nap("a")))
    assert chain.batch([1, 2, 3], {"callbacks": [rec]}) == [{"a": 1}, {"a": 2}, {"a": 3}]
    roots = sorted(s.path for s in rec.spans if s.parent_id is None)
    assert roots == [f"RunnableParallel<a>[{i}]" for i in range(3)]


def test_async_runs_report_their_tasks_as_lanes() -> None:
    async def asleep(x: Any) -> Any:
        await asyncio.sleep(0.05)
        return x

    chain = lc.RunnableParallel(**{k: lc.RunnableLambda(asleep) for k in "abc"})
    rec = chainlab.Recording("async")
    asyncio.run(LangChainChain(chain).ainvoke(1, {"callbacks": [rec]}))
    assert len(rec.leaf_spans) == 3
    assert len({s.lane for s in rec.leaf_spans}) == 3  # three asyncio tasks
    assert rec.lanes_used == 3


def test_a_custom_runnable_is_one_labelled_node_with_a_note() -> None:
    class Mine(lc.Runnable):  # type: ignore[misc]
        def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
            return input

    graph = langchain_graph(lc.RunnableParallel(mine=Mine(), a=nap("a")))
    assert graph.nodes["root/mine"].label == "Mine (custom)"
    assert graph.nodes["root/mine"].leaf
    assert graph.notes == [
        "Mine is a custom Runnable: drawn as one node (runs inside it show on it)"
    ]
    assert shape(nap("a")).note == ""  # LangChain's own leaves need no note


def test_a_runnable_that_breaks_when_looked_at_is_still_one_node() -> None:
    class Broken(lc.Runnable):  # type: ignore[misc]
        def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
            return input

        def get_name(self, *args: Any, **kwargs: Any) -> str:
            raise RuntimeError("no name")

    s = shape(Broken())
    assert (s.kind, s.name) == ("leaf", "Broken")
    assert "cannot look inside" in s.note
    graph = langchain_graph(lc.RunnableParallel(b=Broken()))
    assert graph.nodes["root/b"].label == "Broken (custom)"


def test_to_chainlab_rebuilds_the_same_graph_and_gives_the_same_output() -> None:
    chain = every_shape()
    native = to_chainlab(chain)
    assert isinstance(native, chainlab.Runnable)
    assert native.invoke({"q": 1}) == [1, 2, 3]
    lc_graph, cl_graph = langchain_graph(chain), native.get_graph()
    assert [e.label for e in lc_graph.edges] == [e.label for e in cl_graph.edges]
    assert list(lc_graph.nodes)[:12] == list(cl_graph.nodes)[:12]
    assert set(lc_graph.nodes) == set(cl_graph.nodes)


def test_compare_engines_puts_both_engines_on_one_axis() -> None:
    chain = lc.RunnableParallel(**{k: nap(k, 0.1) for k in "abc"})
    both = chainlab.compare(chain, 1, engines=("langchain_core", "chainlab"))
    assert both.outputs == {
        "langchain_core": dict.fromkeys("abc", 1),
        "chainlab": dict.fromkeys("abc", 1),
    }
    for rec in both.recordings.values():
        assert len(rec.leaf_spans) == 3
        assert rec.lanes_used == 3
    assert "langchain_core" in "\n".join(both.summary_lines())
    fig = both.plot()
    assert len(fig.axes) == 2
    assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[1])


def test_compare_engines_says_what_is_wrong() -> None:
    with pytest.raises(TypeError, match="langchain_core chain"):
        chainlab.compare(chainlab.RunnableLambda(str), 1, engines=("chainlab",))
    with pytest.raises(ValueError, match="engines must be taken from"):
        chainlab.compare(nap("a"), 1, engines=("dask",))


def test_detection_never_imports_and_wraps_only_langchain() -> None:
    assert is_langchain_runnable(nap("a"))
    assert not is_langchain_runnable(chainlab.RunnableLambda(str))
    assert as_langchain_chain(chainlab.RunnableLambda(str)) is None
    wrapped = as_langchain_chain(nap("a"))
    assert wrapped is not None
    assert as_langchain_chain(wrapped) is wrapped
    assert kinds_of(nap("a").with_retry()) == {"root": "retry:leaf"}


def test_previews_of_langchain_values_are_their_text() -> None:
    """A message's pydantic repr takes a millisecond: the bridge previews its text."""
    from chainlab.sim.langchain import ChatPromptTemplate, FakeChatModel, StrOutputParser

    chain = ChatPromptTemplate.from_template("a joke about {t}") | FakeChatModel("m", latency=0)
    rec = chainlab.Recording("previews")
    LangChainChain(chain | StrOutputParser()).invoke({"t": "cats"}, {"callbacks": [rec]})
    by_name = {s.name: s for s in rec.leaf_spans}
    assert by_name["ChatPromptTemplate"].output_preview == "'Human: a joke about cats'"
    assert by_name["m"].input_preview == "[['human: a joke about cats']]"
    assert by_name["m"].output_preview == "'[m] answer about cats'"
