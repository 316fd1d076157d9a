"""The virtual clock: the simulated world's structure, exact and instant.

Every test here runs real threads and real event loops; only simulated delays
(``chainlab.sleep`` / ``asleep``, simulated models) are virtual. The figures are exact
because time moves only when every piece of the run waits.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.clock import VirtualClock
from chainlab.sim import FakeChatModel, set_time_scale
from tests.conftest import Driver


@pytest.fixture
def clock() -> Any:
    with set_time_scale(1.0), chainlab.virtual_clock() as clock:
        yield clock


def model(name: str, latency: float) -> FakeChatModel:
    return FakeChatModel(name, latency=latency)


def elapsed(clock: VirtualClock, run: Any) -> float:
    start = clock.now()
    run()
    return round(clock.now() - start, 9)


def test_three_overlapping_calls_take_exactly_the_slowest(
    clock: VirtualClock, drive: Driver
) -> None:
    chain = RunnableParallel(a=model("a", 3), b=model("b", 1), c=model("c", 2))
    real = time.perf_counter()
    assert elapsed(clock, lambda: drive(chain, "hi")) == 3.0
    assert time.perf_counter() - real < 2.5  # a simulated 3 s run does not wait 3 s


def test_a_sequence_beside_a_slow_branch_is_not_skipped(clock: VirtualClock, drive: Driver) -> None:
    """Between the two steps of branch a nothing sleeps: the clock must not jump to b's
    3 s deadline while a's thread (or task) goes from step 1 to step 2."""
    chain = RunnableParallel(
        a=model("a1", 1) | model("a2", 1) | model("a3", 0.5),
        b=model("b", 3),
        c=model("c", 0.25) | model("c2", 0.25),
    )
    with chainlab.record() as rec:
        assert elapsed(clock, lambda: drive(chain, "hi")) == 3.0
    ends = {s.name: round(s.end, 9) for s in rec.leaf_spans}
    assert ends == {"a1": 1.0, "a2": 2.0, "a3": 2.5, "b": 3.0, "c": 0.25, "c2": 0.5}


def test_spans_and_the_comparison_are_exact(clock: VirtualClock) -> None:
    chain = RunnableParallel(a=model("a", 1) | model("a2", 1), b=model("b", 1))
    cmp = chainlab.compare(chain, "hi")
    assert cmp.sequential_s == 3.0
    assert cmp.parallel_s == 2.0
    assert cmp.speedup == 1.5


def test_max_concurrency_gives_whole_rounds(clock: VirtualClock, drive: Driver) -> None:
    """12 one-second calls at max_concurrency=4: exactly 3 rounds, never more at once."""
    calls = model("m", 1)
    took = elapsed(
        clock, lambda: drive(calls.map(), [f"q{i}" for i in range(12)], {"max_concurrency": 4})
    )
    assert took == 3.0
    assert calls.max_in_flight == 4


def test_batch_with_a_window_refills_the_freed_slot_at_once(
    clock: VirtualClock, drive: Driver
) -> None:
    """Item durations 1, 3, 1, 1 at max_concurrency=2: the slot item 0 frees at 1 s goes
    to item 2 then (not after item 1's 3 s): 3 s in all."""
    durations = {0: 1.0, 1: 3.0, 2: 1.0, 3: 1.0}

    def call(i: int) -> int:
        chainlab.sleep(durations[i])
        return i

    step = RunnableLambda(call)
    if getattr(drive, "name", "") == "invoke":
        took = elapsed(clock, lambda: step.batch([0, 1, 2, 3], {"max_concurrency": 2}))
    else:
        took = elapsed(
            clock, lambda: asyncio.run(step.abatch([0, 1, 2, 3], {"max_concurrency": 2}))
        )
    assert took == 3.0


