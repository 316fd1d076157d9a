"""Cancel scopes (nesting, waking sleepers on threads and on other loops) and the run
config (merging, validation, one config per batch item)."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.cancel import Cancelled, CancelScope
from chainlab.engine.config import config_list, merge_configs, validate_config
from tests.conftest import Driver
from tests.engine.helpers import LoopThread, Recorder, wait_until


class Boom(Exception):
    pass


# -- scopes --------------------------------------------------------------------------------


def chain_of_scopes(depth: int) -> list[CancelScope]:
    scopes = [CancelScope()]
    for _ in range(depth):
        scopes.append(scopes[-1].child())
    return scopes


@pytest.mark.parametrize("cut", [0, 1, 2, 3])
def test_a_scope_is_cancelled_when_any_ancestor_is(cut: int) -> None:
    scopes = chain_of_scopes(3)
    sibling = scopes[1].child()
    scopes[cut].cancel()
    assert [s.cancelled for s in scopes] == [i >= cut for i in range(4)]
    assert sibling.cancelled == (cut <= 1)  # under scopes[1], beside scopes[2]


def test_cancelling_a_child_leaves_its_parent_and_siblings() -> None:
    root = CancelScope()
    left, right = root.child(), root.child()
    left_kid = left.child()
    left.cancel()
    assert left.cancelled
    assert left_kid.cancelled
    assert not root.cancelled
    assert not right.cancelled
    assert root.child().cancelled is False  # new children of the parent start clean


def test_the_first_cancel_reason_wins() -> None:
    scope = CancelScope()
    first, second = Boom("first"), Boom("second")
    scope.cancel(first)
    scope.cancel(second)
    assert scope.reason is first
    assert scope.child().reason is None  # a child reads the flag, it has no reason of its own


def sleep_in_thread(scope: CancelScope, seconds: float, out: Recorder) -> threading.Thread:
    def run() -> None:
        start = time.monotonic()
        try:
            scope.sleep(seconds)
            out.add(("slept", time.monotonic() - start))
        except Cancelled:
            out.add(("cancelled", time.monotonic() - start))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_sleep_wakes_early_when_cancelled_from_another_thread() -> None:
    root = CancelScope()
    out = Recorder()
    sleepers = [sleep_in_thread(root.child().child(), 30, out) for _ in range(3)]
    time.sleep(0.02)
    root.cancel()
    for thread in sleepers:
        thread.join(5)
    results = out.snapshot()
    assert [kind for kind, _ in results] == ["cancelled"] * 3
    assert all(elapsed < 5 for _, elapsed in results)  # not the 30 s asked for


def test_a_sleeper_in_another_subtree_keeps_sleeping() -> None:
    root = CancelScope()
    calm, doomed = root.child(), root.child()
    out = Recorder()
    calm_sleeper = sleep_in_thread(calm, 0.3, out)
    doomed_sleeper = sleep_in_thread(doomed, 30, out)
    time.sleep(0.02)
    doomed.cancel()  # wakes every sleeper of the tree; only the doomed one stops
    doomed_sleeper.join(5)
    calm_sleeper.join(5)
    results = dict(out.snapshot())
    assert set(results) == {"cancelled", "slept"}
    assert results["slept"] >= 0.25  # it went back to sleep for the rest of its time


def test_sleep_in_a_cancelled_scope_raises_at_once_even_for_zero_seconds() -> None:
    scope = CancelScope()
    scope.cancel()
    with pytest.raises(Cancelled):
        scope.sleep(0)
    with pytest.raises(Cancelled):
        asyncio.run(scope.asleep(0))


def test_async_sleepers_on_other_loop_threads_wake_on_cancel() -> None:
    root = CancelScope()
    with LoopThread("loop-a") as a, LoopThread("loop-b") as b:
        futures = [a.submit(root.child().asleep(30)), b.submit(root.child().child().asleep(30))]
        assert wait_until(lambda: len(root._async_sleepers) == 2)
        start = time.monotonic()
        root.cancel()
        for future in futures:
            with pytest.raises(Cancelled):
                future.result(5)
        assert time.monotonic() - start < 5
    assert root._async_sleepers == set()  # every sleeper unregistered itself


def test_an_async_sleeper_in_another_subtree_keeps_sleeping() -> None:
    root = CancelScope()
    calm, doomed = root.child(), root.child()

    async def both() -> list[Any]:
        async def timed(scope: CancelScope, seconds: float) -> Any:
            start = asyncio.get_running_loop().time()
            try:
                await scope.asleep(seconds)
            except Cancelled:
                return "cancelled"
            return asyncio.get_running_loop().time() - start

        tasks = [asyncio.create_task(timed(calm, 0.3)), asyncio.create_task(timed(doomed, 30))]
        await asyncio.sleep(0.02)
        threading.Thread(target=doomed.cancel).start()  # cancelled from another thread
        return await asyncio.gather(*tasks)

    calm_elapsed, doomed_result = asyncio.run(both())
    assert doomed_result == "cancelled"
    assert calm_elapsed >= 0.25


def test_cancel_skips_sleepers_whose_loop_is_closed() -> None:
    root = CancelScope()
    loop = asyncio.new_event_loop()

    async def start_sleeping() -> asyncio.Task[None]:
        task = asyncio.ensure_future(root.asleep(30))
        await asyncio.sleep(0)
        return task

    orphan = loop.run_until_complete(start_sleeping())
    loop.close()
    assert len(root._async_sleepers) == 1
    root.cancel()  # must not raise "Event loop is closed"
    assert root.cancelled
    orphan._log_destroy_pending = False  # type: ignore[attr-defined]


def test_asleep_unregisters_after_a_normal_wake_up() -> None:
    scope = CancelScope()
    asyncio.run(scope.asleep(0.01))
    assert scope._async_sleepers == set()
    assert not scope.cancelled


def test_until_cancelled_ends_when_a_scope_above_is_cancelled_from_another_thread() -> None:
    root = CancelScope()
    with LoopThread("loop-a") as a:
        watch = a.submit(root.child().until_cancelled())
        assert wait_until(lambda: len(root._async_sleepers) == 1)
        assert not watch.done()
        root.cancel()
        assert watch.result(5) is None  # returns: the watcher decides what to raise
    assert root._async_sleepers == set()


def test_until_cancelled_in_a_cancelled_scope_returns_at_once() -> None:
    scope = CancelScope()
    scope.cancel()
    asyncio.run(asyncio.wait_for(scope.until_cancelled(), 5))
    assert scope._async_sleepers == set()


def test_until_cancelled_is_no_sleep_a_virtual_clock_can_end(virtual: Any) -> None:
    """Beside real I/O (a kernel starting), a watch must not count as a simulated
    delay: a week-long clock sleep there was jumped over at once, which cancelled the
    I/O (the workflow demo's NotebookTask on the virtual clock)."""
    scope = CancelScope()

    async def race() -> str:
        watch = asyncio.ensure_future(scope.until_cancelled())
        real_io = asyncio.ensure_future(asyncio.sleep(0.2))  # invisible to the clock
        done, _ = await asyncio.wait({watch, real_io}, return_when=asyncio.FIRST_COMPLETED)
        watch.cancel()
        return "io" if real_io in done else "watch"

    assert asyncio.run(race()) == "io"


# -- the public helpers, outside and inside a run ------------------------------------------


def test_outside_a_run_cancelled_is_false_and_sleeps_are_plain() -> None:
    assert chainlab.cancelled() is False
    start = time.monotonic()
    chainlab.sleep(0.01)
    asyncio.run(chainlab.asleep(0.01))
    assert time.monotonic() - start >= 0.015


def test_cancelled_is_false_inside_a_healthy_run(drive: Driver) -> None:
    seen = Recorder()

    def look(x: int) -> int:
        seen.add(chainlab.cancelled())
        chainlab.sleep(0.001)  # does not raise
        return x

    async def alook(x: int) -> int:
        seen.add(chainlab.cancelled())
        await chainlab.asleep(0.001)
        return x

    assert drive(RunnableParallel(s=look, a=alook), 3) == {"s": 3, "a": 3}
    assert seen.snapshot() == [False, False]


def test_sleep_and_asleep_raise_cancelled_inside_a_failed_run(drive: Driver) -> None:
    saw = Recorder()
    both_asleep = threading.Barrier(3, timeout=5)

    def sync_sleeper(x: Any) -> Any:
        both_asleep.wait()
        try:
            chainlab.sleep(30)
        except BaseException as exc:
            saw.add(("sync", type(exc).__name__))
            raise
        return x

    async def async_sleeper(x: Any) -> Any:
        await asyncio.get_running_loop().run_in_executor(None, both_asleep.wait)
        try:
            await chainlab.asleep(30)
        except BaseException as exc:
            saw.add(("async", type(exc).__name__))
            raise
        return x

    def fail(x: Any) -> Any:
        both_asleep.wait()
        time.sleep(0.02)
        raise Boom("sibling failed")

    start = time.monotonic()
    with pytest.raises(Boom):
        drive(RunnableParallel(s=sync_sleeper, a=async_sleeper, f=fail), 1)
    assert wait_until(lambda: len(saw) == 2)
    assert time.monotonic() - start < 10
    kinds = dict(saw.snapshot())
    assert kinds["sync"] == "Cancelled"
    # under ainvoke the async branch's task is cancelled as well; either way it stopped
    assert kinds["async"] in {"Cancelled", "CancelledError"}


def test_a_failing_branch_cancels_only_its_own_subtree(drive: Driver) -> None:
    outcome = Recorder()

    def patient(name: str) -> Any:
        def step(x: Any) -> Any:
            try:
                chainlab.sleep(0.2)
            except Cancelled:
                outcome.add((name, "cancelled"))
                raise
            outcome.add((name, "finished"))
            return x

        return step

    def fail(x: Any) -> Any:
        chainlab.sleep(0.02)
        raise Boom("inner")

    inner = RunnableParallel(inside=patient("inside"), bad=fail)
    tree = RunnableParallel(inner=inner, outside=patient("outside")).with_partial_results()
    out = drive(tree, 1)
    assert out["outside"] == 1
    assert isinstance(out["inner"].exception, Boom)
    assert wait_until(lambda: len(outcome) == 2)
    assert sorted(outcome.snapshot()) == [("inside", "cancelled"), ("outside", "finished")]


# -- merge_configs -------------------------------------------------------------------------


def test_merge_adds_tags_and_callbacks_and_merges_dicts() -> None:
    listener_a, listener_b, listener_c = object(), object(), object()
    merged = merge_configs(
        {"tags": ["a"], "callbacks": [listener_a], "metadata": {"x": 1, "y": 1}},
        None,
        {},
        {"tags": ("b", "c"), "callbacks": listener_b, "metadata": {"y": 2}},
        {"callbacks": [listener_c], "configurable": {"k": "v"}, "metadata": {"z": 3}},
        {"configurable": {"k": "w", "j": 1}},
    )
    assert merged["tags"] == ["a", "b", "c"]
    assert merged["callbacks"] == [listener_a, listener_b, listener_c]
    assert merged["metadata"] == {"x": 1, "y": 2, "z": 3}
    assert merged["configurable"] == {"k": "w", "j": 1}


def test_merge_replaces_every_other_key() -> None:
    merged = merge_configs(
        {"run_name": "a", "max_concurrency": 2, "recursion_limit": 5, "custom": [1]},
        {"run_name": "b", "max_concurrency": None, "custom": [2]},
    )
    assert merged == {"run_name": "b", "max_concurrency": None, "recursion_limit": 5, "custom": [2]}


def test_merge_never_mutates_its_inputs() -> None:
    first = {"tags": ["a"], "metadata": {"x": 1}, "configurable": {"k": 1}}
    second = {"tags": ["b"], "metadata": {"y": 2}, "configurable": {"j": 2}}
    before = copy.deepcopy((first, second))
    merged = merge_configs(first, second)
    merged["tags"].append("mutated")
    merged["metadata"]["mutated"] = True
    assert (first, second) == before


def test_merge_wraps_a_single_callback_and_a_single_tag_string() -> None:
    listener = object()
    assert merge_configs({"callbacks": listener}) == {"callbacks": [listener]}
    assert merge_configs({"tags": "solo"}, {"tags": "duo"}) == {"tags": ["solo", "duo"]}


configs = st.fixed_dictionaries(
    {},
    optional={
        "tags": st.lists(st.sampled_from("abc"), max_size=3),
        "metadata": st.dictionaries(st.sampled_from("xyz"), st.integers(0, 3), max_size=3),
        "configurable": st.dictionaries(st.sampled_from("pq"), st.integers(0, 3), max_size=2),
        "run_name": st.sampled_from(["r1", "r2"]),
        "max_concurrency": st.integers(1, 4),
    },
)


@settings(max_examples=60, deadline=None)
@given(a=configs, b=configs, c=configs)
def test_merge_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    """So stacking with_config bindings and the call's config gives one answer."""
    assert merge_configs(merge_configs(a, b), c) == merge_configs(a, merge_configs(b, c))
    assert merge_configs(a, b, c) == merge_configs(merge_configs(a, b), c)


# -- validate_config and config_list -------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        (["tags"], TypeError, "config must be a dict, got list"),
        ("fast", TypeError, "config must be a dict, got str"),
        ({"recursion_limit": 0}, ValueError, "recursion_limit"),
        ({"recursion_limit": -3}, ValueError, "recursion_limit"),
        ({"recursion_limit": True}, ValueError, "recursion_limit"),
        ({"recursion_limit": 2.5}, ValueError, "recursion_limit"),
        ({"max_concurrency": 0}, ValueError, "max_concurrency"),
        ({"max_concurrency": False}, ValueError, "max_concurrency"),
    ],
)
def test_bad_configs_get_clear_errors(config: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        validate_config(config)
    with pytest.raises(error, match=match):
        RunnableLambda(abs).invoke(1, config)
    with pytest.raises(error, match=match):
        asyncio.run(RunnableLambda(abs).ainvoke(1, config))


def test_good_configs_pass_validation() -> None:
    for config in (
        {},
        {"max_concurrency": None},
        {"max_concurrency": 1, "recursion_limit": 1},
        {"unknown": object()},
    ):
        validate_config(config)
        assert RunnableLambda(abs).invoke(-2, config) == 2


def test_config_list_shares_one_config_or_matches_a_list() -> None:
    shared = config_list({"tags": ["t"]}, 3)
    assert shared == [{"tags": ["t"]}] * 3
    assert config_list(None, 2) == [{}, {}]
    assert config_list([{"run_name": "a"}, None], 2) == [{"run_name": "a"}, {}]
    assert config_list(({"tags": ["x"]},), 1) == [{"tags": ["x"]}]
    assert config_list([], 0) == []
    with pytest.raises(ValueError, match="2 inputs but 1 configs"):
        config_list([{}], 2)


def test_a_batch_validates_every_items_config() -> None:
    with pytest.raises(ValueError, match="recursion_limit"):
        RunnableLambda(abs).batch([1, 2], [{}, {"recursion_limit": 0}])


def test_with_config_merges_its_dict_and_keywords() -> None:
    seen = Recorder()

    def spy(x: int, config: dict[str, Any]) -> int:
        seen.add((config.get("tags"), config.get("metadata"), config.get("configurable")))
        return x

    bound = RunnableLambda(spy).with_config(
        {"tags": ["dict"], "metadata": {"a": 1}}, tags=["kw"], configurable={"c": 1}
    )
    bound.invoke(1, {"tags": ["call"], "metadata": {"b": 2}, "configurable": {"d": 2}})
    [(tags, metadata, configurable)] = seen.snapshot()
    assert tags == ["call", "dict", "kw"]
    assert metadata == {"b": 2, "a": 1}
    assert configurable == {"d": 2, "c": 1}
