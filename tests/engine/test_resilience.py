"""Failing well: partial results, error groups, timeouts, retries, fallbacks, and
several failures at once."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import BranchError, RunnableLambda, RunnableParallel
from tests.conftest import Driver
from tests.engine.test_tracing import Collector


class Flaky(Exception):
    pass


def ok(x: Any) -> Any:
    return x


def fail(x: Any) -> Any:
    raise Flaky("branch down")


def nap(seconds: float) -> Any:
    def sleep(x: Any) -> Any:
        time.sleep(seconds)
        return x

    return sleep


# -- partial success ----------------------------------------------------------------------


def test_partial_results_keep_every_successful_branch(drive: Driver) -> None:
    par = RunnableParallel(a=ok, bad=fail, c=nap(0.02)).with_partial_results()
    out = drive(par, 7)
    assert out["a"] == 7
    assert out["c"] == 7
    error = out["bad"]
    assert isinstance(error, BranchError)
    assert error.key == "bad"
    assert error.path.endswith("/bad")
    assert isinstance(error.exception, Flaky)
    assert error.elapsed >= 0
    assert not error  # falsy: easy to filter


def test_partial_results_with_nested_parallels(drive: Driver) -> None:
    inner_fail_fast = RunnableParallel(x=ok, y=fail)
    inner_partial = RunnableParallel(x=ok, y=fail).with_partial_results()
    outer = RunnableParallel(strict=inner_fail_fast, lenient=inner_partial, plain=ok)
    out = drive(outer.with_partial_results(), 1)
    assert isinstance(out["strict"], BranchError)  # the inner parallel failed as a whole
    assert out["lenient"]["x"] == 1
    assert isinstance(out["lenient"]["y"], BranchError)
    assert out["plain"] == 1


def test_partial_results_stream_the_error_as_the_branch_chunk() -> None:
    par = RunnableParallel(a=nap(0.05), bad=fail).with_partial_results()
    chunks = list(par.stream(1))
    assert len(chunks) == 2
    merged = {k: v for c in chunks for k, v in c.items()}
    assert merged["a"] == 1
    assert isinstance(merged["bad"], BranchError)

    async def collect() -> list[Any]:
        return [c async for c in par.astream(1)]

    amerged = {k: v for c in asyncio.run(collect()) for k, v in c.items()}
    assert isinstance(amerged["bad"], BranchError)


def test_partial_results_do_not_cancel_siblings(drive: Driver) -> None:
    finished = threading.Event()

    def patient(x: Any) -> Any:
        chainlab.sleep(0.1)  # would raise Cancelled if the sibling's failure cancelled it
        finished.set()
        return x

    out = drive(RunnableParallel(p=patient, bad=fail).with_partial_results(), 1)
    assert out["p"] == 1
    assert finished.is_set()


def test_error_group_raises_every_failure(drive: Driver) -> None:
    def other(x: Any) -> Any:
        raise KeyError("other")

    par = RunnableParallel(a=ok, bad=fail, worse=other).with_error_group()
    with pytest.raises(ExceptionGroup) as info:
        drive(par, 1)
    group = info.value
    assert "2 of 3 branches" in str(group)
    assert {type(e) for e in group.exceptions} == {Flaky, KeyError}
    assert all(e.__notes__[0].startswith("in branch ") for e in group.exceptions)


def test_on_error_must_be_known() -> None:
    with pytest.raises(ValueError, match="on_error"):
        RunnableParallel(a=ok, on_error="ignore")  # type: ignore[arg-type]


def test_several_failures_attach_to_the_first() -> None:
    gate = threading.Barrier(2)

    def fail_together(name: str) -> Any:
        def step(x: Any) -> Any:
            gate.wait(2)
            if name == "second":
                time.sleep(0.02)
            raise Flaky(name)

        return step

    par = RunnableParallel(first=fail_together("first"), second=fail_together("second"))
    with pytest.raises(Flaky, match="first") as info:
        par.invoke(1)
    deadline = time.monotonic() + 2
    while len(info.value.__notes__) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any(
        "meanwhile another branch failed too: Flaky('second')" in n for n in info.value.__notes__
    )


# -- timeouts -----------------------------------------------------------------------------


def test_timeout_under_invoke_raises_at_the_deadline_and_accounts_for_the_thread() -> None:
    release = threading.Event()

    def stubborn(x: Any) -> Any:  # ignores cancellation
        release.wait(5)
        return x

    start = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"stubborn timed out after 0.1 s"):
        RunnableLambda(stubborn).with_timeout(0.1).invoke(1)
    assert time.perf_counter() - start < 1.0
    assert chainlab.abandoned_calls() >= 1
    release.set()
    deadline = time.monotonic() + 2
    while chainlab.abandoned_calls() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert chainlab.abandoned_calls() == 0


def test_timeout_is_judged_by_when_the_work_ended_not_when_the_waiter_woke(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a busy machine the waiting thread can be scheduled long after its deadline; by
    # then the work may have finished. Work that took 50 ms must still fail a 10 ms limit.
    from chainlab.engine.fanout import Join

    punctual = Join.wait_for

    def late_waiter(self: Join, seconds: float) -> bool:
        time.sleep(0.2)  # the waiter is starved: the work ends before it looks
        return punctual(self, seconds)

    monkeypatch.setattr(Join, "wait_for", late_waiter)
    with pytest.raises(TimeoutError, match=r"timed out after 0\.01 s"):
        RunnableLambda(lambda x: time.sleep(0.05) or x).with_timeout(0.01).invoke(1)
    assert RunnableLambda(lambda x: x + 1).with_timeout(1).invoke(1) == 2  # in time: passes


def test_timeout_stops_cooperative_work() -> None:
    stopped = threading.Event()

    def cooperative(x: Any) -> Any:
        try:
            chainlab.sleep(5)
        except chainlab.Cancelled:
            stopped.set()
            raise
        return x

    with pytest.raises(TimeoutError):
        RunnableLambda(cooperative).with_timeout(0.05).invoke(1)
    assert stopped.wait(1)


def test_timeout_under_ainvoke_cancels_the_task() -> None:
    cancelled = []

    async def slow(x: Any) -> Any:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return x

    par = RunnableParallel(slow=RunnableLambda(slow).with_timeout(0.05), fast=ok)
    with pytest.raises(TimeoutError) as info:
        asyncio.run(par.ainvoke(1))
    assert cancelled == [True]
    assert "in branch 'slow'" in info.value.__notes__[0]


def test_timeout_passes_results_through(drive: Driver) -> None:
    assert drive(RunnableLambda(lambda x: x + 1).with_timeout(1), 1) == 2


def test_timeout_inside_partial_results(drive: Driver) -> None:
    par = RunnableParallel(slow=RunnableLambda(nap(1)).with_timeout(0.05), fast=ok)
    out = drive(par.with_partial_results(), 1)
    assert out["fast"] == 1
    assert isinstance(out["slow"].exception, TimeoutError)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RunnableLambda(ok).with_timeout(0)


# -- retries and fallbacks ----------------------------------------------------------------


def test_batch_retries_only_the_failed_items() -> None:
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def sometimes(x: int) -> int:
        with lock:
            calls[x] = calls.get(x, 0) + 1
            attempt = calls[x]
        if x % 2 and attempt == 1:
            raise Flaky(f"item {x}")
        return x

    out = RunnableLambda(sometimes).with_retry(wait_exponential_jitter=False).batch(list(range(6)))
    assert out == list(range(6))
    assert calls == {0: 1, 1: 2, 2: 1, 3: 2, 4: 1, 5: 2}


def test_retry_waits_grow(drive: Driver) -> None:
    stamps: list[float] = []

    def flaky(x: int) -> int:
        stamps.append(time.perf_counter())
        if len(stamps) < 3:
            raise Flaky("again")
        return x

    retried = RunnableLambda(flaky).with_retry(
        stop_after_attempt=3,
        exponential_jitter_params={"initial": 0.02, "max": 1, "jitter": 0},
    )
    drive(retried, 1)
    planned = [retried._delay(1), retried._delay(2)]  # tenacity's exponential waits
    assert planned == pytest.approx([0.02, 0.04])
    first_wait, second_wait = stamps[1] - stamps[0], stamps[2] - stamps[1]
    # lower bounds only: a busy machine may wait longer, never shorter
    assert first_wait >= 0.9 * planned[0]
    assert second_wait >= 0.9 * planned[1]


def test_retry_attempts_are_recorded_per_batch_item() -> None:
    col = Collector()
    seen: set[int] = set()

    def once(x: int) -> int:
        if x not in seen:
            seen.add(x)
            raise Flaky(str(x))
        return x

    RunnableLambda(once).with_retry(wait_exponential_jitter=False).batch(
        [1, 2], {"callbacks": [col]}
    )
    attempts = sorted((s.path, s.attempt, s.status) for s in col.ended)
    assert attempts == [
        ("once[0]", 1, "error"),
        ("once[0]", 2, "ok"),
        ("once[1]", 1, "error"),
        ("once[1]", 2, "ok"),
    ]


def test_retry_does_not_retry_a_cancelled_run() -> None:
    calls = [0]

    def cooperative(x: Any) -> Any:
        calls[0] += 1
        chainlab.sleep(1)
        return x

    par = RunnableParallel(
        c=RunnableLambda(cooperative).with_retry(wait_exponential_jitter=False),
        f=RunnableLambda(nap(0.02)) | fail,
    )
    with pytest.raises(Flaky):
        par.invoke(1)
    time.sleep(0.1)
    assert calls[0] == 1


def test_fallbacks_can_raise_the_last_error(drive: Driver) -> None:
    def second(x: Any) -> Any:
        raise KeyError("second")

    guarded = RunnableLambda(fail).with_fallbacks([second], raise_last=True)
    with pytest.raises(KeyError) as info:
        drive(guarded, 1)
    assert "Flaky('branch down')" in info.value.__notes__[-1]


def test_keyboard_interrupt_while_waiting_cancels_the_run() -> None:
    """Ctrl-C arrives in the waiting caller: the branches are told to stop.

    The signal goes to the main thread once both branches run (``os.kill`` of the
    process may be taken by any thread; a main thread blocked on a lock then hears of
    it only when the lock is released), and the branches wait on the run's cancel
    scope for 30 s: no 50 ms guess about when the caller starts waiting."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    stopped = threading.Event()
    started = threading.Semaphore(0)

    def cooperative(x: Any) -> Any:
        started.release()
        try:
            chainlab.sleep(30)
        except chainlab.Cancelled:
            stopped.set()
        return x

    main = threading.main_thread().ident
    assert main is not None

    def interrupt_once_both_run() -> None:  # what Ctrl-C (or a kernel interrupt) does
        if started.acquire(timeout=20) and started.acquire(timeout=20):
            signal.pthread_kill(main, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_both_run, daemon=True)
    interrupter.start()
    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        RunnableParallel(a=cooperative, b=cooperative).invoke(1)
    assert time.monotonic() - begun < 25  # interrupted, not the 30 s sleeps ending
    assert stopped.wait(10)
    interrupter.join(5)


