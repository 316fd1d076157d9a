"""Runs and frames: joining a run (context variable or explicit config), node ids and
paths for nested calls and returned runnables, recursion depth, windows of nested
limits, and leaves that wait on nested work lending their slot."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest

from chainlab import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough
from chainlab.engine.run import current_frame
from tests.conftest import Driver
from tests.engine.helpers import Gauge, Recorder
from tests.engine.test_tracing import Collector


def double(x: int) -> int:
    return 2 * x


def inc(x: int) -> int:
    return x + 1


def static_ids(runnable: Runnable[Any, Any], node_id: str = "root") -> set[str]:
    """Every node id the documented rule gives a static tree (``_children`` segments)."""
    ids = {node_id}
    for segment, _, child in runnable._children():
        ids |= static_ids(child, f"{node_id}/{segment}")
    return ids


# -- joining a run -------------------------------------------------------------------------


def test_a_raw_thread_joins_the_run_only_through_the_config_it_was_given(drive: Driver) -> None:
    col = Collector()
    inner = RunnableLambda(double, name="inner")

    def outer(x: int, config: dict[str, Any]) -> int:
        out: dict[str, int] = {}

        def work() -> None:  # a plain thread: the run's context variable is not set here
            out["joined"] = inner.invoke(x, config)
            out["alone"] = inner.invoke(x + 1)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(5)
        return out["joined"] * 100 + out["alone"]

    assert drive(RunnableLambda(outer, name="outer"), 1, {"callbacks": [col]}) == 204
    nodes = col.by_node()
    assert set(nodes) == {"root", "root/call:inner"}  # the lone call is a run of its own
    joined = nodes["root/call:inner"]
    assert joined.parent_id == nodes["root"].run_id
    assert joined.path == "outer/inner"


def test_an_async_call_joins_through_its_config_even_from_an_empty_context() -> None:
    col = Collector()
    inner = RunnableLambda(double, name="inner")

    async def outer(x: int, config: dict[str, Any]) -> int:
        fresh = contextvars.Context()  # no chainlab frame in here
        joined = asyncio.get_running_loop().create_task(inner.ainvoke(x, config), context=fresh)
        alone = asyncio.get_running_loop().create_task(inner.ainvoke(x), context=fresh)
        return await joined + await alone

    assert asyncio.run(RunnableLambda(outer).ainvoke(3, {"callbacks": [col]})) == 12
    assert sorted(col.by_node()) == ["root", "root/call:inner"]


def test_a_joined_call_inherits_the_run_config_and_adds_new_keys() -> None:
    seen = Recorder()

    def inner_fn(x: int, config: dict[str, Any]) -> int:
        seen.add((config.get("tags"), config.get("configurable"), config.get("metadata")))
        return x

    inner = RunnableLambda(inner_fn)

    def outer(x: int, config: dict[str, Any]) -> int:
        return inner.invoke(x, {**config, "configurable": {"model": "small"}})

    RunnableLambda(outer).invoke(1, {"tags": ["lesson"], "metadata": {"who": "me"}})
    assert seen.snapshot() == [(["lesson"], {"model": "small"}, {"who": "me"})]


@pytest.mark.parametrize("how", ["invoke", "batch", "ainvoke"])
def test_a_joined_call_honours_its_own_max_concurrency(how: str, virtual: Any) -> None:
    """A step that calls ``model.batch(prompts, {"max_concurrency": 2})`` must not
    flood the service: the joined call's limit bounds its subtree."""
    gauge = Gauge()
    inner = RunnableParallel({f"k{i}": gauge.sleeper(0.02) for i in range(6)})

    def outer(x: int, config: dict[str, Any]) -> Any:
        limited = {**config, "max_concurrency": 2}
        if how == "batch":
            return inner.batch([x] * 3, limited)
        if how == "ainvoke":
            return asyncio.run(inner.ainvoke(x, limited))
        return inner.invoke(x, limited)

    RunnableLambda(outer).invoke(1)
    assert gauge.calls == (18 if how == "batch" else 6)
    assert gauge.peak == 2


def test_a_joined_call_with_a_bad_limit_is_refused() -> None:
    def outer(x: int, config: dict[str, Any]) -> Any:
        return RunnableLambda(str).invoke(x, {**config, "max_concurrency": 0})

    with pytest.raises(ValueError, match="max_concurrency must be a positive int"):
        RunnableLambda(outer).invoke(1)


