"""fan_out / Join (threads) and afan_out / aiter_completed (tasks), driven directly:
fan-in order, fail-fast versus collect-all, windows, skipping, early exits."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from chainlab.engine.cancel import Cancelled, CancelScope
from chainlab.engine.fanout import afan_out, aiter_completed, fan_out
from tests.engine.helpers import Gauge, Recorder, wait_until


class Boom(Exception):
    pass


def returns(value: Any, delay: float = 0.0) -> Callable[[], Any]:
    def call() -> Any:
        if delay:
            time.sleep(delay)
        return value

    return call


def raises(error: BaseException) -> Callable[[], Any]:
    def call() -> Any:
        raise error

    return call


def no_skip(index: int) -> None:
    raise AssertionError(f"call {index} was skipped")


# -- fan_out and Join ----------------------------------------------------------------------


def test_results_come_back_in_call_order_whatever_the_finish_order() -> None:
    delays = [0.06, 0.0, 0.03, 0.045, 0.01]
    join = fan_out([returns(i, d) for i, d in enumerate(delays)], CancelScope(), skip=no_skip)
    assert join.wait() == list(range(len(delays)))


def test_an_empty_fan_out_is_done_at_once() -> None:
    join = fan_out([], CancelScope(), skip=no_skip)
    assert join.wait_for(0)
    assert join.wait() == []


def test_fail_fast_raises_the_first_error_and_notes_later_real_failures() -> None:
    scope = CancelScope()
    first = Boom("first")
    all_started = threading.Barrier(3, timeout=5)

    def fails_first() -> None:
        all_started.wait()
        raise first

    def cleanup_fails() -> None:
        all_started.wait()
        try:
            scope.sleep(30)
        except Cancelled:
            raise Boom("cleanup failed too") from None

    def stops_quietly() -> None:
        all_started.wait()
        scope.sleep(30)  # raises Cancelled: not a failure worth a note

    join = fan_out([fails_first, cleanup_fails, stops_quietly], scope, skip=no_skip)
    with pytest.raises(Boom) as info:
        join.wait()
    assert info.value is first
    assert scope.cancelled
    assert scope.reason is first
    assert wait_until(lambda: join.remaining == 0)
    notes = getattr(first, "__notes__", [])
    assert len(notes) == 1
    assert "meanwhile another branch failed too: Boom('cleanup failed too')" in notes[0]


def test_collect_all_puts_each_error_in_its_place() -> None:
    errors = [Boom("one"), KeyError("three")]
    calls = [returns("zero"), raises(errors[0]), returns("two", 0.01), raises(errors[1])]
    scope = CancelScope()
    results = fan_out(calls, scope, skip=no_skip, fail_fast=False).wait()
    assert results == ["zero", errors[0], "two", errors[1]]
    assert results[1] is errors[0]
    assert not scope.cancelled  # nothing was cancelled: every call ran


def test_as_completed_yields_in_finish_order() -> None:
    gates = [threading.Event() for _ in range(4)]

    def gated(i: int) -> Callable[[], int]:
        def call() -> int:
            assert gates[i].wait(5)
            return i * 10

        return call

    join = fan_out([gated(i) for i in range(4)], CancelScope(), skip=no_skip, stream=True)
    completions = join.as_completed()
    release_order = [2, 0, 3, 1]
    seen = []
    for i in release_order:
        gates[i].set()
        seen.append(next(completions))
    assert seen == [(i, i * 10, None) for i in release_order]
    assert list(completions) == []  # exactly len(calls) items


def test_as_completed_stops_at_the_first_failure_in_fail_fast_mode() -> None:
    slow_gate = threading.Event()
    error = Boom("x")

    def slow() -> str:
        slow_gate.wait(5)
        return "slow"

    join = fan_out([slow, raises(error)], CancelScope(), skip=no_skip, stream=True)
    items = list(join.as_completed())
    slow_gate.set()
    assert items == [(1, None, error)]


def test_wait_for_reports_whether_the_fan_out_settled() -> None:
    gate = threading.Event()

    def held() -> str:
        gate.wait(5)
        return "done"

    join = fan_out([held, returns("quick")], CancelScope(), skip=no_skip)
    assert join.wait_for(0.05) is False
    gate.set()
    assert join.wait_for(5) is True
    assert join.wait() == ["done", "quick"]  # wait_for did not use up the result


def test_a_window_bounds_calls_at_once_and_worker_threads() -> None:
    gauge = Gauge()
    lanes = Recorder()
    first_three = threading.Barrier(3, timeout=5)

    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            lanes.add(threading.current_thread().name)
            with gauge:
                if i < 3:
                    first_three.wait()  # proves three calls really run at once
                time.sleep(0.005)
            return i

        return run

    join = fan_out([call(i) for i in range(15)], CancelScope(), skip=no_skip, window=3)
    assert join.wait() == list(range(15))
    assert gauge.peak == 3
    assert len(set(lanes.snapshot())) <= 3  # only `window` workers were started


def test_skip_is_called_once_for_every_call_not_started_after_a_failure() -> None:
    ran, skipped = Recorder(), Recorder()
    n = 10

    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            ran.add(i)
            if i == 0:
                raise Boom("first call fails")
            return i

        return run

    join = fan_out([call(i) for i in range(n)], CancelScope(), skip=skipped.add, window=1)
    with pytest.raises(Boom):
        join.wait()
    assert wait_until(lambda: join.remaining == 0)
    assert ran.snapshot() == [0]
    assert sorted(skipped.snapshot()) == list(range(1, n))
    assert len(skipped) == n - 1  # once each


def test_a_scope_cancelled_before_the_fan_out_starts_nothing() -> None:
    scope = CancelScope()
    scope.cancel()
    ran, skipped = Recorder(), Recorder()
    join = fan_out([lambda i=i: ran.add(i) for i in range(5)], scope, skip=skipped.add)
    with pytest.raises(Cancelled, match="not started"):
        join.wait()
    assert wait_until(lambda: len(skipped) == 5)
    assert ran.snapshot() == []


def test_calls_see_the_callers_context_variables() -> None:
    import contextvars

    request = contextvars.ContextVar("request", default="none")
    request.set("req-42")
    join = fan_out([request.get for _ in range(4)], CancelScope(), skip=no_skip)
    assert join.wait() == ["req-42"] * 4


def test_calls_on_one_worker_each_get_their_own_copy_of_the_context() -> None:
    """One worker runs every call when window=1 (or when threads are scarce): a value one
    call sets must not leak into the next, as it does not on separate threads."""
    import contextvars

    request = contextvars.ContextVar("request", default="none")
    request.set("req")

    def tag(branch: str) -> str:
        request.set(f"{request.get()}/{branch}")
        return request.get()

    calls = [lambda b=b: tag(b) for b in "abc"]
    assert fan_out(calls, CancelScope(), skip=no_skip, window=1).wait() == [
        "req/a",
        "req/b",
        "req/c",
    ]
    assert request.get() == "req"


def test_runnable_parallel_branches_keep_their_context_like_langchain() -> None:
    """The LC2.1.6 contextvars check, with one branch at a time: on a busy machine one
    thread ran two branches and the second saw the first's value."""
    import contextvars

    from langchain_core.runnables import RunnableParallel as LcParallel

    from chainlab import RunnableParallel

    request = contextvars.ContextVar("request", default="none")
    request.set("req")

    def tag(branch: str) -> Any:
        def run(_: Any) -> str:
            request.set(f"{request.get()}/{branch}")
            return request.get()

        return run

    want = {b: f"req/{b}" for b in "abc"}
    for parallel in (RunnableParallel, LcParallel):
        chain = parallel({b: tag(b) for b in "abc"})
        assert chain.invoke("x", config={"max_concurrency": 1}) == want, parallel
    assert request.get() == "req"


