"""Abandoned calls never slow healthy work: they leave the pool, are counted (also
after Ctrl-C), and once they use up their budget new runs fail at once, naming them."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine import abandon
from chainlab.engine.pool import get_pool
from tests.engine.helpers import wait_until


@pytest.fixture
def hung() -> Iterator[Any]:
    """A backend that never answers (until the test ends), ignoring cancellation."""
    release = threading.Event()

    def hung_backend(x: Any) -> Any:
        hung_backend.started.append(x)  # type: ignore[attr-defined]
        release.wait(60)
        return x

    hung_backend.started = []  # type: ignore[attr-defined]
    yield hung_backend
    release.set()
    assert wait_until(lambda: chainlab.abandoned_calls() == 0, timeout=20)


@pytest.fixture
def cap8() -> Iterator[None]:
    pool = get_pool()
    before, pool.max_threads = pool.max_threads, 8
    yield
    pool.max_threads = before


@pytest.mark.timeout(60)
def test_abandoned_calls_do_not_hold_the_pool(hung: Any, cap8: None) -> None:
    """20 hung calls abandoned at a cap of 8, then 40 guarded quick calls: they used to
    queue behind the abandoned threads (37.6 s instead of 0.5 s in the report)."""
    before = get_pool().size  # idle threads an earlier test left (a selection's order)
    guarded = RunnableLambda(hung).with_timeout(0.2)
    out = guarded.batch(list(range(20)), return_exceptions=True)
    assert all(isinstance(e, TimeoutError) for e in out)
    # every call that started is abandoned (on a busy machine a queued item can time out
    # before it starts: it never runs, so it is not abandoned); more than the cap of 8
    # started, so the abandoned threads did not hold the pool
    assert chainlab.abandoned_calls() == len(hung.started) > 8
    # the abandoned threads are not the pool's any more
    assert get_pool().size <= max(before, 8) + 1
    quick = RunnableLambda(lambda x: x + 1).with_timeout(5)
    assert quick.batch(list(range(40))) == list(range(1, 41))
    assert RunnableParallel(a=str, b=str).invoke(1) == {"a": "1", "b": "1"}


@pytest.mark.timeout(60)
def test_a_used_up_budget_fails_new_runs_at_once_naming_the_work(
    hung: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(abandon, "MAX_ABANDONED", 5)
    guarded = RunnableLambda(hung, name="hung_backend").with_timeout(0.1)
    out = guarded.batch(list(range(5)), return_exceptions=True)
    assert all(isinstance(e, TimeoutError) for e in out)
    assert chainlab.abandoned_calls() == 5
    started = time.monotonic()
    with pytest.raises(abandon.AbandonedWorkError) as info:
        RunnableLambda(str).invoke(1)
    with pytest.raises(abandon.AbandonedWorkError):
        asyncio.run(RunnableLambda(str).ainvoke(1))
    assert time.monotonic() - started < 5  # at once, not after a crawl
    message = str(info.value)
    assert "5 abandoned calls are still running" in message
    assert "hung_backend" in message
    assert "CHAINLAB_MAX_ABANDONED=5" in message
    paths = sorted(path for path, _ in abandon.abandoned_work())
    assert paths == [f"hung_backend[{i}]" for i in range(5)]


def interrupt_when(ready: Any) -> None:
    """Send SIGINT (what Ctrl-C does) to this process once ``ready()``."""

    def send() -> None:
        assert wait_until(ready, timeout=20)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()


@pytest.mark.timeout(60)
def test_after_ctrl_c_stubborn_calls_are_counted_as_abandoned() -> None:
    release = threading.Event()
    inside = []

    ended = []

    def stubborn(x: Any) -> Any:
        inside.append(x)
        try:
            release.wait(30)  # ignores the cancellation
        finally:  # a call the waiting caller ran itself ends with the KeyboardInterrupt
            ended.append(x)
        return x

    chain = RunnableParallel({f"s{i}": stubborn for i in range(5)})
    interrupt_when(lambda: len(inside) == 5)
    with pytest.raises(KeyboardInterrupt):
        chain.invoke(1)
    running = 5 - len(ended)  # on a busy machine the caller may have run one itself
    assert running >= 4
    assert chainlab.abandoned_calls() == running  # it read 0 while 5 threads still ran
    paths = sorted(path for path, _ in abandon.abandoned_work())
    assert len(paths) == running
    release.set()
    assert wait_until(lambda: chainlab.abandoned_calls() == 0, timeout=20)


@pytest.mark.timeout(60)
def test_ctrl_c_heals_a_jam(cap8: None) -> None:
    """A map of 16 stubborn calls on a pool capped at 8, interrupted: the next run
    works at once (it used to hang in that process)."""
    release = threading.Event()
    inside = []

    def stubborn(x: Any) -> Any:
        inside.append(x)
        release.wait(30)
        return x

    # 9 inside: the cap's 8 pool threads and the caller, which runs calls itself when
    # the pool has no thread to give (at most one of the 9 is the caller)
    interrupt_when(lambda: len(inside) >= 9)
    try:
        with pytest.raises(KeyboardInterrupt):
            RunnableLambda(stubborn).map().invoke(list(range(16)))
        assert RunnableParallel(a=str, b=str).invoke(1) == {"a": "1", "b": "1"}
        assert RunnableLambda(str).batch(list(range(20))) == [str(i) for i in range(20)]
        assert chainlab.abandoned_calls() >= 8
    finally:
        release.set()
    assert wait_until(lambda: chainlab.abandoned_calls() == 0, timeout=20)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["astream", "abatch_as_completed"])
def test_two_failures_at_once_are_retrieved_and_noted(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No "Task exception was never retrieved"; the second failure is a note."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    arrived: list[Any] = []

    async def fail(x: Any) -> Any:
        # both fail before the consumer hears of either: the second to arrive sets the
        # event and raises in the same step; the first's wake-up was queued before the
        # second's end was announced, so it raises before the consumer runs again
        arrived.append(x)
        if len(arrived) == 2:
            both.set()
        await both.wait()
        raise ValueError(f"failure {x}")

    both: asyncio.Event

    async def main() -> BaseException:
        nonlocal both
        both = asyncio.Event()
        try:
            if how == "astream":
                chain = RunnableParallel(
                    a=RunnableLambda(lambda x: "a") | fail, b=RunnableLambda(lambda x: "b") | fail
                )
                async for _ in chain.astream(1):
                    pass
            else:
                async for _ in RunnableLambda(fail).abatch_as_completed(["a", "b"]):
                    pass
        except ValueError as exc:
            return exc
        raise AssertionError("no failure")

    error = asyncio.run(main())
    gc.collect()  # an unretrieved task exception is logged when the task is collected
    notes = getattr(error, "__notes__", [])
    other = "b" if "failure a" in str(error) else "a"
    assert any(f"failure {other}" in note for note in notes), notes
    assert "never retrieved" not in caplog.text
