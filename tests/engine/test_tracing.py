"""The tracer hook: one start and one end event per node execution, with the fields
the views need; a broken listener never breaks the run."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough, Span
from tests.conftest import Driver


class Collector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[Span] = []
        self.ended: list[Span] = []

    def on_start(self, span: Span) -> None:
        with self.lock:
            self.started.append(span)

    def on_end(self, span: Span) -> None:
        with self.lock:
            self.ended.append(span)

    def by_node(self) -> dict[str, Span]:
        return {s.node_id: s for s in self.ended}


def double(x: int) -> int:
    return x * 2


def test_every_node_starts_and_ends_once(drive: Driver) -> None:
    col = Collector()
    chain = {"a": double, "b": RunnablePassthrough()} | RunnableLambda(lambda d: d["a"] + d["b"])
    assert drive(chain, 1, {"callbacks": [col]}) == 3
    assert len(col.started) == len(col.ended) == 5  # sequence, parallel, a, b, lambda
    assert {s.run_id for s in col.started} == {s.run_id for s in col.ended}
    assert all(
        s.status == "ok" and s.end_ns is not None and s.end_ns >= s.start_ns for s in col.ended
    )


def test_node_ids_paths_and_parents() -> None:
    col = Collector()
    chain = RunnableParallel(joke=RunnableLambda(double, name="model"), poem=double) | (lambda d: d)
    chain.invoke(1, {"callbacks": [col]})
    nodes = col.by_node()
    assert set(nodes) == {"root", "root/0", "root/0/joke", "root/0/poem", "root/1"}
    joke = nodes["root/0/joke"]
    assert joke.path == "RunnableSequence/RunnableParallel<joke,poem>/joke"
    assert joke.name == "model"
    assert joke.kind == "leaf"
    assert nodes["root/0"].kind == "parallel"
    assert joke.parent_id == nodes["root/0"].run_id
    assert nodes["root/0"].parent_id == nodes["root"].run_id
    assert nodes["root"].parent_id is None


def test_map_items_share_a_node_id_and_differ_in_path(drive: Driver) -> None:
    col = Collector()
    drive(RunnableLambda(double).map(), [1, 2, 3], {"callbacks": [col]})
    items = [s for s in col.ended if s.kind == "leaf"]
    assert {s.node_id for s in items} == {"root/*"}
    assert sorted(s.path for s in items) == ["map<double>/0", "map<double>/1", "map<double>/2"]


def test_lanes_are_threads_under_invoke_and_tasks_under_ainvoke() -> None:
    col = Collector()

    def slow(x: int) -> int:
        time.sleep(0.02)
        return x

    RunnableParallel(a=slow, b=slow).invoke(1, {"callbacks": [col]})
    assert {s.lane for s in col.ended if s.kind == "leaf"} <= {
        t.name for t in threading.enumerate()
    } | {"MainThread"}

    async def aslow(x: int) -> int:
        await asyncio.sleep(0.01)
        return x

    col2 = Collector()
    asyncio.run(RunnableParallel(a=aslow, b=aslow).ainvoke(1, {"callbacks": [col2]}))
    lanes = {s.lane for s in col2.ended if s.kind == "leaf"}
    assert len(lanes) == 2
    assert all(lane.startswith("Task-") for lane in lanes)


def test_failed_and_cancelled_statuses() -> None:
    col = Collector()

    def bad(x: int) -> int:
        raise ValueError("x")

    def later(x: int) -> int:
        return x

    chain = RunnableParallel(bad=bad, **{f"l{i}": later for i in range(5)})
    with pytest.raises(ValueError):
        chain.invoke(1, {"callbacks": [col], "max_concurrency": 1})
    time.sleep(0.05)
    statuses = {s.node_id: s.status for s in col.ended}
    assert statuses["root/bad"] == "error"
    assert statuses["root"] == "error"
    assert {statuses[f"root/l{i}"] for i in range(5)} == {"cancelled"}
    assert col.by_node()["root/bad"].error.args == ("x",)


def test_retries_are_visible_as_attempts() -> None:
    col = Collector()
    calls = [0]

    def flaky(x: int) -> int:
        calls[0] += 1
        if calls[0] < 3:
            raise ConnectionError
        return x

    RunnableLambda(flaky).with_retry(wait_exponential_jitter=False).invoke(1, {"callbacks": [col]})
    assert [(s.node_id, s.attempt, s.status) for s in col.ended] == [
        ("root", 1, "error"),
        ("root", 2, "error"),
        ("root", 3, "ok"),
    ]


def test_global_listener_sees_every_run_inside_the_block() -> None:
    col = Collector()
    with chainlab.listen(col):
        RunnableLambda(double).invoke(1)
        RunnableLambda(double).batch([1, 2])
    RunnableLambda(double).invoke(1)  # outside: not seen
    assert len(col.ended) == 3


def test_previews_are_short() -> None:
    col = Collector()
    RunnableLambda(lambda x: x).invoke("y" * 10_000, {"callbacks": [col]})
    span = col.ended[0]
    assert len(span.input_preview) < 100
    assert len(span.output_preview) < 100


def test_a_crashing_listener_is_detached_and_the_run_goes_on() -> None:
    class Broken:
        def on_start(self, span: Span) -> None:
            raise RuntimeError("widget exploded")

        def on_end(self, span: Span) -> None:
            raise RuntimeError("widget exploded")

    col = Collector()
    with pytest.warns(RuntimeWarning, match="widget exploded"):
        out = RunnableParallel(a=double, b=double).invoke(1, {"callbacks": [Broken(), col]})
    assert out == {"a": 2, "b": 2}
    assert len(col.ended) == 3


def test_nested_call_from_user_code_joins_the_trace(drive: Driver) -> None:
    col = Collector()
    inner = RunnableLambda(double, name="inner")

    def outer(x: int) -> int:
        return inner.invoke(x) + 1

    assert drive(RunnableLambda(outer), 1, {"callbacks": [col]}) == 3
    nodes = col.by_node()
    assert nodes["root/call:inner"].parent_id == nodes["root"].run_id


def test_no_listener_means_no_spans() -> None:
    created: list[Any] = []
    original = chainlab.engine.tracing.Span.__init__

    def spy(self: Span, **kw: Any) -> None:
        created.append(kw)
        original(self, **kw)

    chainlab.engine.tracing.Span.__init__ = spy  # type: ignore[method-assign]
    try:
        RunnableParallel(a=double, b=double).invoke(1)
    finally:
        chainlab.engine.tracing.Span.__init__ = original  # type: ignore[method-assign]
    assert created == []


def test_waiting_for_a_slot_is_not_counted_as_work(drive: Driver) -> None:
    """Under max_concurrency=1 the leaves' spans are back to back, not overlapping:
    a span starts when its leaf holds a slot, not when it starts waiting for one."""
    col = Collector()

    async def nap(x: int) -> int:
        await asyncio.sleep(0.03)
        return x

    par = RunnableParallel(a=nap, b=nap, c=RunnableLambda(lambda x: time.sleep(0.03) or x))
    drive(par, 1, {"callbacks": [col], "max_concurrency": 1})
    leaves = sorted((s for s in col.ended if s.kind == "leaf"), key=lambda s: s.start_ns)
    assert len(leaves) == 3
    for earlier, later in itertools.pairwise(leaves):
        assert earlier.end_ns is not None
        assert later.start_ns >= earlier.end_ns  # never two at once, even in the record


def test_sync_leaves_under_ainvoke_are_laned_by_their_pool_thread() -> None:
    col = Collector()
    asyncio.run(RunnableParallel(a=double, b=double).ainvoke(1, {"callbacks": [col]}))
    lanes = {s.lane for s in col.ended if s.kind == "leaf"}
    assert all(lane.startswith("chainlab-") for lane in lanes), lanes


def test_waiting_for_a_pool_thread_is_not_counted_as_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ainvoke a sync leaf's span covers its run on its pool thread, not its wait
    for one: with one thread (a busy machine, where one thread takes its next call
    before an idle one wakes up) the bars on that thread's lane are back to back."""
    from chainlab.engine import pool

    monkeypatch.setattr(pool, "_pool", pool.ElasticPool(max_threads=1))
    col = Collector()
    nap = RunnableLambda(lambda x: time.sleep(0.02) or x)
    asyncio.run(RunnableParallel(a=nap, b=nap, c=nap).ainvoke(1, {"callbacks": [col]}))
    leaves = sorted((s for s in col.ended if s.kind == "leaf"), key=lambda s: s.start_ns)
    assert len(leaves) == 3
    assert len({s.lane for s in leaves}) == 1  # the one thread ran all three
    for earlier, later in itertools.pairwise(leaves):
        assert earlier.end_ns is not None
        assert later.start_ns >= earlier.end_ns  # one thread, one call at a time


def test_a_listener_both_global_and_in_the_config_hears_each_span_once() -> None:
    col = Collector()
    with chainlab.listen(col):
        RunnableParallel(a=double, b=double).invoke(1, {"callbacks": [col]})
    assert len(col.ended) == 3


def test_one_listener_may_be_passed_without_a_list(drive: Driver) -> None:
    """``config={"callbacks": rec}``: an empty Recording is falsy, but still a listener."""
    from chainlab import Recording

    rec = Recording()
    drive(RunnableParallel(a=str, b=repr), 1, {"callbacks": rec})
    parallel = "RunnableParallel<a,b>"
    assert sorted(s.path for s in rec.spans) == [parallel, f"{parallel}/a", f"{parallel}/b"]