def test_a_config_kept_after_its_leaf_returned_starts_a_run_of_its_own() -> None:
    from chainlab import record

    kept: list[dict[str, Any]] = []

    def keep(x: str, config: dict[str, Any]) -> str:
        kept.append(config)
        if x == "fail":
            raise ValueError("boom")
        return x

    with pytest.raises(ValueError):
        RunnableLambda(keep).invoke("fail")  # its run is cancelled by the failure
    assert RunnableLambda(str.upper).invoke("hi", kept[-1]) == "HI"  # not "not started"
    RunnableLambda(keep).invoke("ok")
    with record() as rec:
        RunnableLambda(str.upper).invoke("hi", kept[-1])
    assert [(s.path, s.parent_id) for s in rec.spans] == [("upper", None)]  # a new run


def test_passing_the_config_on_unchanged_adds_no_tag_twice() -> None:
    seen = Recorder()

    def inner_fn(x: int, config: dict[str, Any]) -> int:
        seen.add(config.get("tags"))
        return x

    def outer(x: int, config: dict[str, Any]) -> int:
        return RunnableLambda(inner_fn).invoke(x, {**config, "tags": [*config["tags"], "b"]})

    RunnableLambda(outer).invoke(1, {"tags": ["a"]})
    assert seen.snapshot() == [["a", "b"]]


# -- node ids and paths --------------------------------------------------------------------


def test_ids_and_paths_of_returned_runnables_and_nested_calls(drive: Driver) -> None:
    col = Collector()
    leaf = RunnableLambda(double, name="leaf")

    def caller(x: int) -> int:
        return leaf.invoke(x) + 1

    def deep(x: int) -> Runnable[int, int]:
        return RunnableLambda(inc, name="inc")

    def route(x: int) -> Runnable[int, Any]:
        return RunnableParallel(a=RunnableLambda(caller, name="caller"), b=RunnableLambda(deep))

    out = drive(RunnableLambda(route, name="router"), 5, {"callbacks": [col]})
    assert out == {"a": 11, "b": 6}
    by_id = {s.node_id: s.path for s in col.ended}
    assert by_id == {
        "root": "router",
        "root/returned": "router/RunnableParallel<a,b>",
        "root/returned/a": "router/RunnableParallel<a,b>/a",
        "root/returned/a/call:leaf": "router/RunnableParallel<a,b>/a/leaf",
        "root/returned/b": "router/RunnableParallel<a,b>/b",
        "root/returned/b/returned": "router/RunnableParallel<a,b>/b/inc",
    }
    spans = col.by_node()
    for node_id, span in spans.items():  # each span's parent is the node one level up
        if node_id != "root":
            parent = node_id.rsplit("/", 1)[0]
            assert span.parent_id == spans[parent].run_id, node_id


def test_span_ids_of_a_static_tree_are_the_ids_its_children_describe(drive: Driver) -> None:
    col = Collector()
    tree = RunnableParallel(
        x=RunnableLambda(double).with_config(run_name="twice"),
        y=RunnableLambda(lambda v: {"v": v}) | RunnablePassthrough.assign(z=lambda d: 1),
        m=RunnableLambda(lambda v: [v, v]) | RunnableLambda(inc).with_retry().map(),
    ) | RunnableLambda(lambda d: d["x"]).with_fallbacks([RunnableLambda(inc)])
    assert drive(tree, 4, {"callbacks": [col]}) == 8
    seen = {s.node_id for s in col.ended}
    expected = static_ids(tree)
    assert seen <= expected
    # the fallback never ran, so only its id is missing
    assert expected - seen == {"root/1/1"}


@pytest.mark.parametrize("limit", [1, 3])
def test_recursion_limit_allows_exactly_limit_returned_levels(drive: Driver, limit: int) -> None:
    def nest(levels: int) -> RunnableLambda:
        """A function that returns a runnable ``levels`` times, then a value."""
        return RunnableLambda(lambda x: nest(levels - 1) if levels else x + levels)

    col = Collector()
    assert drive(nest(limit), 7, {"recursion_limit": limit, "callbacks": [col]}) == 7
    deepest = max(s.node_id.count("/returned") for s in col.ended)
    assert deepest == limit
    with pytest.raises(RecursionError, match=f"recursion_limit={limit}"):
        drive(nest(limit + 1), 7, {"recursion_limit": limit})