def test_retry_on_a_predicate_as_in_langchain(drive: Driver) -> None:
    """``retry_if_exception_type`` may be a function of the exception (LangChain 1.x)."""
    calls: list[int] = []

    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise Flaky("429 rate limited" if len(calls) == 1 else "503 unavailable")
        return x

    transient = RunnableLambda(flaky).with_retry(
        retry_if_exception_type=lambda e: "429" in str(e) or "503" in str(e),
        wait_exponential_jitter=False,
    )
    assert drive(transient, 7) == 7
    assert calls == [7, 7, 7]

    calls.clear()
    picky = RunnableLambda(flaky).with_retry(
        retry_if_exception_type=lambda e: "429" in str(e), wait_exponential_jitter=False
    )
    with pytest.raises(Flaky, match="503"):  # the second error is not one to retry on
        drive(picky, 7)
    assert calls == [7, 7]


def test_retry_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="retry_if_exception_type must be a tuple"):
        RunnableLambda(ok).with_retry(retry_if_exception_type=("ValueError",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exception_keys"):
        RunnableLambda(ok).with_retry(exception_keys=1)  # type: ignore[call-arg]
    lone = RunnableLambda(fail).with_retry(
        retry_if_exception_type=Flaky,  # type: ignore[arg-type]
        wait_exponential_jitter=False,
        stop_after_attempt=2,
    )
    with pytest.raises(Flaky):
        lone.invoke(1)


def test_fallbacks_reject_unknown_keywords() -> None:
    """A typo must fail loudly (LangChain's signature has no catch-all either)."""
    with pytest.raises(TypeError, match="exception_keys"):
        RunnableLambda(fail).with_fallbacks([ok], exception_keys="error")  # type: ignore[call-arg]
