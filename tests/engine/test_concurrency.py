"""Concurrency: branches really overlap, one global limit holds everywhere, and nothing
deadlocks. Times are bounded with wide margins; speed is measured in benchmarks/."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.pool import get_pool
from tests.conftest import Driver
from tests.engine.helpers import Gauge


def fan(n: int, fn: Any) -> RunnableParallel:
    return RunnableParallel({f"b{i}": RunnableLambda(fn, name=f"b{i}") for i in range(n)})


def test_32_sleeping_branches_overlap(drive: Driver) -> None:
    """All 32 branches are in flight at once (no cpu+4 cap): a 32-party barrier opens."""
    barrier = threading.Barrier(32, timeout=10)

    def meet(x: int) -> int:
        barrier.wait()  # raises BrokenBarrierError unless 32 branches wait together
        return x

    start = time.perf_counter()
    assert drive(fan(32, meet), 1) == {f"b{i}": 1 for i in range(32)}
    assert time.perf_counter() - start < 5.0


def test_32_async_branches_overlap_under_invoke_and_ainvoke(drive: Driver, virtual: Any) -> None:
    gauge = Gauge()
    drive(fan(32, gauge.asleeper(0.1)), 0)
    assert gauge.peak == 32


@pytest.mark.parametrize("limit", [1, 3])
def test_max_concurrency_is_one_global_limit_over_nested_parallels(
    drive: Driver, limit: int, virtual: Any
) -> None:
    gauge = Gauge()
    inner = fan(4, gauge.sleeper(0.01))
    tree = RunnableParallel(a=inner, b=inner, c=fan(4, gauge.asleeper(0.01)) | (lambda d: d))
    drive(tree, 0, {"max_concurrency": limit})
    assert gauge.calls == 12
    assert gauge.peak == limit  # not limit per level (langchain_core multiplies them)


def test_max_concurrency_bounds_map_items(drive: Driver, virtual: Any) -> None:
    gauge = Gauge()
    drive(RunnableLambda(gauge.sleeper(0.005)).map(), list(range(20)), {"max_concurrency": 4})
    assert gauge.calls == 20
    assert gauge.peak == 4  # exact on the virtual clock


def test_max_concurrency_bounds_batch_and_abatch(virtual: Any) -> None:
    gauge = Gauge()
    chain = fan(3, gauge.sleeper(0.005))
    chain.batch(list(range(8)), {"max_concurrency": 2})
    assert gauge.peak == 2
    gauge2 = Gauge()
    chain2 = fan(3, gauge2.asleeper(0.005))
    asyncio.run(chain2.abatch(list(range(8)), {"max_concurrency": 2}))
    assert gauge2.peak == 2


def test_deep_nesting_at_limit_one_does_not_deadlock(drive: Driver) -> None:
    tree: Any = RunnableLambda(lambda x: x + 1)
    for _ in range(6):
        tree = RunnableParallel(l=tree, r=tree) | (lambda d: d["l"] + d["r"])
    assert drive(tree, 0, {"max_concurrency": 1}) == 64


def test_with_config_max_concurrency_on_the_root_is_global(drive: Driver, virtual: Any) -> None:
    gauge = Gauge()
    tree = RunnableParallel(a=fan(3, gauge.sleeper(0.01)), b=fan(3, gauge.sleeper(0.01)))
    drive(tree.with_config(max_concurrency=2), 0)
    assert gauge.peak == 2


def test_inner_limit_applies_to_its_subtree_only(drive: Driver, virtual: Any) -> None:
    slow, fast = Gauge(), Gauge()
    tree = RunnableParallel(
        limited=fan(6, slow.sleeper(0.03)).with_config(max_concurrency=1),
        free=fan(6, fast.sleeper(0.03)),
    )
    drive(tree, 0)
    assert slow.peak == 1
    assert fast.peak == 6


def test_sync_functions_under_ainvoke_use_the_engine_pool_not_the_loop_executor() -> None:
    names: list[str] = []

    def where(x: int) -> int:
        names.append(threading.current_thread().name)
        time.sleep(0.5)  # long enough that no thread is free again before all have started
        return x

    async def main() -> None:
        await fan(16, where).ainvoke(0)

    asyncio.run(main())
    assert len(names) == 16
    assert all(name.startswith("chainlab-") for name in names)
    assert len(set(names)) == 16  # each branch got its own thread: not a pool of 6


def test_async_function_under_invoke_inside_a_running_loop() -> None:
    """Jupyter cells run while an event loop is running; langchain_core raises here."""

    async def fetch(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 2

    async def cell() -> int:
        return RunnableLambda(fetch).invoke(21)  # sync call from a coroutine

    assert asyncio.run(cell()) == 42


def test_the_pool_reuses_threads_across_calls() -> None:
    chain = fan(8, lambda x: x)
    chain.invoke(0)
    before = get_pool().size
    for _ in range(50):
        chain.invoke(0)
    assert get_pool().size <= before + 8


def test_batch_items_overlap(drive: Driver, virtual: Any) -> None:
    gauge = Gauge()
    out = RunnableLambda(gauge.sleeper(0.05)).batch(list(range(10)))
    assert out == list(range(10))
    assert gauge.peak == 10


def test_config_list_per_batch_item() -> None:
    seen: list[Any] = []

    def spy(x: int, config: dict[str, Any]) -> int:
        seen.append((x, config.get("metadata")))
        return x

    RunnableLambda(spy).batch([1, 2], [{"metadata": {"i": 1}}, {"metadata": {"i": 2}}])
    assert sorted(seen) == [(1, {"i": 1}), (2, {"i": 2})]