def test_recursion_limit_bound_with_with_config_applies_to_the_run(drive: Driver) -> None:
    def nest(levels: int) -> RunnableLambda:
        return RunnableLambda(lambda x: nest(levels - 1) if levels else x)

    assert drive(nest(2).with_config(recursion_limit=2), 1) == 1
    with pytest.raises(RecursionError):
        drive(nest(3).with_config(recursion_limit=2), 1)


def test_run_name_names_the_root_of_the_run(drive: Driver) -> None:
    col = Collector()
    chain = RunnableParallel(a=double) | RunnableLambda(len, name="last")
    drive(chain, 1, {"callbacks": [col], "run_name": "my chain"})
    nodes = col.by_node()
    assert nodes["root"].name == "my chain"
    assert nodes["root/1"].path == "my chain/last"


# -- windows of nested limits --------------------------------------------------------------


def window_here(x: Any) -> Any:
    frame = current_frame()
    assert frame is not None
    return frame.window


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [(None, None, None), (4, None, 4), (None, 2, 2), (4, 2, 2), (3, 8, 3)],
)
def test_the_window_is_the_tightest_enclosing_limit(
    drive: Driver, outer: int | None, inner: int | None, expected: int | None
) -> None:
    probe: Runnable[Any, Any] = RunnableLambda(window_here)
    if inner is not None:
        probe = probe.with_config(max_concurrency=inner)
    config = {} if outer is None else {"max_concurrency": outer}
    out = drive(RunnableParallel(p=probe, free=window_here), 0, config)
    assert out == {"p": expected, "free": outer}


def test_nested_bindings_each_narrow_their_own_subtree(drive: Driver) -> None:
    def bound(runnable: Any, limit: int) -> Any:
        return RunnableParallel(runnable).with_config(max_concurrency=limit)

    tree = RunnableParallel(
        loose={"w": window_here},
        four=bound({"w": window_here, "two": bound({"w": window_here}, 2)}, 4),
        wide=bound({"w": window_here, "three": bound({"w": window_here}, 3)}, 9),
    ).with_config(max_concurrency=6)
    assert drive(tree, 0) == {
        "loose": {"w": 6},
        "four": {"w": 4, "two": {"w": 2}},
        "wide": {"w": 6, "three": {"w": 3}},  # 9 does not widen the outer 6
    }


# -- a leaf waiting on nested work lends its slot ------------------------------------------


