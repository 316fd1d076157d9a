"""The Limiter (one FIFO semaphore for threads and event loops) and the ElasticPool
(grow on demand, retire when idle), driven directly with real threads and loops."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.limiter import Limiter
from chainlab.engine.pool import ElasticPool
from tests.engine.helpers import Gauge, LoopThread, Recorder, wait_until


def queued(limiter: Limiter) -> int:
    """Waiters in the limiter's queue (the tests enqueue them one at a time)."""
    return len(limiter._waiters)


def thread_taker(limiter: Limiter, order: Recorder, tag: Any) -> threading.Thread:
    """A thread that takes a slot, notes ``tag`` and gives the slot back."""

    def take() -> None:
        limiter.acquire()
        order.add(tag)
        limiter.release()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


async def async_take(limiter: Limiter, order: Recorder, tag: Any) -> None:
    await limiter.aacquire()
    order.add(tag)
    limiter.release()


# -- Limiter -------------------------------------------------------------------------------


def test_thread_waiters_are_served_in_arrival_order() -> None:
    limiter = Limiter(1)
    limiter.acquire()
    order = Recorder()
    threads = []
    for i in range(6):
        threads.append(thread_taker(limiter, order, i))
        assert wait_until(lambda n=i + 1: queued(limiter) == n)  # type: ignore[misc]
    assert order.snapshot() == []  # nobody got in while the slot was held
    limiter.release()
    for thread in threads:
        thread.join(5)
    assert order.snapshot() == list(range(6))
    assert limiter.in_use == 0


def test_thread_and_async_waiters_on_two_loops_share_one_fifo() -> None:
    limiter = Limiter(1)
    limiter.acquire()
    order = Recorder()
    kinds = ["thread", "loop-a", "loop-b", "thread", "loop-b", "loop-a", "thread"]
    with LoopThread("loop-a") as a, LoopThread("loop-b") as b:
        pending: list[Any] = []
        for i, kind in enumerate(kinds):
            if kind == "thread":
                pending.append(thread_taker(limiter, order, i))
            else:
                loop = a if kind == "loop-a" else b
                pending.append(loop.submit(async_take(limiter, order, i)))
            assert wait_until(lambda n=i + 1: queued(limiter) == n)  # type: ignore[misc]
        limiter.release()
        for item in pending:
            if isinstance(item, threading.Thread):
                item.join(5)
            else:
                item.result(5)
    assert order.snapshot() == list(range(len(kinds)))
    assert limiter.in_use == 0


def test_a_limit_of_n_admits_n_and_queues_the_rest() -> None:
    limiter = Limiter(3)
    gauge = Gauge()
    go = threading.Event()

    def work() -> None:
        limiter.acquire()
        try:
            with gauge:
                go.wait(5)
        finally:
            limiter.release()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: gauge.now == 3 and queued(limiter) == 5)
    assert limiter.in_use == 3
    go.set()
    for thread in threads:
        thread.join(5)
    assert gauge.calls == 8
    assert gauge.peak == 3
    assert limiter.in_use == 0


def test_a_cancelled_async_waiter_leaves_no_trace() -> None:
    limiter = Limiter(1)
    limiter.acquire()
    with LoopThread() as lt:
        waiting = lt.submit(limiter.aacquire())
        assert wait_until(lambda: queued(limiter) == 1)
        waiting.cancel()  # cancels the task on its loop
        assert wait_until(lambda: queued(limiter) == 0)
        assert limiter.in_use == 1  # still only the holder's slot
        limiter.release()
        assert limiter.in_use == 0
        lt.submit(limiter.aacquire()).result(2)  # a free slot is taken at once
        assert limiter.in_use == 1
        limiter.release()
    assert limiter.in_use == 0


def test_a_slot_handed_over_as_an_async_waiter_gives_up_is_passed_on() -> None:
    async def main() -> tuple[int, int]:
        limiter = Limiter(1)
        await limiter.aacquire()
        got_it = asyncio.Event()
        done = asyncio.Event()

        async def second() -> None:
            await limiter.aacquire()
            got_it.set()
            await done.wait()
            limiter.release()

        first = asyncio.create_task(limiter.aacquire())
        later = asyncio.create_task(second())
        while queued(limiter) < 2:
            await asyncio.sleep(0)
        limiter.release()  # the slot goes to `first` (its wake-up is scheduled) ...
        assert queued(limiter) == 1
        first.cancel()  # ... which gives up in the same loop turn
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.wait_for(got_it.wait(), 2)  # the slot went on to `second`
        holding = limiter.in_use
        done.set()
        await later
        return holding, limiter.in_use

    assert asyncio.run(main()) == (1, 0)


@pytest.fixture
def main_thread_only() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")


