"""Cancellation reaches every kind of leaf, and giving up on a call never breaks the
concurrency limit: async functions under ``invoke`` are cancelled like under
``ainvoke``, a sync function abandoned under ``ainvoke`` keeps its slot until it really
ends, and async work nested inside async work under ``invoke`` never deadlocks."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel


class Boom(Exception):
    pass


def plain_async_sleeper(events: list[str], seconds: float = 1.0) -> Any:
    """An ``async def`` that knows nothing of chainlab (no chainlab.asleep)."""

    async def slow(x: Any) -> Any:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("finished")
        return x

    return slow


def wait_for(predicate: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_fail_fast_cancels_an_async_sibling_running_under_invoke() -> None:
    events: list[str] = []

    def bad(_: Any) -> None:
        time.sleep(0.05)
        raise Boom("bad")

    start = time.perf_counter()
    with pytest.raises(Boom):
        RunnableParallel(slow=plain_async_sleeper(events), bad=bad).invoke(1)
    assert time.perf_counter() - start < 0.8  # it did not wait for the 1 s sibling
    assert wait_for(lambda: events == ["cancelled"], 2.0), events
    time.sleep(1.2)  # had it not been cancelled, it would have finished by now
    assert events == ["cancelled"]


def test_timeout_cancels_an_async_leaf_under_invoke() -> None:
    events: list[str] = []
    with pytest.raises(TimeoutError, match=r"timed out after 0\.1 s"):
        RunnableLambda(plain_async_sleeper(events)).with_timeout(0.1).invoke(1)
    assert wait_for(lambda: events == ["cancelled"], 2.0), events
    assert wait_for(lambda: chainlab.abandoned_calls() == 0)


def test_async_leaf_invoking_async_work_under_invoke_does_not_hang() -> None:
    """The async leaf blocks its private loop's thread while it waits for the inner
    ``invoke``: the inner coroutine must run on another loop, not queue behind it."""

    async def plus_one(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    inner = RunnableLambda(plus_one)

    async def outer(x: int) -> int:
        return inner.invoke(x) * 10  # sync call from async code (works, though blocking)

    async def deeper(x: int) -> int:
        return RunnableLambda(outer).invoke(x) + 1

    box: dict[str, Any] = {}

    def run() -> None:
        box["outer"] = RunnableLambda(outer).invoke(1)
        box["deeper"] = RunnableLambda(deeper).invoke(1)
        box["after"] = inner.invoke(5)  # the private loop is still usable afterwards

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "an async leaf calling invoke on async work hung"
    assert box == {"outer": 20, "deeper": 21, "after": 6}


class Gauge:
    """Counts the calls of ``work`` running at once, really (not as the engine thinks)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def work(self, x: Any) -> Any:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.seconds)  # not cooperative: a blocking client call
        finally:
            with self.lock:
                self.now -= 1
        return x


@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_a_timed_out_sync_call_keeps_its_slot_until_its_thread_ends(driver: str) -> None:
    gauge = Gauge(0.3)
    parallel = RunnableParallel(
        slow=RunnableLambda(gauge.work).with_timeout(0.05), a=gauge.work, b=gauge.work
    ).with_partial_results()
    config = {"max_concurrency": 1}
    if driver == "invoke":
        out = parallel.invoke(1, config)
    else:
        out = asyncio.run(parallel.ainvoke(1, config))
    assert isinstance(out["slow"], chainlab.BranchError)
    assert isinstance(out["slow"].exception, TimeoutError)
    assert (out["a"], out["b"]) == (1, 1)
    assert gauge.peak == 1  # the abandoned thread still counted against the limit
    assert wait_for(lambda: chainlab.abandoned_calls() == 0)


def test_a_sync_call_abandoned_under_ainvoke_is_counted_until_it_ends() -> None:
    release = threading.Event()

    def blocked(x: Any) -> Any:
        release.wait(5)
        return x

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await RunnableLambda(blocked).with_timeout(0.05).ainvoke(1)

    asyncio.run(main())
    assert chainlab.abandoned_calls() == 1  # its thread is still in blocked()
    release.set()
    assert wait_for(lambda: chainlab.abandoned_calls() == 0)