def run_in_thread(fn: Any, timeout: float = 10) -> Any:
    """Run ``fn()`` in a thread; a deadlock fails the test instead of hanging it."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "deadlock: the nested call never got a slot"
    if "error" in box:
        raise box["error"]
    return box["value"]


NESTED = ["invoke", "batch", "batch_as_completed", "stream"]
ANESTED = ["ainvoke", "abatch", "abatch_as_completed", "astream"]


def nested_call(how: str, inner: Runnable[Any, Any], x: int) -> int:
    if how == "invoke":
        return sum(inner.invoke(x).values())
    if how == "batch":
        return sum(sum(d.values()) for d in inner.batch([x, x]))
    if how == "batch_as_completed":
        return sum(sum(d.values()) for _, d in inner.batch_as_completed([x, x]))
    return sum(v for chunk in inner.stream(x) for v in chunk.values())


async def anested_call(how: str, inner: Runnable[Any, Any], x: int) -> int:
    if how == "ainvoke":
        return sum((await inner.ainvoke(x)).values())
    if how == "abatch":
        return sum(sum(d.values()) for d in await inner.abatch([x, x]))
    if how == "abatch_as_completed":
        return sum([sum(d.values()) async for _, d in inner.abatch_as_completed([x, x])])
    return sum([v async for chunk in inner.astream(x) for v in chunk.values()])


@pytest.mark.parametrize("limit", [1, 2])
@pytest.mark.parametrize("how", NESTED)
def test_sync_nested_calls_inside_leaves_never_deadlock(how: str, limit: int) -> None:
    gauge = Gauge()
    inner = RunnableParallel(a=gauge.sleeper(0.005), b=gauge.sleeper(0.005))

    def outer(x: int) -> int:
        return nested_call(how, inner, x)

    tree = RunnableParallel({f"o{i}": outer for i in range(3)})
    out = run_in_thread(lambda: tree.invoke(1, {"max_concurrency": limit}))
    per_outer = 2 * (2 if "batch" in how else 1)
    assert out == {f"o{i}": per_outer for i in range(3)}
    assert gauge.peak <= limit
    assert gauge.calls == 3 * per_outer


@pytest.mark.parametrize("limit", [1, 2])
@pytest.mark.parametrize("how", ANESTED)
def test_async_nested_calls_inside_leaves_never_deadlock(how: str, limit: int) -> None:
    gauge = Gauge()
    inner = RunnableParallel(a=gauge.asleeper(0.005), b=gauge.sleeper(0.005))

    async def outer(x: int) -> int:
        return await anested_call(how, inner, x)

    tree = RunnableParallel({f"o{i}": outer for i in range(3)})
    out = run_in_thread(lambda: asyncio.run(tree.ainvoke(1, {"max_concurrency": limit})))
    per_outer = 2 * (2 if "batch" in how else 1)
    assert out == {f"o{i}": per_outer for i in range(3)}
    assert gauge.peak <= limit


@pytest.mark.parametrize("how", NESTED)
def test_the_lent_slot_is_taken_back_before_the_leaf_goes_on(how: str) -> None:
    """At max_concurrency=1 the leaf's own work after the nested call never overlaps
    another leaf: it holds its slot again."""
    gauge = Gauge()
    inner = RunnableParallel(a=gauge.sleeper(0.005))

    def outer(x: int) -> int:
        total = nested_call(how, inner, x)
        with gauge:
            time.sleep(0.02)
        return total

    tree = RunnableParallel(o1=outer, o2=outer, busy=gauge.sleeper(0.03))
    run_in_thread(lambda: tree.invoke(1, {"max_concurrency": 1}))
    assert gauge.peak == 1


def test_a_stream_consumed_inside_a_leaf_keeps_the_slot_between_chunks() -> None:
    gauge = Gauge()
    inner = RunnableParallel(a=gauge.sleeper(0.005), b=gauge.sleeper(0.01))

    def outer(x: int) -> list[str]:
        keys = []
        for chunk in inner.stream(x):
            with gauge:  # the consumer's own work between chunks is leaf work
                time.sleep(0.01)
            keys.extend(chunk)
        return sorted(keys)

    tree = RunnableParallel(o=outer, other=gauge.sleeper(0.02))
    assert run_in_thread(lambda: tree.invoke(1, {"max_concurrency": 1})) == {
        "o": ["a", "b"],
        "other": 1,
    }
    assert gauge.peak == 1


def test_a_nested_batch_joins_the_run_with_item_paths() -> None:
    col = Collector()
    inner = RunnableLambda(double, name="inner")

    def outer(x: int) -> int:
        return sum(inner.batch([x, x + 1, x + 2]))

    assert RunnableLambda(outer, name="outer").invoke(1, {"callbacks": [col]}) == 12
    items = sorted((s.node_id, s.path) for s in col.ended if s.node_id != "root")
    assert items == [("root/call:inner", f"outer/inner[{i}]") for i in range(3)]


@pytest.mark.parametrize("limit", [1, 2])
def test_several_nested_calls_of_one_leaf_at_once_share_its_lent_slot(limit: int) -> None:
    """A leaf whose function runs nested calls side by side (its own threads or tasks,
    or a langchain_core parallel of chainlab steps): they share the lent slot, the last
    one takes it back, nothing deadlocks and the limit holds."""
    from concurrent.futures import ThreadPoolExecutor

    gauge = Gauge()
    step = RunnableLambda(gauge.sleeper(0.02))
    # call i has i + 1 steps: the first ends while the others still have steps to queue
    inners: list[Runnable[Any, Any]] = [step, step | step, step | step | step, step | step]

    def threads(x: int) -> list[int]:
        with ThreadPoolExecutor(4) as pool:  # each thread joins the run through its context
            calls = [pool.submit(contextvars.copy_context().run, i.invoke, x) for i in inners]
            return [c.result() for c in calls]

    async def tasks(x: int) -> list[int]:
        return list(await asyncio.gather(*(i.ainvoke(x) for i in inners)))

    box: dict[str, Any] = {}

    def run() -> None:
        box["threads"] = RunnableLambda(threads).invoke(1, {"max_concurrency": limit})
        box["tasks"] = asyncio.run(RunnableLambda(tasks).ainvoke(2, {"max_concurrency": limit}))
        box["tasks under invoke"] = RunnableLambda(tasks).invoke(3, {"max_concurrency": limit})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "nested calls sharing a lent slot deadlocked"
    assert box == {"threads": [1] * 4, "tasks": [2] * 4, "tasks under invoke": [3] * 4}
    assert gauge.peak <= limit
    assert gauge.calls == 3 * (1 + 2 + 3 + 2)
