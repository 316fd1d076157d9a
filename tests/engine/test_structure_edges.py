"""Corner cases of the structural runnables: passthrough, pick, assign, map,
fallbacks, retry, timeout, with_config bindings, and coercion errors."""

from __future__ import annotations

import asyncio
import threading
import time
from types import MappingProxyType
from typing import Any

import pytest

import chainlab
from chainlab import (
    RunnableBinding,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    RunnableSequence,
)
from tests.conftest import Driver
from tests.engine.helpers import Gauge, Recorder, wait_until
from tests.engine.test_tracing import Collector


class Boom(Exception):
    pass


class SubBoom(Boom):
    pass


def double(x: int) -> int:
    return 2 * x


def fail_with(error: BaseException) -> Any:
    def fail(x: Any) -> Any:
        raise error

    return fail


# -- passthrough ---------------------------------------------------------------------------


def test_passthrough_side_effects_run_on_the_right_side_of_each_driver(drive: Driver) -> None:
    where = Recorder()

    def sync_side(x: Any) -> None:
        where.add(("sync", x, threading.current_thread().name))

    async def async_side(x: Any) -> None:
        where.add(("async", x, threading.current_thread().name))

    assert drive(RunnablePassthrough(sync_side), "v") == "v"
    assert drive(RunnablePassthrough(async_side), "w") == "w"
    assert drive(RunnablePassthrough(sync_side, async_side), "z") == "z"
    kinds = [(kind, x) for kind, x, _ in where.snapshot()]
    both = ("sync", "z") if drive.name == "invoke" else ("async", "z")  # type: ignore[attr-defined]
    assert kinds == [("sync", "v"), ("async", "w"), both]
    threads = {kind: lane for kind, _, lane in where.snapshot()[:2]}
    assert threads["async"] == "chainlab-loop" or drive.name == "ainvoke"  # type: ignore[attr-defined]
    if drive.name == "ainvoke":  # type: ignore[attr-defined]
        assert threads["sync"].startswith("chainlab-")  # the engine's pool, not the loop's


def test_a_failing_side_effect_fails_the_passthrough(drive: Driver) -> None:
    with pytest.raises(Boom):
        drive(RunnablePassthrough(fail_with(Boom("side"))), 1)


def test_passthrough_is_structure_unless_it_calls_user_code() -> None:
    col = Collector()
    chain = RunnableParallel(plain=RunnablePassthrough(), side=RunnablePassthrough(print))
    assert RunnablePassthrough().kind == "passthrough"
    assert RunnablePassthrough(print).kind == "leaf"
    chain.invoke("", {"callbacks": [col]})
    kinds = {s.node_id: s.kind for s in col.ended}
    assert kinds == {"root": "parallel", "root/plain": "passthrough", "root/side": "leaf"}


def test_a_plain_passthrough_takes_no_slot_of_the_limit() -> None:
    """At max_concurrency=1, a leaf holds the only slot until the passthrough beside
    it has finished: that can only happen if the passthrough never needs the slot."""
    passed = threading.Event()

    class Watch(Collector):
        def on_end(self, span: Any) -> None:
            super().on_end(span)
            if span.node_id in ("root/same", "root/pick"):
                with self.lock:
                    if {"root/same", "root/pick"} <= {s.node_id for s in self.ended}:
                        passed.set()

    async def hold(x: Any) -> Any:
        for _ in range(400):  # up to 2 s, then fail instead of waiting forever
            if passed.is_set():
                return x
            await asyncio.sleep(0.005)
        raise AssertionError("the passthrough waited for the slot the leaf holds")

    chain = RunnableParallel(hold=hold, same=RunnablePassthrough(), pick=RunnablePick("k"))
    out = asyncio.run(chain.ainvoke({"k": 1}, {"max_concurrency": 1, "callbacks": [Watch()]}))
    assert out == {"hold": {"k": 1}, "same": {"k": 1}, "pick": 1}


# -- pick ----------------------------------------------------------------------------------


