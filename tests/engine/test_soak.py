"""Soak: a thousand runs with random failures and timeouts in one process. Threads and
memory return to their baseline, no task is left pending, nothing is destroyed pending."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
import time
import tracemalloc
from typing import Any

import psutil
import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.pool import get_pool
from tests.engine.helpers import wait_until

pytestmark = pytest.mark.slow


def make_chain(rng: random.Random) -> Any:
    def leaf(i: int) -> Any:
        roll = rng.random()
        if roll < 0.15:

            def fail(x: Any) -> Any:
                chainlab.sleep(0.001)
                raise ValueError(f"leaf {i}")

            return RunnableLambda(fail)
        if roll < 0.25:
            return RunnableLambda(lambda x: chainlab.sleep(0.2) or x).with_timeout(0.002)
        if roll < 0.30:  # cannot be stopped: abandoned at the deadline, ends on its own
            return RunnableLambda(lambda x: time.sleep(0.01) or x).with_timeout(0.002)
        if roll < 0.40:  # plain asyncio code: under invoke it runs on the private loop

            async def stall(x: Any) -> Any:
                await asyncio.sleep(0.2)
                return x

            return RunnableLambda(stall).with_timeout(0.002)

        async def nap(x: Any) -> Any:
            await chainlab.asleep(0.001)
            return x

        return RunnableLambda(lambda x: chainlab.sleep(0.001) or x, nap)

    inner = RunnableParallel({f"l{i}": leaf(i) for i in range(4)})
    par = RunnableParallel(a=inner, b=leaf(9), c=RunnableLambda(lambda x: [x, x]) | leaf(8).map())
    return par.with_partial_results() if rng.random() < 0.5 else par


def run_many(n: int, seed: int) -> None:
    rng = random.Random(seed)

    async def arun(chain: Any) -> None:
        try:
            await chain.ainvoke(1)
        except (ValueError, TimeoutError):
            pass
        await asyncio.sleep(0)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert pending == [], pending

    for i in range(n):
        chain = make_chain(rng)
        if i % 2:
            asyncio.run(arun(chain))
        else:
            try:
                chain.invoke(1)
            except (ValueError, TimeoutError):
                pass


def settle() -> None:
    deadline = time.monotonic() + 3
    while chainlab.abandoned_calls() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    gc.collect()


def test_thousand_runs_leave_nothing_behind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    run_many(200, seed=1)  # warm up: the pool grows to its working size
    settle()
    working_before = working_threads()
    rss_before = psutil.Process().memory_info().rss
    run_many(1000, seed=2)
    settle()
    rss_after = psutil.Process().memory_info().rss
    # a busy machine may grow the pool (idle threads retire after 30 s); a thread that
    # is neither idle in the pool nor there before is a leak
    assert wait_until(lambda: working_threads() <= working_before), (
        f"{working_threads()} threads are not idle, {working_before} before the runs"
    )
    assert rss_after <= rss_before * 1.1, f"RSS grew from {rss_before} to {rss_after}"
    # then where memory goes, object by object (tracemalloc costs RSS itself), over two
    # windows: a leak grows in both; a busy machine may grow the pool (threads and
    # their objects) in one, once
    growths = [traced_growth(300, seed) for seed in (3, 4)]
    assert min(growths) < 1_000_000, f"memory grew by {growths} bytes in two 300-run windows"
    assert chainlab.abandoned_calls() == 0
    assert "Task was destroyed but it is pending" not in caplog.text
    assert "never retrieved" not in caplog.text
    assert private_loop_tasks() == []  # async leaves run under invoke all ended


def working_threads() -> int:
    """Threads alive that are not waiting idle in the engine's pool."""
    return threading.active_count() - get_pool().idle


def traced_growth(runs: int, seed: int) -> int:
    """Bytes still allocated after ``runs`` more runs than before them (tracemalloc)."""
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    run_many(runs, seed=seed)
    settle()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def private_loop_tasks() -> list[asyncio.Task[Any]]:
    """The tasks still pending on chainlab's private loop (async leaves under invoke)."""
    from chainlab.engine.leaf import private_loop

    loop = private_loop()

    async def others() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    return asyncio.run_coroutine_threadsafe(others(), loop).result(timeout=5)
