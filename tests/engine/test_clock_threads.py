"""langchain_core's executors on the virtual clock: real langchain_core, real threads.

langchain_core runs branches, batch items and the sync code under ``ainvoke`` on
``ThreadPoolExecutor`` s it makes per call. ``chainlab.engine.clock_threads`` counts
their calls and waits, so its structure comes out exact: the slowest branch, waves of
``max_concurrency``, the first to finish first.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

import chainlab
from chainlab.engine.clock import VirtualClock
from chainlab.sim import FakeChatModel, set_time_scale

lc = pytest.importorskip("langchain_core.runnables")


@pytest.fixture
def clock() -> Any:
    with set_time_scale(1.0), chainlab.virtual_clock() as clock:
        yield clock


def nap(seconds: float) -> Any:
    def step(x: Any) -> float:
        chainlab.sleep(seconds)
        return seconds

    return lc.RunnableLambda(step, name=f"nap{seconds}")


def timed(clock: VirtualClock, run: Any) -> tuple[Any, float]:
    start = clock.now()
    out = run()
    return out, round(clock.now() - start, 9)


def test_invoke_takes_the_slowest_branch(clock: VirtualClock) -> None:
    chain = lc.RunnableParallel(a=nap(1), b=nap(2), c=nap(3))
    assert timed(clock, lambda: chain.invoke(0)) == ({"a": 1, "b": 2, "c": 3}, 3.0)


def test_nested_parallels_and_sequences(clock: VirtualClock) -> None:
    inner = lc.RunnableParallel(x=nap(1), y=nap(2))
    chain = lc.RunnableParallel(first=nap(0.5) | inner, second=nap(2.25))
    out, took = timed(clock, lambda: chain.invoke(0))
    assert out == {"first": {"x": 1, "y": 2}, "second": 2.25}
    assert took == 2.5


def test_batch_runs_in_waves_of_max_concurrency(clock: VirtualClock) -> None:
    """Eight 1 s items on 3 workers: waves of 3, 3, 2 = 3 s."""
    _, took = timed(clock, lambda: nap(1).batch(list(range(8)), config={"max_concurrency": 3}))
    assert took == 3.0


def test_the_default_pool_has_cpu_plus_4_workers(clock: VirtualClock) -> None:
    """langchain_core's default executor: min(32, CPUs + 4) threads, so 32 branches of
    1 s take ceil(32 / workers) seconds (the waves LC2.1.6 shows)."""
    workers = min(32, (os.cpu_count() or 1) + 4)
    chain = lc.RunnableParallel({f"b{i}": nap(1) for i in range(32)})
    _, took = timed(clock, lambda: chain.invoke(0))
    assert took == -(-32 // workers)


def test_batch_as_completed_yields_in_finishing_order(clock: VirtualClock) -> None:
    chain = lc.RunnableLambda(lambda s: (chainlab.sleep(s), s)[1])
    delays = [0.9, 0.2, 0.6, 0.3, 1.0]
    order, took = timed(clock, lambda: [i for i, _ in chain.batch_as_completed(delays)])
    assert order == [1, 3, 2, 0, 4]
    assert took == 1.0


def test_an_early_break_cancels_the_queued_calls_and_waits_for_the_running(
    clock: VirtualClock,
) -> None:
    """langchain_core cancels the calls not started and its executor's exit waits for
    the running ones. With 2 workers the first result comes at 1 s, when that worker
    has already taken the 3 s call: the break waits for it (until 4 s); the last three
    never start."""
    started: list[float] = []

    def step(s: float) -> float:
        started.append(s)
        chainlab.sleep(s)
        return s

    chain = lc.RunnableLambda(step)

    def first() -> int:
        for index, _ in chain.batch_as_completed([1, 2, 3, 4, 5, 6], config={"max_concurrency": 2}):
            return index
        raise AssertionError("no result")

    assert timed(clock, first) == (0, 4.0)
    assert sorted(started) == [1, 2, 3]


def test_stream_gives_each_branch_when_it_is_done(clock: VirtualClock) -> None:
    chain = lc.RunnableParallel(slow=nap(2), fast=nap(1))
    arrivals: list[tuple[str, float]] = []
    start = clock.now()
    for chunk in chain.stream(0):
        arrivals += [(key, clock.now() - start) for key in chunk]
    assert arrivals == [("fast", 1.0), ("slow", 2.0)]


def test_a_failing_branch_raises_after_its_siblings_under_invoke(clock: VirtualClock) -> None:
    """langchain_core's invoke waits for every sibling before it raises."""

    def boom(x: Any) -> Any:
        chainlab.sleep(0.5)
        raise ValueError("branch b failed")

    chain = lc.RunnableParallel(a=nap(3), b=lc.RunnableLambda(boom))
    start = clock.now()
    with pytest.raises(ValueError, match="branch b failed"):
        chain.invoke(0)
    assert clock.now() - start == 3.0