def test_pick_of_missing_keys() -> None:
    data = {"a": 1, "b": 2}
    assert RunnablePick("zzz").invoke(data) is None
    assert RunnablePick(["a", "zzz"]).invoke(data) == {"a": 1}
    assert RunnablePick(["y", "zzz"]).invoke(data) is None  # as langchain_core
    assert RunnablePick(["b", "a"]).invoke(data) == {"b": 2, "a": 1}


def test_pick_accepts_any_mapping_and_names_the_path_otherwise(drive: Driver) -> None:
    assert drive(RunnablePick("a"), MappingProxyType({"a": 5})) == 5
    chain = RunnableLambda(lambda x: [x], name="listify") | RunnablePick("a")
    with pytest.raises(ValueError, match=r"RunnableSequence/pick<a>: \.pick\(\) needs a dict"):
        drive(chain, 1)


# -- assign --------------------------------------------------------------------------------


def test_assign_overwrites_keys_and_every_mapper_sees_the_original_input(drive: Driver) -> None:
    seen = Recorder()

    def look(d: dict[str, Any]) -> int:
        seen.add(dict(d))
        return d["n"] * 10

    chain = RunnablePassthrough.assign(n=look, m=look)
    assert drive(chain, {"n": 1, "k": "keep"}) == {"n": 10, "k": "keep", "m": 10}
    assert seen.snapshot() == [{"n": 1, "k": "keep"}] * 2


def test_chained_assigns_see_the_previous_keys(drive: Driver) -> None:
    async def asum(d: dict[str, Any]) -> int:
        return d["a"] + d["b"]

    chain = (
        RunnablePassthrough.assign(b=lambda d: d["a"] * 2)
        .assign(c=asum)
        .assign(nested={"x": lambda d: d["c"], "y": RunnablePassthrough()})
    )
    out = drive(chain, {"a": 1})
    assert out == {"a": 1, "b": 2, "c": 3, "nested": {"x": 3, "y": {"a": 1, "b": 2, "c": 3}}}


def test_assign_branches_have_the_ids_of_its_mapper(drive: Driver) -> None:
    col = Collector()
    drive(RunnablePassthrough.assign(n=len, up=lambda d: 0), {"t": 1}, {"callbacks": [col]})
    assert {s.node_id: s.kind for s in col.ended} == {
        "root": "assign",
        "root/n": "leaf",
        "root/up": "leaf",
    }


# -- map -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "items",
    [lambda: (1, 2, 3), lambda: range(1, 4), lambda: iter([1, 2, 3])],
    ids=["tuple", "range", "iterator"],
)
def test_map_takes_any_iterable_but_text_and_dicts(drive: Driver, items: Any) -> None:
    assert drive(RunnableLambda(double).map(), items()) == [2, 4, 6]


@pytest.mark.parametrize("bad", ["abc", b"abc", {"a": 1}, 5])
def test_map_rejects_text_dicts_and_scalars(drive: Driver, bad: Any) -> None:
    with pytest.raises(TypeError, match=r"\.map\(\) needs a list input"):
        drive(RunnableLambda(double).map(), bad)


def test_map_keeps_input_order_whatever_the_finish_order(drive: Driver) -> None:
    def late_for_small(x: int) -> int:
        time.sleep(0.005 * (5 - x))
        return x

    assert drive(RunnableLambda(late_for_small).map(), [0, 1, 2, 3, 4]) == [0, 1, 2, 3, 4]


def test_map_of_map(drive: Driver) -> None:
    assert drive(RunnableLambda(double).map().map(), [[1, 2], [], [3]]) == [[2, 4], [], [6]]


