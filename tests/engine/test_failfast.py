"""Fail fast, and leave nothing behind: the first failure raises at once, queued work
never starts, cooperative work stops, and no thread or task keeps running."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from tests.conftest import Driver


class Boom(Exception):
    pass


def fails_after(seconds: float) -> Any:
    def fail(x: Any) -> Any:
        time.sleep(seconds)
        raise Boom("branch failed")

    return fail


def test_raises_without_waiting_for_a_slow_sibling(drive: Driver) -> None:
    release = threading.Event()

    def slow(x: Any) -> Any:  # not cooperative: it ignores cancellation
        release.wait(5)
        return x

    par = RunnableParallel(slow=slow, fail=fails_after(0.05))
    start = time.perf_counter()
    with pytest.raises(Boom):
        drive(par, 1)
    elapsed = time.perf_counter() - start
    release.set()
    assert elapsed < 2.0  # the sibling would have held us for 5 s


def test_cooperative_siblings_stop_early(drive: Driver) -> None:
    stopped = threading.Event()

    def patient(x: Any) -> Any:
        try:
            chainlab.sleep(5)
        except chainlab.Cancelled:
            stopped.set()
            raise
        return x

    with pytest.raises(Boom):
        drive(RunnableParallel(patient=patient, fail=fails_after(0.02)), 1)
    assert stopped.wait(2), "the cooperative branch was not told to stop"


def test_cancelled_flag_is_visible_to_user_code(drive: Driver) -> None:
    saw_cancel = threading.Event()

    def polling(x: Any) -> Any:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if chainlab.cancelled():
                saw_cancel.set()
                return None
            time.sleep(0.005)
        return x

    with pytest.raises(Boom):
        drive(RunnableParallel(poll=polling, fail=fails_after(0.02)), 1)
    assert saw_cancel.wait(2)


def test_branches_not_started_never_start() -> None:
    started: list[int] = []

    def record(i: int) -> Any:
        def step(x: Any) -> Any:
            started.append(i)
            time.sleep(0.02)
            return x

        return step

    def fail(x: Any) -> Any:
        raise Boom("first branch fails at once")

    branches = {
        "fail": RunnableLambda(fail),
        **{f"b{i}": RunnableLambda(record(i)) for i in range(20)},
    }
    with pytest.raises(Boom):
        RunnableParallel(branches).invoke(0, {"max_concurrency": 1})
    time.sleep(0.1)
    assert started == []


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_batch_after_a_failure_starts_no_queued_item(limit: int, virtual: Any) -> None:
    """On the virtual clock: item 0 fails at exactly 0.05 s, while the rest of its
    window is running (their 0.5 s ends later), and no queued item ever starts."""
    started: list[int] = []

    def work(x: int) -> int:
        started.append(x)
        if x == 0:
            chainlab.sleep(0.05)  # the others of the first window are running by now
            raise Boom("item 0")
        chainlab.sleep(0.5)
        return x

    begun = virtual.now()
    with pytest.raises(Boom):
        RunnableLambda(work).batch(list(range(30)), {"max_concurrency": limit})
    assert round(virtual.now() - begun, 9) == 0.05
    chainlab.sleep(0.6)  # virtual: later than any item of the window could have ended
    assert sorted(started) == list(range(limit))  # only the first window ever started


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_abatch_after_a_failure_starts_no_queued_item(limit: int, virtual: Any) -> None:
    started: list[int] = []

    async def work(x: int) -> int:
        started.append(x)
        if x == 0:
            await chainlab.asleep(0.05)
            raise Boom("item 0")
        await chainlab.asleep(0.5)
        return x

    begun = virtual.now()
    with pytest.raises(Boom):
        asyncio.run(RunnableLambda(work).abatch(list(range(30)), {"max_concurrency": limit}))
    assert round(virtual.now() - begun, 9) == 0.05
    assert sorted(started) == list(range(limit))


@pytest.mark.parametrize("limit", [1, 2])
def test_a_branch_failing_at_once_starts_no_queued_sibling(drive: Driver, limit: int) -> None:
    """Even a branch that fails before it ever awaits: the slot it frees must not let a
    sibling start before the parallel has heard of the failure."""
    started: list[int] = []

    def branch(i: int) -> Any:
        async def run(x: int) -> int:
            started.append(i)
            if i == 0:
                raise Boom("branch 0")
            await asyncio.sleep(0.05)
            return x

        return run

    parallel = RunnableParallel({f"b{i}": branch(i) for i in range(6)})
    with pytest.raises(Boom):
        drive(parallel, 1, {"max_concurrency": limit})
    time.sleep(0.1)
    assert started[0] == 0
    assert len(started) <= limit  # 0, plus at most the siblings that held the other slots


def test_batch_return_exceptions_keeps_every_result() -> None:
    def maybe(x: int) -> int:
        if x % 3 == 0:
            raise Boom(str(x))
        return x

    out = RunnableLambda(maybe).batch(list(range(7)), return_exceptions=True)
    assert [type(o).__name__ if isinstance(o, Exception) else o for o in out] == [
        "Boom",
        1,
        2,
        "Boom",
        4,
        5,
        "Boom",
    ]
    aout = asyncio.run(RunnableLambda(maybe).abatch(list(range(7)), return_exceptions=True))
    assert [isinstance(o, Boom) for o in aout] == [isinstance(o, Boom) for o in out]


def test_ainvoke_cancels_sibling_tasks() -> None:
    cancelled: list[str] = []

    async def slow(x: Any) -> Any:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise
        return x

    async def fail(x: Any) -> Any:
        await asyncio.sleep(0.01)
        raise Boom("async")

    async def main() -> None:
        with pytest.raises(Boom):
            await RunnableParallel(slow=slow, fail=fail).ainvoke(1)
        await asyncio.sleep(0.05)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert pending == []

    asyncio.run(main())
    assert cancelled == ["slow"]


def test_no_thread_runs_user_code_after_the_run_settles() -> None:
    active = threading.Event()
    running = [0]
    lock = threading.Lock()

    def cooperative(x: Any) -> Any:
        with lock:
            running[0] += 1
        active.set()
        try:
            chainlab.sleep(2)
        finally:
            with lock:
                running[0] -= 1
        return x

    par = RunnableParallel({f"c{i}": cooperative for i in range(10)}, fail=fails_after(0.05))
    with pytest.raises(Boom):
        par.invoke(0)
    deadline = time.monotonic() + 2
    while running[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert active.is_set()
    assert running[0] == 0


def test_stream_yields_chunks_as_branches_finish(drive: Driver) -> None:
    def after(seconds: float, value: str) -> Any:
        def step(x: Any) -> str:
            time.sleep(seconds)
            return value

        return step

    par = RunnableParallel(slow=after(0.15, "s"), fast=after(0.0, "f"))
    chunks = list(par.stream(None))
    assert chunks == [{"fast": "f"}, {"slow": "s"}]

    async def collect() -> list[Any]:
        return [c async for c in par.astream(None)]

    assert asyncio.run(collect()) == [{"fast": "f"}, {"slow": "s"}]


def test_stream_of_a_sequence_streams_its_last_step() -> None:
    chain = RunnableLambda(lambda x: x + 1) | RunnableParallel(a=lambda x: x, b=lambda x: -x)
    merged: dict[str, Any] = {}
    for chunk in chain.stream(1):
        assert len(chunk) == 1
        merged.update(chunk)
    assert merged == {"a": 2, "b": -2}


def test_stream_of_a_leaf_yields_its_output_once() -> None:
    assert list(RunnableLambda(lambda x: x * 2).stream(4)) == [8]


def test_stream_error_names_the_branch() -> None:
    par = RunnableParallel(ok=lambda x: x, bad=fails_after(0.01))
    with pytest.raises(Boom) as info:
        list(par.stream(1))
    assert "in branch 'bad'" in info.value.__notes__[0]


def test_batch_as_completed_yields_in_finish_order(virtual: Any) -> None:
    def wait(x: float) -> float:
        chainlab.sleep(x)
        return x

    got = list(RunnableLambda(wait).batch_as_completed([0.2, 0.0, 0.1]))
    assert [i for i, _ in got] == [1, 2, 0]
    assert dict(got) == {0: 0.2, 1: 0.0, 2: 0.1}

    async def collect() -> list[tuple[int, Any]]:
        async def await_(x: float) -> float:
            await chainlab.asleep(x)
            return x

        return [item async for item in RunnableLambda(await_).abatch_as_completed([0.2, 0.0, 0.1])]

    begun = virtual.now()
    assert [i for i, _ in asyncio.run(collect())] == [1, 2, 0]
    assert round(virtual.now() - begun, 9) == 0.2  # the three overlapped exactly


def test_batch_as_completed_with_errors() -> None:
    def maybe(x: int) -> int:
        if x == 1:
            raise Boom("one")
        return x

    got = dict(RunnableLambda(maybe).batch_as_completed([0, 1, 2], return_exceptions=True))
    assert isinstance(got[1], Boom)
    assert got[0] == 0
    assert got[2] == 2
    with pytest.raises(Boom):
        list(RunnableLambda(maybe).batch_as_completed([0, 1, 2]))


def test_keyboard_interrupt_in_a_branch_propagates(drive: Driver) -> None:
    def interrupt(x: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(RunnableParallel(a=lambda x: x, b=interrupt), 1)