def test_a_top_level_batch_holds_the_clock_until_its_caller_waits(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller of a top-level ``batch`` is no node: between starting the first worker
    and waiting (where it adds the others) it still counts as busy, or the clock jumps
    past the first item's sleep and the items run one by one (6 s, not 3 s). The
    caller is made late here, as a busy machine or a lone test run makes it."""
    from chainlab.engine.fanout import Join

    wait, as_completed = Join.wait, Join.as_completed

    def late_wait(self: Join) -> list[Any]:
        time.sleep(0.05)  # real time: the first worker is asleep on the clock by now
        return wait(self)

    def late_as_completed(self: Join) -> Any:
        time.sleep(0.05)
        yield from as_completed(self)

    monkeypatch.setattr(Join, "wait", late_wait)
    monkeypatch.setattr(Join, "as_completed", late_as_completed)
    durations = {0: 1.0, 1: 3.0, 2: 1.0, 3: 1.0}

    def call(i: int) -> int:
        chainlab.sleep(durations[i])
        return i

    step = RunnableLambda(call)
    assert elapsed(clock, lambda: step.batch([0, 1, 2, 3], {"max_concurrency": 2})) == 3.0
    # (batch_as_completed's consumer counts as a node, as a stream's does: same figure)
    streamed = elapsed(
        clock, lambda: list(step.batch_as_completed([0, 1, 2, 3], {"max_concurrency": 2}))
    )
    assert streamed == 3.0


def test_fail_fast_raises_at_the_failure_not_at_the_slow_sibling(
    clock: VirtualClock, drive: Driver
) -> None:
    slow = model("slow", 10)

    def bad(x: Any) -> Any:
        chainlab.sleep(0.5)
        raise ValueError("boom")

    start = clock.now()
    with pytest.raises(ValueError, match="boom"):
        drive(RunnableParallel(slow=slow, bad=bad), "hi")
    assert round(clock.now() - start, 9) == 0.5
    # fail-fast does not wait for the cancelled sibling to stop (nor on the real clock):
    # its thread records the cancellation when it next runs
    deadline = time.monotonic() + 10
    while slow.cancelled_calls == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert slow.cancelled_calls == 1


def test_a_timeout_fires_exactly_at_its_deadline(clock: VirtualClock, drive: Driver) -> None:
    start = clock.now()
    with pytest.raises(TimeoutError):
        drive(model("slow", 1.0).with_timeout(0.25), "hi")
    assert round(clock.now() - start, 9) == 0.25
    fast = model("fast", 0.2).with_timeout(0.25)
    assert drive(fast, "hi").content == "[fast] answer about hi"


def test_retry_waits_are_virtual(clock: VirtualClock, drive: Driver) -> None:
    attempts: list[float] = []

    def flaky(x: int) -> int:
        attempts.append(clock.now())
        if len(attempts) < 3:
            raise ConnectionError("again")
        return x

    retried = RunnableLambda(flaky).with_retry(
        stop_after_attempt=3, exponential_jitter_params={"initial": 2, "max": 10, "jitter": 0}
    )
    assert drive(retried, 1) == 1
    gaps = [round(b - a, 9) for a, b in itertools.pairwise(attempts)]
    assert gaps == [retried._delay(1), retried._delay(2)]


def test_an_async_leaf_under_invoke_and_a_sync_leaf_under_ainvoke(clock: VirtualClock) -> None:
    async def a(x: Any) -> str:
        await chainlab.asleep(2)
        return "a"

    def s(x: Any) -> str:
        chainlab.sleep(1)
        return "s"

    chain = RunnableParallel(a=a, s=s, m=RunnableLambda(str) | model("m", 1.5))
    assert elapsed(clock, lambda: chain.invoke(0)) == 2.0
    assert elapsed(clock, lambda: asyncio.run(chain.ainvoke(0))) == 2.0


def test_a_nested_call_inside_a_leaf_joins_the_clock(clock: VirtualClock, drive: Driver) -> None:
    inner = RunnableParallel(x=model("x", 1), y=model("y", 2))

    def outer(q: str, config: Any) -> Any:
        chainlab.sleep(0.5)
        return inner.invoke(q, config)

    chain = RunnableParallel(outer=outer, beside=model("beside", 1))
    assert elapsed(clock, lambda: drive(chain, "hi")) == 2.5


def test_real_work_holds_the_clock_and_takes_no_virtual_time(clock: VirtualClock) -> None:
    """CPU-bound (or any real) work is not skipped: a simulated delay beside it waits
    for it in real time, and the virtual clock does not count it."""
    done = threading.Event()

    def real_work(x: Any) -> str:
        time.sleep(0.2)  # real: not a simulated delay
        done.set()
        return "real"

    order: list[str] = []

    def simulated(x: Any) -> str:
        chainlab.sleep(5)
        order.append("simulated woke after real work" if done.is_set() else "too early")
        return "sim"

    took = elapsed(clock, lambda: RunnableParallel(r=real_work, s=simulated).invoke(0))
    assert order == ["simulated woke after real work"]
    assert took == 5.0


def test_sleep_outside_any_run_jumps_at_once(clock: VirtualClock) -> None:
    real = time.perf_counter()
    assert elapsed(clock, lambda: chainlab.sleep(3600)) == 3600.0
    assert elapsed(clock, lambda: asyncio.run(chainlab.asleep(60))) == 60.0
    assert time.perf_counter() - real < 5


def test_a_run_keeps_the_clock_it_started_on() -> None:
    """Outside the block the real clock is back: a 50 ms sleep takes real time."""
    with chainlab.virtual_clock() as clock:
        assert elapsed(clock, lambda: chainlab.sleep(100)) == 100.0
    real = time.perf_counter()
    chainlab.sleep(0.05)
    assert time.perf_counter() - real >= 0.04


def test_the_virtual_clock_inside_a_run_on_the_real_clock_is_refused() -> None:
    def step(x: Any) -> Any:
        with chainlab.virtual_clock():
            return x

    with pytest.raises(RuntimeError) as info:
        RunnableLambda(step).invoke(1)
    message = str(info.value)
    assert "already on the real clock" in message
    assert "at 'step'" in message
    assert "'real' or 'virtual'" in message
    assert "CHAINLAB_CLOCK=virtual" in message


def test_the_virtual_clock_inside_a_virtual_run_is_that_clock(clock: VirtualClock) -> None:
    seen: list[VirtualClock] = []

    def step(x: Any) -> Any:
        with chainlab.virtual_clock() as inner:
            seen.append(inner)
        return x

    RunnableLambda(step).invoke(1)
    assert seen == [clock]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_chainlab_clock_virtual_from_the_environment() -> None:
    code = (
        "import time, chainlab\n"
        "from chainlab.sim import FakeChatModel\n"
        "p = chainlab.RunnableParallel(a=FakeChatModel('a', latency=30),"
        " b=FakeChatModel('b', latency=30))\n"
        "t = time.perf_counter()\n"
        "with chainlab.record() as rec:\n"
        "    p.invoke('x')\n"
        "print(round(rec.wall_s, 3), time.perf_counter() - t < 20)\n"
    )
    done = run_python(code, CHAINLAB_CLOCK="virtual", CHAINLAB_TIME_SCALE="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["30.0", "True"]


@pytest.mark.parametrize("value", ["Virtual-ish", "fake", "1"])
def test_an_unknown_chainlab_clock_names_the_choices(value: str) -> None:
    code = "import chainlab\nchainlab.RunnableLambda(lambda x: x).invoke(1)\n"
    done = run_python(code, CHAINLAB_CLOCK=value)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: CHAINLAB_CLOCK must be one of real, virtual")
    assert repr(value.lower()) in last


def test_ten_thousand_async_calls_take_one_latency(clock: VirtualClock) -> None:
    calls = model("m", 0.5)
    took = elapsed(
        clock, lambda: asyncio.run(calls.map().ainvoke([f"q{i}" for i in range(10_000)]))
    )
    assert took == 0.5
    assert calls.max_in_flight == 10_000


def test_langchain_core_threads_and_event_loop_are_both_exact(clock: VirtualClock) -> None:
    """langchain_core's RunnableParallel.invoke runs each branch on a thread of its own
    executor, which the clock follows (chainlab.engine.clock_threads); ainvoke runs
    them as tasks of one event loop. Both give the slowest branch, exactly."""
    from langchain_core.runnables import RunnableParallel as LCParallel

    chain = LCParallel(a=model("a", 3), b=model("b", 1), c=model("c", 2))
    assert elapsed(clock, lambda: chain.invoke("hi")) == 3.0
    assert elapsed(clock, lambda: asyncio.run(chain.ainvoke("hi"))) == 3.0


def test_a_thread_of_ones_own_is_refused_on_the_virtual_clock(clock: VirtualClock) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            model("m", 1).invoke("hi")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="mine")
    thread.start()
    thread.join(30)
    assert len(errors) == 1
    assert "'mine'" in str(errors[0])


def naps(**seconds: float) -> RunnableParallel:
    def nap(s: float) -> Any:
        return RunnableLambda(lambda _x: chainlab.sleep(s) or s, name=f"nap{s}")

    return RunnableParallel({key: nap(s) for key, s in seconds.items()})


def test_stream_yields_each_branch_when_it_ends(clock: VirtualClock) -> None:
    start = clock.now()
    got = [
        (next(iter(chunk)), round(clock.now() - start, 9))
        for chunk in naps(a=1.2, b=0.8, c=0.4).stream(0)
    ]
    assert got == [("c", 0.4), ("b", 0.8), ("a", 1.2)]


def test_a_slow_stream_reader_sleeps_on_the_clock_too(clock: VirtualClock) -> None:
    """The reader's own sleep between chunks is on the clock: b and a are done while
    it sleeps and wait for it."""
    start, got = clock.now(), []
    for chunk in naps(a=1.2, b=0.8, c=0.4).stream(0):
        got.append((next(iter(chunk)), round(clock.now() - start, 9)))
        chainlab.sleep(0.5)
    assert got == [("c", 0.4), ("b", 0.9), ("a", 1.4)]


def test_a_stream_left_early_cancels_and_the_clock_goes_on(clock: VirtualClock) -> None:
    start = clock.now()
    for chunk in naps(a=5, c=0.4).stream(0):
        assert chunk == {"c": 0.4}
        break
    assert elapsed(clock, lambda: chainlab.sleep(1)) == 1.0
    assert round(clock.now() - start, 9) == 1.4  # a's 5 s never ran out


def test_astream_yields_each_branch_when_it_ends(clock: VirtualClock) -> None:
    async def read() -> list[tuple[str, float]]:
        start = clock.now()
        return [
            (next(iter(chunk)), round(clock.now() - start, 9))
            async for chunk in naps(a=1.2, b=0.8, c=0.4).astream(0)
        ]

    assert asyncio.run(read()) == [("c", 0.4), ("b", 0.8), ("a", 1.2)]


def test_astream_chunks_are_read_before_the_clock_moves_on_however_late_threads_are(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool thread preempted between handing its result to the loop and ending its
    job, and a loop preempted after a task ended: the job's end used to decide the jump
    on the pool thread, while the stream's consumer (counted by no activity) had its
    chunk but had not read the clock yet (c read at 0.8, one run in ~500; every run
    with these delays). The jump is decided on the loop, after that step."""
    exit_ = VirtualClock.exit

    def late(self: VirtualClock, activity: Any, *loop: Any) -> None:
        on_the_loop = threading.current_thread() is threading.main_thread()
        if not on_the_loop:
            time.sleep(0.005)  # the pool thread, preempted after its future is done
        exit_(self, activity, *loop)
        if on_the_loop:
            time.sleep(0.02)  # the loop, preempted right after an activity ended

    monkeypatch.setattr(VirtualClock, "exit", late)

    async def read() -> list[tuple[str, float]]:
        start = clock.now()
        return [
            (next(iter(chunk)), round(clock.now() - start, 9))
            async for chunk in naps(a=1.2, b=0.8, c=0.4).astream(0)
        ]

    for _ in range(3):
        assert asyncio.run(read()) == [("c", 0.4), ("b", 0.8), ("a", 1.2)]


def test_a_branch_error_says_how_long_the_branch_took_on_the_clock(
    clock: VirtualClock, drive: Driver
) -> None:
    def fails(_x: Any) -> None:
        chainlab.sleep(0.2)
        raise ValueError("no")

    chain = RunnableParallel(bad=RunnableLambda(fails), slow=naps(s=0.5)).with_partial_results()
    out = drive(chain, 0)
    assert out["slow"] == {"s": 0.5}
    assert out["bad"].elapsed == pytest.approx(0.2, abs=1e-9)


def test_an_uncancellable_sleep_runs_to_its_end_after_the_run_is_cancelled(
    clock: VirtualClock,
) -> None:
    ended: list[float] = []

    def stubborn(_x: Any) -> None:
        chainlab.sleep(1.0, cancellable=False)  # like time.sleep: nothing interrupts it
        ended.append(clock.now())

    def fails(_x: Any) -> None:
        chainlab.sleep(0.2)
        raise ValueError("no")

    start = clock.now()
    with pytest.raises(ValueError):
        RunnableParallel(s=RunnableLambda(stubborn), f=RunnableLambda(fails)).invoke(0)
    assert round(clock.now() - start, 9) in (0.2, 1.0)  # raised at the failure (0.2 s)...
    chainlab.sleep(2)  # (code outside a run does not hold the clock: it may be at 1.0)
    assert [round(t - start, 9) for t in ended] == [1.0]


def test_a_sync_sleep_in_an_async_branch_blocks_the_loop_and_its_siblings_wait(
    clock: VirtualClock,
) -> None:
    """The LC2.1.6 mistake on the virtual clock: a blocking call inside ``async def``.
    The sibling's task cannot start while the loop's thread sleeps (0.3 s), then takes
    its own 0.4 s: 0.7 s, as on the real clock (and no hang)."""

    async def blocking(x: int) -> int:
        chainlab.sleep(0.3)  # blocks the event loop, like time.sleep
        return x

    async def polite(x: int) -> int:
        await chainlab.asleep(0.4)
        return x

    chain = RunnableParallel(blocking=blocking, polite=polite)
    took = elapsed(clock, lambda: asyncio.run(chain.ainvoke(1)))
    assert took == 0.7


def test_compare_with_ainvoke_runs_on_the_virtual_clock(clock: VirtualClock) -> None:
    async def nap(x: int) -> int:
        await chainlab.asleep(0.3)
        return x

    cmp = chainlab.compare(RunnableParallel(a=nap, b=nap), 1, driver="ainvoke")
    assert round(cmp.speedup, 9) == 2.0