def test_a_failing_item_stops_the_queued_items(drive: Driver) -> None:
    col = Collector()

    def picky(x: int) -> int:
        if x == 0:
            raise Boom("zero")
        return x

    with pytest.raises(Boom):
        drive(
            RunnableLambda(picky).map(), list(range(6)), {"max_concurrency": 1, "callbacks": [col]}
        )
    assert wait_until(lambda: len([s for s in col.ended if s.node_id == "root/*"]) == 6)
    assert sorted(s.run_id for s in col.started) == sorted(s.run_id for s in col.ended)
    assert len({s.run_id for s in col.ended}) == len(col.ended)  # each ends exactly once
    statuses = {s.path: s.status for s in col.ended if s.node_id == "root/*"}
    assert statuses.pop("map<picky>/0") == "error"
    assert set(statuses.values()) <= {"cancelled", "ok"}
    assert list(statuses.values()).count("ok") <= 1  # at most one was already pulled


# -- fallbacks -----------------------------------------------------------------------------


def test_fallbacks_go_down_the_list_and_record_each_try(drive: Driver) -> None:
    col = Collector()
    chain = RunnableLambda(fail_with(Boom("a")), name="primary").with_fallbacks(
        [RunnableLambda(fail_with(SubBoom("b")), name="second"), RunnableLambda(double)]
    )
    assert drive(chain, 4, {"callbacks": [col]}) == 8
    tries = {s.node_id: (s.name, s.status) for s in col.ended}
    assert tries == {
        "root": ("fallbacks<primary>", "ok"),
        "root/0": ("primary", "error"),
        "root/1": ("second", "error"),
        "root/2": ("double", "ok"),
    }


def test_each_fallback_gets_the_previous_error_under_the_exception_key(drive: Driver) -> None:
    seen = Recorder()

    def second(d: dict[str, Any]) -> Any:
        seen.add(repr(d["error"]))
        raise SubBoom("second")

    def third(d: dict[str, Any]) -> str:
        seen.add(repr(d["error"]))
        return d["q"]

    chain = RunnableLambda(fail_with(Boom("first"))).with_fallbacks(
        [second, third], exception_key="error"
    )
    assert drive(chain, {"q": "answer"}) == "answer"
    assert seen.snapshot() == ["Boom('first')", "SubBoom('second')"]


def test_exception_key_needs_a_dict_input(drive: Driver) -> None:
    chain = RunnableLambda(fail_with(Boom("x"))).with_fallbacks([double], exception_key="error")
    with pytest.raises(ValueError, match="exception_key='error' needs a dict input"):
        drive(chain, 3)


def test_no_fallback_runs_once_the_run_is_cancelled(drive: Driver) -> None:
    fallback_calls = Recorder()

    def cooperative(x: Any) -> Any:
        chainlab.sleep(30)  # raises Cancelled when the sibling fails
        return x

    def sibling(x: Any) -> Any:
        time.sleep(0.03)
        raise Boom("sibling")

    guarded = RunnableLambda(cooperative).with_fallbacks([fallback_calls.add])
    with pytest.raises(Boom):
        drive(RunnableParallel(guarded=guarded, sibling=sibling), 1)
    time.sleep(0.1)
    assert len(fallback_calls) == 0


def test_fallbacks_coerce_functions_and_reject_values() -> None:
    assert RunnableLambda(fail_with(Boom())).with_fallbacks([double]).invoke(2) == 4
    with pytest.raises(TypeError, match="as a fallback"):
        RunnableLambda(double).with_fallbacks([42])  # type: ignore[list-item]


# -- retry ---------------------------------------------------------------------------------


def test_stop_after_one_attempt_never_retries_and_zero_is_refused(drive: Driver) -> None:
    calls = Recorder()

    def flaky(x: int) -> int:
        calls.add(x)
        raise Boom("once")

    with pytest.raises(Boom):
        drive(RunnableLambda(flaky).with_retry(stop_after_attempt=1), 1)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="stop_after_attempt must be >= 1"):
        RunnableLambda(flaky).with_retry(stop_after_attempt=0)


def test_retrying_a_parallel_reruns_every_branch(drive: Driver) -> None:
    runs = Recorder()
    failed_once = threading.Event()

    def steady(x: int) -> int:
        runs.add("steady")
        return x

    def flaky(x: int) -> int:
        runs.add("flaky")
        if not failed_once.is_set():
            failed_once.set()
            raise ConnectionError("blip")
        return -x

    par = RunnableParallel(steady=steady, flaky=flaky).with_retry(wait_exponential_jitter=False)
    assert drive(par, 3) == {"steady": 3, "flaky": -3}
    assert sorted(runs.snapshot()) == ["flaky", "flaky", "steady", "steady"]