def interrupt_main_when(predicate: Any, signum: int = signal.SIGINT) -> threading.Thread:
    """Send ``signum`` to the main thread once ``predicate()`` holds (what Ctrl-C does)."""
    main = threading.main_thread().ident
    assert main is not None

    def fire() -> None:
        if wait_until(predicate):
            signal.pthread_kill(main, signum)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


@pytest.mark.usefixtures("main_thread_only")
def test_ctrl_c_while_waiting_for_a_slot_takes_the_waiter_out() -> None:
    limiter = Limiter(1)
    holder_go = threading.Event()

    def holder() -> None:
        limiter.acquire()
        holder_go.wait(5)
        limiter.release()

    hold = threading.Thread(target=holder, daemon=True)
    hold.start()
    assert wait_until(lambda: limiter.in_use == 1)
    interrupter = interrupt_main_when(lambda: queued(limiter) == 1)
    with pytest.raises(KeyboardInterrupt):
        limiter.acquire()
    interrupter.join(5)
    assert queued(limiter) == 0
    assert limiter.in_use == 1  # the holder's: the interrupted waiter took nothing
    holder_go.set()
    hold.join(5)
    assert limiter.in_use == 0


@pytest.mark.usefixtures("main_thread_only")
def test_a_slot_handed_over_as_ctrl_c_arrives_is_passed_to_the_next_waiter() -> None:
    limiter = Limiter(1)
    limiter.acquire()  # the main thread holds the only slot
    order = Recorder()
    release_next = threading.Event()

    def next_waiter() -> None:
        limiter.acquire()
        order.add("next")
        release_next.wait(5)
        limiter.release()

    def handover_then_interrupt(signum: int, frame: Any) -> None:
        limiter.release()  # hands the held slot to the main thread's pending acquire ...
        raise KeyboardInterrupt  # ... which is interrupted at that very moment

    previous = signal.signal(signal.SIGUSR1, handover_then_interrupt)
    try:

        def enqueue_next_then_signal() -> None:
            assert wait_until(lambda: queued(limiter) == 1)  # main waits first
            threading.Thread(target=next_waiter, daemon=True).start()
            assert wait_until(lambda: queued(limiter) == 2)
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGUSR1)

        helper = threading.Thread(target=enqueue_next_then_signal, daemon=True)
        helper.start()
        with pytest.raises(KeyboardInterrupt):
            limiter.acquire()
        helper.join(5)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert wait_until(lambda: order.snapshot() == ["next"])
    assert limiter.in_use == 1  # exactly the one slot, now with the next waiter
    assert queued(limiter) == 0
    release_next.set()
    assert wait_until(lambda: limiter.in_use == 0)


def test_a_waiter_on_a_closed_loop_is_skipped_and_never_returns_a_slot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="asyncio")  # "Task was destroyed" below
    limiter = Limiter(1)
    limiter.acquire()
    loop = asyncio.new_event_loop()

    async def enqueue() -> asyncio.Task[None]:
        task = asyncio.ensure_future(limiter.aacquire())
        await asyncio.sleep(0)
        return task

    orphan = loop.run_until_complete(enqueue())
    loop.close()  # its loop is gone while it still waits
    order = Recorder()
    thread = thread_taker(limiter, order, "thread")
    assert wait_until(lambda: queued(limiter) == 2)
    limiter.release()  # skips the dead waiter, serves the thread
    thread.join(5)
    assert order.snapshot() == ["thread"]
    assert limiter.in_use == 0
    del orphan
    gc.collect()  # the orphan's coroutine is closed now: it must not give back a slot
    assert limiter.in_use == 0
    limiter.acquire()
    assert limiter.in_use == 1
    blocked = threading.Thread(target=limiter.acquire, daemon=True)
    blocked.start()
    assert wait_until(lambda: queued(limiter) == 1)  # the limit of 1 still holds
    limiter.release()
    blocked.join(5)
    limiter.release()
    assert limiter.in_use == 0


def test_limiter_bounds_a_run_mixing_sync_and_async_leaves_under_both_drivers(virtual: Any) -> None:
    gauge = Gauge()
    par = RunnableParallel(
        {f"s{i}": gauge.sleeper(0.01) for i in range(4)}
        | {f"a{i}": gauge.asleeper(0.01) for i in range(4)}
    )
    par.invoke(0, {"max_concurrency": 2})
    asyncio.run(par.ainvoke(0, {"max_concurrency": 2}))
    assert gauge.calls == 16
    assert gauge.peak == 2


# -- ElasticPool ---------------------------------------------------------------------------