def test_sync_code_under_ainvoke_runs_on_a_followed_pool(clock: VirtualClock) -> None:
    """Sync lambdas under ainvoke go to run_in_executor: exact too, and the event loop
    goes on meanwhile (an async model beside them overlaps)."""
    chain = lc.RunnableParallel(a=nap(1), b=nap(2), model=FakeChatModel("m", latency=1.5))
    out, took = timed(clock, lambda: asyncio.run(chain.ainvoke("hi")))
    assert (out["a"], out["b"], took) == (1, 2, 2.0)


def test_chainlab_inside_langchain_inside_chainlab(clock: VirtualClock) -> None:
    inner = chainlab.RunnableParallel(
        x=FakeChatModel("x", latency=1), y=FakeChatModel("y", latency=2)
    )
    middle = lc.RunnableParallel(inner=inner, other=nap(1.5))
    outer = chainlab.RunnableParallel(middle=middle, alone=FakeChatModel("z", latency=0.5))
    _, took = timed(clock, lambda: outer.invoke("hi"))
    assert took == 2.0


def test_the_real_clock_is_untouched() -> None:
    """Outside a virtual clock the executors are langchain_core's own."""
    import concurrent.futures as cf

    chain = lc.RunnableParallel(a=lc.RunnableLambda(lambda x: x + 1), b=lc.RunnableLambda(str))
    assert chain.invoke(1) == {"a": 2, "b": "1"}
    from langchain_core.runnables.config import get_executor_for_config

    with get_executor_for_config({}) as executor:
        future = executor.submit(lambda: 7)
        assert type(future) is cf.Future
        assert future.result() == 7


def test_a_pool_made_by_hand_is_followed(clock: VirtualClock) -> None:
    """LC2.1.1's fan-out without LCEL: submit, then as_completed, then result()."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    model = {name: FakeChatModel(name, latency=s) for name, s in [("a", 1), ("b", 2.5)]}
    start = clock.now()
    order: list[float] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {pool.submit(m.invoke, "hi"): name for name, m in model.items()}
        for future in as_completed(futures):
            future.result()
            order.append(clock.now() - start)
    assert order == [1.0, 2.5]


def test_asyncio_to_thread_is_refused(clock: VirtualClock) -> None:
    """asyncio's default pool is not followed: a run started there is refused."""

    async def main() -> Any:
        return await asyncio.to_thread(FakeChatModel("m", latency=1).invoke, "hi")

    with pytest.raises(RuntimeError, match=r"asyncio\.to_thread"):
        asyncio.run(main())


@pytest.mark.parametrize("first", ["langchain_core", "chainlab"])
def test_chainlab_clock_virtual_whichever_is_imported_first(first: str) -> None:
    """With CHAINLAB_CLOCK=virtual, langchain_core is followed from its first call,
    whether it was imported before chainlab or after."""
    imports = ["import langchain_core.runnables as lc", "import chainlab"]
    if first == "chainlab":
        imports.reverse()
    code = "\n".join(
        [
            *imports,
            "def nap(s):",
            "    return lc.RunnableLambda(lambda x: (chainlab.sleep(s), s)[1])",
            "chain = lc.RunnableParallel(a=nap(20), b=nap(30), c=nap(10))",
            "with chainlab.stopwatch() as watch:",
            "    chain.invoke(0)",
            "print(watch.seconds)",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "CHAINLAB_CLOCK": "virtual"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["30.0"]


def test_many_runs_leave_no_thread_and_no_busy_count(clock: VirtualClock) -> None:
    before = threading.active_count()
    chain = lc.RunnableParallel(a=nap(1), b=nap(2))
    for _ in range(20):
        assert timed(clock, lambda: chain.invoke(0))[1] == 2.0
    assert clock.busy == 0
    assert threading.active_count() <= before + 2


def test_a_sleep_on_an_event_loops_thread_blocks_the_loop_and_jumps(clock: VirtualClock) -> None:
    # Jupyter runs a cell on its event loop's thread: a sync call there (a LangChain
    # retriever's invoke, chainlab.sleep) must not wait for the loop it blocks.
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(clock.now())
            await chainlab.asleep(0.1)

    async def cell() -> float:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)  # the ticker takes its first tick
        _, took = timed(clock, lambda: lc.RunnableParallel(a=nap(1), b=nap(2)).invoke(0))
        _, alone = timed(clock, lambda: chainlab.sleep(0.5))
        task.cancel()
        assert len(ticks) == 1  # the loop was blocked: no tick ran meanwhile
        return took + alone

    assert asyncio.run(cell()) == 2.5