def test_retry_attempts_are_spans_of_one_node_under_ainvoke() -> None:
    col = Collector()
    calls = Recorder()

    async def flaky(x: int) -> int:
        calls.add(x)
        if len(calls) < 3:
            raise ConnectionError("again")
        return x

    retried = RunnableLambda(flaky).with_retry(wait_exponential_jitter=False)
    assert asyncio.run(RunnableParallel(r=retried).ainvoke(5, {"callbacks": [col]})) == {"r": 5}
    attempts = [(s.node_id, s.attempt, s.status) for s in col.ended if s.node_id != "root"]
    assert attempts == [("root/r", 1, "error"), ("root/r", 2, "error"), ("root/r", 3, "ok")]


def test_a_timed_out_attempt_is_retried(drive: Driver) -> None:
    attempts = Recorder()

    def slow_first_time(x: int) -> int:
        attempts.add(x)
        if len(attempts) == 1:
            chainlab.sleep(5)  # the first attempt times out
        return x * 3

    chain = (
        RunnableLambda(slow_first_time)
        .with_timeout(0.05)
        .with_retry(retry_if_exception_type=(TimeoutError,), wait_exponential_jitter=False)
    )
    assert drive(chain, 2) == 6
    assert len(attempts) == 2


def test_retrying_a_binding_starts_every_attempt_from_the_same_config(drive: Driver) -> None:
    col = Collector()
    seen = Recorder()

    def flaky(x: int, config: dict[str, Any]) -> int:
        seen.add(tuple(config["tags"]))
        if len(seen) < 3:
            raise ConnectionError("again")
        return x

    bound = RunnableLambda(flaky).with_config(tags=["bound"], max_concurrency=2)
    chain = bound.with_retry(wait_exponential_jitter=False)
    assert drive(chain, 1, {"tags": ["call"], "callbacks": [col]}) == 1
    assert seen.snapshot() == [("call", "bound")] * 3  # not ("call", "bound", "bound"...)
    assert [(s.attempt, s.tags) for s in col.ended] == [
        (1, ("call", "bound")),
        (2, ("call", "bound")),
        (3, ("call", "bound")),
    ]


def test_a_binding_over_a_retry_gives_one_span_per_attempt(drive: Driver) -> None:
    col = Collector()
    calls = Recorder()

    def flaky(x: int) -> int:
        calls.add(x)
        if len(calls) < 2:
            raise ConnectionError("blip")
        return x

    named = (
        RunnableLambda(flaky)
        .with_retry(wait_exponential_jitter=False)
        .with_config(run_name="renamed", tags=["t"])
    )
    assert named.get_name() == "renamed"
    assert drive(RunnableParallel(a=named), 1, {"callbacks": [col]}) == {"a": 1}
    assert sorted(s.run_id for s in col.started) == sorted(s.run_id for s in col.ended)
    assert len({s.run_id for s in col.ended}) == len(col.ended)  # each ends once
    attempts = [(s.name, s.attempt, s.status, s.tags) for s in col.ended if s.node_id == "root/a"]
    assert attempts == [("renamed", 1, "error", ("t",)), ("renamed", 2, "ok", ("t",))]


# -- timeout -------------------------------------------------------------------------------


def test_the_inner_of_two_nested_timeouts_fires_first(drive: Driver) -> None:
    def stall(x: Any) -> Any:
        chainlab.sleep(5)
        return x

    inner = RunnableLambda(stall, name="stall").with_timeout(0.05)
    outer = RunnableParallel(slow=inner).with_timeout(3)
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"/slow timed out after 0.05 s"):
        drive(outer, 1)
    assert time.monotonic() - start < 2.5