@pytest.fixture
def make_pool() -> Iterator[Any]:
    """Private pools; their threads are told to exit when the test ends."""
    pools: list[ElasticPool] = []

    def make(**kwargs: Any) -> ElasticPool:
        pool = ElasticPool(**kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        for _ in range(pool.size):
            pool._work.put(None)  # a None item makes one worker exit
        assert wait_until(lambda p=pool: p.size == 0)  # type: ignore[misc]


def test_the_pool_grows_only_when_no_thread_is_idle(make_pool: Any) -> None:
    pool = make_pool(idle_timeout=30)
    assert pool.size == 0
    gate = threading.Event()
    first = [pool.submit(gate.wait, 5) for _ in range(2)]
    assert pool.size == 2  # both busy: the second piece of work needed a new thread
    gate.set()
    assert all(f.result(5) for f in first)
    assert wait_until(lambda: pool.idle == 2)
    for _ in range(10):  # one at a time: an idle thread takes each
        assert pool.submit(sum, [1, 2]).result(5) == 3
    assert pool.size == 2
    assert wait_until(lambda: pool.idle == 2)  # the last worker counts itself idle again
    gate2 = threading.Event()
    busy = [pool.submit(gate2.wait, 5) for _ in range(3)]
    assert pool.size == 3  # two idle threads took two, the third needed a thread
    gate2.set()
    assert all(f.result(5) for f in busy)


def test_idle_threads_retire_after_idle_timeout(make_pool: Any) -> None:
    pool = make_pool(idle_timeout=0.05)
    barrier = threading.Barrier(4, timeout=5)
    futures = [pool.submit(barrier.wait) for _ in range(4)]
    assert sorted(f.result(5) for f in futures) == [0, 1, 2, 3]
    assert pool.size == 4
    assert wait_until(lambda: pool.size == 0)
    assert pool.idle == 0
    assert pool.submit(str.upper, "again").result(5) == "AGAIN"  # it grows back
    assert wait_until(lambda: pool.size == 0)


def test_submit_futures_carry_results_and_exceptions(make_pool: Any) -> None:
    pool = make_pool(idle_timeout=1)

    def boom() -> None:
        raise ValueError("boom")

    def interrupt() -> None:
        raise KeyboardInterrupt

    assert pool.submit(divmod, 17, 5).result(5) == (3, 2)
    error = pool.submit(boom).exception(5)
    assert isinstance(error, ValueError)
    assert error.args == ("boom",)
    assert isinstance(pool.submit(interrupt).exception(5), KeyboardInterrupt)
    assert pool.submit(lambda: None).result(5) is None  # the pool survived all that


def test_a_future_cancelled_before_it_runs_never_runs(make_pool: Any) -> None:
    pool = make_pool(max_threads=1, idle_timeout=1)
    gate = threading.Event()
    ran = Recorder()
    blocker = pool.submit(gate.wait, 5)
    queued_future: Future[None] = pool.submit(ran.add, "queued")
    assert queued_future.cancel()
    gate.set()
    assert blocker.result(5)
    assert pool.submit(ran.add, "after").result(5) is None
    assert ran.snapshot() == ["after"]


def test_max_threads_queues_work_instead_of_failing(make_pool: Any) -> None:
    pool = make_pool(max_threads=2, idle_timeout=1)
    gauge = Gauge()
    futures = [pool.submit(gauge.sleeper(0.01), i) for i in range(12)]
    assert pool.size <= 2
    assert [f.result(5) for f in futures] == list(range(12))
    assert gauge.calls == 12
    assert gauge.peak <= 2
    assert pool.size <= 2


def test_work_submitted_from_pool_threads_completes(make_pool: Any) -> None:
    pool = make_pool(idle_timeout=1)

    def fan(depth: int, value: int) -> int:
        if depth == 0:
            return value
        children = [pool.submit(fan, depth - 1, value * 4 + i) for i in range(4)]
        return sum(f.result(10) for f in children)

    expected = sum(range(64))  # the leaves are 0..63, each exactly once
    assert pool.submit(fan, 3, 0).result(10) == expected


def test_nested_fan_outs_from_inside_branches_complete(make_pool: Any) -> None:
    inner = RunnableParallel({f"i{k}": (lambda x, k=k: x * 10 + k) for k in range(6)})

    def outer(x: int) -> int:
        nested = inner.invoke(x)  # a fan-out started from a pool thread
        batched = RunnableLambda(lambda v: v + 1).batch(list(nested.values()))
        return sum(batched)

    tree = RunnableParallel({f"o{j}": RunnableLambda(outer) for j in range(8)})
    out = tree.invoke(1)
    per_branch = sum(10 + k + 1 for k in range(6))
    assert out == {f"o{j}": per_branch for j in range(8)}
    assert asyncio.run(tree.ainvoke(1)) == out