# -- afan_out ------------------------------------------------------------------------------


def test_afan_out_returns_results_in_order() -> None:
    async def after(value: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return value

    delays = [0.03, 0.0, 0.02, 0.01]
    calls = [lambda i=i, d=d: after(i, d) for i, d in enumerate(delays)]
    assert asyncio.run(afan_out(calls, CancelScope(), skip=no_skip)) == [0, 1, 2, 3]
    assert asyncio.run(afan_out([], CancelScope(), skip=no_skip)) == []


def test_afan_out_collect_all_returns_exceptions_in_place() -> None:
    boom = Boom("middle")

    async def ok(v: int) -> int:
        await asyncio.sleep(0.01)
        return v

    async def bad() -> int:
        raise boom

    calls: list[Any] = [lambda: ok(1), bad, lambda: ok(3)]
    scope = CancelScope()
    results = asyncio.run(afan_out(calls, scope, skip=no_skip, fail_fast=False))
    assert results == [1, boom, 3]
    assert not scope.cancelled


def test_afan_out_fail_fast_cancels_unfinished_tasks_and_skips_them() -> None:
    cancelled, skipped = Recorder(), Recorder()

    async def slow(i: int) -> int:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.add(i)
            raise
        return i

    async def quick() -> str:
        return "quick"

    async def bad() -> None:
        await asyncio.sleep(0.01)
        raise Boom("bad")

    calls: list[Any] = [quick, lambda: slow(1), bad, lambda: slow(3)]
    scope = CancelScope()

    async def main() -> None:
        start = time.monotonic()
        with pytest.raises(Boom):
            await afan_out(calls, scope, skip=skipped.add)
        assert time.monotonic() - start < 5
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []  # every task was finished before the error was raised

    asyncio.run(main())
    assert sorted(cancelled.snapshot()) == [1, 3]
    assert sorted(skipped.snapshot()) == [1, 3]  # the finished ones are not "skipped"
    assert isinstance(scope.reason, Boom)


def test_afan_out_notes_a_failure_raised_while_being_cancelled() -> None:
    async def first() -> None:
        await asyncio.sleep(0.01)
        raise Boom("first")

    async def messy() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise KeyError("cleanup") from None

    with pytest.raises(Boom) as info:
        asyncio.run(afan_out([first, messy], CancelScope(), skip=lambda i: None))
    assert any(
        "meanwhile another branch failed too: KeyError('cleanup')" in n
        for n in info.value.__notes__
    )


def test_a_task_that_cancels_itself_fails_the_fan_out() -> None:
    sibling_cancelled = Recorder()

    async def self_cancel() -> None:
        await asyncio.sleep(0.01)
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(1)

    async def sibling() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            sibling_cancelled.add(True)
            raise

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError, match="a branch was cancelled"):
            await afan_out([self_cancel, sibling], CancelScope(), skip=lambda i: None)

    asyncio.run(main())
    assert sibling_cancelled.snapshot() == [True]