@pytest.mark.parametrize("where", ["inner timeout", "user code"])
def test_an_outer_timeout_does_not_claim_a_timeout_raised_inside(drive: Driver, where: str) -> None:
    def socket_timeout(x: Any) -> Any:
        raise TimeoutError("read timed out")

    def stall(x: Any) -> Any:
        chainlab.sleep(5)
        return x

    inner = (
        RunnableLambda(stall, name="stall").with_timeout(0.05)
        if where == "inner timeout"
        else RunnableLambda(socket_timeout)
    )
    outer = RunnableParallel(step=inner).with_timeout(30)
    with pytest.raises(TimeoutError) as info:
        drive(outer, 1)
    message = str(info.value)
    assert "30 s" not in message  # the outer deadline is far away: not its timeout
    assert message == (
        "RunnableParallel<step>/step timed out after 0.05 s"
        if where == "inner timeout"
        else "read timed out"
    )


def test_each_map_item_gets_its_own_deadline(drive: Driver, virtual: Any) -> None:
    def sized(x: float) -> float:
        chainlab.sleep(x)
        return x

    chain = RunnableLambda(sized).with_timeout(0.3).map()
    begun = virtual.now()
    assert drive(chain, [0.0, 0.01, 0.29]) == [0.0, 0.01, 0.29]
    assert round(virtual.now() - begun, 9) == 0.29  # side by side, each under its deadline
    begun = virtual.now()
    with pytest.raises(TimeoutError) as info:
        drive(chain, [0.0, 5.0])
    assert round(virtual.now() - begun, 9) == 0.3  # item 1's deadline, exactly
    assert "in item 1 of map<sized>" in info.value.__notes__[0]


def test_a_timed_out_parallel_stops_its_branches(drive: Driver, virtual: Any) -> None:
    stopped = Recorder()

    def patient(x: Any) -> Any:
        try:
            chainlab.sleep(5)
        except chainlab.Cancelled:
            stopped.add(True)
            raise
        return x

    begun = virtual.now()
    with pytest.raises(TimeoutError):
        drive(RunnableParallel(a=patient, b=patient).with_timeout(0.05), 1)
    assert round(virtual.now() - begun, 9) == 0.05
    assert wait_until(lambda: len(stopped) == 2)


# -- with_config bindings ------------------------------------------------------------------


def test_with_config_stacks_into_one_binding() -> None:
    base = RunnableLambda(double)
    bound = base.with_config(tags=["a"], run_name="one").with_config(
        tags=["b"], run_name="two", metadata={"k": 1}
    )
    assert isinstance(bound, RunnableBinding)
    assert bound.bound is base  # not a binding of a binding
    assert dict(bound.config) == {"tags": ["a", "b"], "run_name": "two", "metadata": {"k": 1}}
    assert bound.get_name() == "two"
    assert bound.kind == "leaf"


def test_run_name_on_a_nested_node_shows_in_its_span(drive: Driver) -> None:
    col = Collector()
    chain = RunnableLambda(double).with_config(run_name="first step") | RunnableParallel(
        x=RunnableLambda(double).with_config(run_name="renamed branch")
    )
    assert drive(chain, 1, {"callbacks": [col]}) == {"x": 4}
    spans = col.by_node()
    assert spans["root/0"].name == "first step"
    assert spans["root/0"].path == "RunnableSequence/first step"
    assert spans["root/1/x"].name == "renamed branch"
    assert spans["root/1/x"].path.endswith("/x")  # a branch's path keeps its key
    assert len(col.ended) == 4  # a binding adds no span of its own


@pytest.mark.parametrize("limit", [None, 2], ids=["unbounded", "limit2"])
def test_bound_tags_reach_the_spans_of_the_subtree(drive: Driver, limit: int | None) -> None:
    """Also when a leaf's span opens late, once it holds a slot of the limit."""
    col = Collector()
    inner = RunnableParallel(a=double).with_config(tags=["inner"])
    leaf = RunnableLambda(double).with_config(tags=["leaf"])
    config: dict[str, Any] = {"callbacks": [col], "tags": ["run"]}
    if limit is not None:
        config["max_concurrency"] = limit
    drive(RunnableParallel(sub=inner, other=double, leaf=leaf), 1, config)
    tags = {s.node_id: s.tags for s in col.ended}
    assert tags == {
        "root": ("run",),
        "root/other": ("run",),
        "root/sub": ("run", "inner"),
        "root/sub/a": ("run", "inner"),
        "root/leaf": ("run", "leaf"),
    }


def test_bound_callbacks_on_the_root_hear_the_run(drive: Driver) -> None:
    col = Collector()
    drive(RunnableParallel(a=double, b=double).with_config(callbacks=[col]), 1)
    assert sorted(s.node_id for s in col.ended) == ["root", "root/a", "root/b"]


@pytest.mark.parametrize("how", ["map", "batch", "abatch"])
def test_max_concurrency_bound_to_a_runnable_bounds_all_its_items(how: str, virtual: Any) -> None:
    gauge = Gauge()
    if how == "abatch":
        leaf = RunnableLambda(gauge.asleeper(0.01)).with_config(max_concurrency=2)
        assert asyncio.run(leaf.abatch(list(range(8)))) == list(range(8))
    else:
        leaf = RunnableLambda(gauge.sleeper(0.01)).with_config(max_concurrency=2)
        out = leaf.map().invoke(list(range(8))) if how == "map" else leaf.batch(list(range(8)))
        assert out == list(range(8))
    assert gauge.calls == 8
    assert gauge.peak == 2


def test_a_bound_limit_on_a_mapped_subtree_bounds_all_items_together(
    drive: Driver, virtual: Any
) -> None:
    gauge = Gauge()
    item = RunnableParallel({f"b{i}": gauge.sleeper(0.01) for i in range(3)}).with_config(
        max_concurrency=2
    )
    out = drive(RunnableLambda(lambda x: [x, x, x]) | item.map(), 0)
    assert out == [{"b0": 0, "b1": 0, "b2": 0}] * 3
    assert gauge.calls == 9
    assert gauge.peak == 2  # not 2 per item: the binding is the map's runnable


def test_a_bound_limit_seen_through_retry_and_timeout(drive: Driver, virtual: Any) -> None:
    gauge = Gauge()
    leaf = RunnableLambda(gauge.sleeper(0.01))
    wrapped = leaf.with_retry().with_timeout(5).with_config(max_concurrency=2)
    assert drive(wrapped.map(), list(range(6))) == list(range(6))
    assert gauge.peak == 2


def test_with_config_validates_at_once() -> None:
    with pytest.raises(ValueError, match="recursion_limit"):
        RunnableLambda(double).with_config(recursion_limit=0)
    with pytest.raises(TypeError, match="config must be a dict"):
        RunnableLambda(double).with_config(["tags"])  # type: ignore[arg-type]


# -- coercion errors -----------------------------------------------------------------------


def test_coercion_errors_say_where() -> None:
    with pytest.raises(TypeError, match="as step 1 of a sequence"):
        RunnableSequence(double, "not runnable")
    with pytest.raises(TypeError, match="for branch 'x' of RunnableParallel"):
        RunnableParallel(x=3.5)
    with pytest.raises(TypeError, match="expected a Runnable"):
        3 | RunnableLambda(double)  # type: ignore[operator]
    with pytest.raises(TypeError, match="branch names must be str"):
        RunnableParallel({1: double})  # type: ignore[dict-item]


def test_runnable_lambda_rejects_what_it_cannot_call() -> None:
    with pytest.raises(TypeError, match="needs a function"):
        RunnableLambda()
    with pytest.raises(TypeError, match="expects a callable"):
        RunnableLambda("double")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="afunc must be an async function"):
        RunnableLambda(double, double)


def test_a_branch_called_name_is_a_branch(drive: Driver) -> None:
    par = RunnableParallel(name=double, other=lambda x: -x)  # type: ignore[arg-type]
    assert drive(par, 3) == {"name": 6, "other": -3}
    assert RunnableParallel(a=double, name="labelled").get_name() == "labelled"