# -- aiter_completed -----------------------------------------------------------------------


def test_aiter_completed_yields_in_finish_order() -> None:
    async def main() -> list[tuple[int, Any]]:
        events = [asyncio.Event() for _ in range(3)]

        async def gated(i: int) -> str:
            await events[i].wait()
            return f"v{i}"

        calls = [lambda i=i: gated(i) for i in range(3)]
        got = []
        stream = aiter_completed(calls, CancelScope(), skip=no_skip)
        for i in (1, 2, 0):
            events[i].set()
            got.append(await anext(stream))
        assert [x async for x in stream] == []
        return got

    assert asyncio.run(main()) == [(1, "v1"), (2, "v2"), (0, "v0")]


def test_aiter_completed_early_exit_cancels_the_rest() -> None:
    cancelled, skipped = Recorder(), Recorder()
    scope = CancelScope()

    async def slow(i: int) -> int:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.add(i)
            raise
        return i

    async def fast() -> str:
        return "fast"

    async def main() -> list[Any]:
        calls: list[Any] = [lambda: slow(0), fast, lambda: slow(2)]
        got = []
        async with contextlib.aclosing(aiter_completed(calls, scope, skip=skipped.add)) as it:
            async for item in it:
                got.append(item)
                break
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []
        return got

    assert asyncio.run(main()) == [(1, "fast")]
    assert sorted(cancelled.snapshot()) == [0, 2]
    assert sorted(skipped.snapshot()) == [0, 2]
    assert scope.cancelled


def test_aiter_completed_raises_the_first_failure_and_cancels_the_rest() -> None:
    cancelled = Recorder()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.add("slow")
            raise

    async def bad() -> None:
        await asyncio.sleep(0.01)
        raise Boom("bad")

    async def main() -> None:
        with pytest.raises(Boom):
            async for _ in aiter_completed([slow, bad], CancelScope(), skip=lambda i: None):
                pass

    asyncio.run(main())
    assert cancelled.snapshot() == ["slow"]


def test_settle_waits_after_a_failure_until_every_call_has_ended() -> None:
    release = threading.Event()
    ended: list[str] = []

    def slow() -> str:
        release.wait(5)
        ended.append("slow")
        return "slow"

    def bad() -> None:
        raise ValueError("bad")

    join = fan_out([slow, bad], CancelScope(), skip=lambda i: None)
    with pytest.raises(ValueError):
        join.wait()  # fail-fast: at once, while slow still runs
    assert not join.settle(0.05)  # slow has not ended: not settled within the time
    release.set()
    assert join.settle(5)
    assert ended == ["slow"]
    assert join.settle(0)  # already settled: True at once
