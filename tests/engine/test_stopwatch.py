"""``chainlab.stopwatch()`` and ``chainlab.now()``: a cell's timing on the clock runs use,
exact on the virtual clock, real seconds (wide margins) on the real one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.clock import VirtualClock
from chainlab.sim import FakeChatModel
from tests.conftest import Driver


def models(n: int, latency: float) -> RunnableParallel:
    return RunnableParallel({f"m{i}": FakeChatModel(f"m{i}", latency=latency) for i in range(n)})


def test_a_speedup_is_exact_on_the_virtual_clock(virtual: VirtualClock, drive: Driver) -> None:
    two = models(2, 1.0)
    with chainlab.stopwatch() as parallel:
        drive(two, "hi")
    with chainlab.stopwatch() as one_by_one:
        for branch in two.steps__.values():
            drive(branch, "hi")
    assert parallel.virtual
    assert one_by_one.virtual
    assert parallel.seconds == 1.0
    assert one_by_one.seconds == 2.0
    assert one_by_one.seconds / parallel.seconds == 2.0


def test_now_reads_the_virtual_clock_outside_and_inside_a_run(virtual: VirtualClock) -> None:
    start = chainlab.now()
    assert start == virtual.now()
    seen: list[float] = []

    def leaf(x: int) -> int:
        chainlab.sleep(2)
        seen.append(chainlab.now())  # inside the run: the run's clock
        return x

    RunnableLambda(leaf).invoke(1)
    assert seen == [pytest.approx(start + 2, abs=1e-9)]
    assert chainlab.now() - start == pytest.approx(2.0, abs=1e-9)


def test_inside_the_block_seconds_is_the_time_so_far(virtual: VirtualClock) -> None:
    with chainlab.stopwatch() as watch:
        chainlab.sleep(0.5)
        so_far = watch.seconds
        chainlab.sleep(0.25)
    assert (so_far, watch.seconds) == (0.5, 0.75)
    assert "0.750 s on the virtual clock" in repr(watch)


def test_an_async_cell_is_timed_exactly(virtual: VirtualClock) -> None:
    async def cell() -> float:
        with chainlab.stopwatch() as watch:
            await models(3, 1.5).ainvoke("hi")
            await chainlab.asleep(0.5)
        return watch.seconds

    assert asyncio.run(cell()) == 2.0


def test_the_watch_keeps_the_clock_it_started_on() -> None:
    with chainlab.stopwatch() as watch, chainlab.virtual_clock():  # the watch: real
        chainlab.sleep(30)  # virtual: takes no real time
    assert not watch.virtual
    assert 0 <= watch.seconds < 10  # real seconds, wide margin


def test_real_clock_seconds_are_real_within_wide_margins() -> None:
    with chainlab.stopwatch() as watch:
        models(3, 0.2).invoke("hi")
    assert not watch.virtual
    assert 0.2 <= watch.seconds < 10  # overlap: one latency, not three, plus a busy machine
    t = chainlab.now()
    assert abs(t - time.perf_counter()) < 1.0


def test_seconds_before_the_start_and_a_second_start_are_refused() -> None:
    watch = chainlab.stopwatch()
    assert repr(watch) == "<stopwatch (not started)>"
    with pytest.raises(RuntimeError, match=r"has not started: use it as `with chainlab\."):
        _ = watch.seconds
    with watch:
        pass
    with pytest.raises(RuntimeError, match="already started; make a new one"), watch:
        pass


def test_chainlab_clock_virtual_makes_a_cells_timing_exact() -> None:
    code = (
        "import chainlab\n"
        "from chainlab.sim import FakeChatModel\n"
        "p = chainlab.RunnableParallel(a=FakeChatModel('a', latency=3),"
        " b=FakeChatModel('b', latency=3))\n"
        "with chainlab.stopwatch() as both:\n"
        "    p.invoke('x')\n"
        "with chainlab.stopwatch() as one:\n"
        "    FakeChatModel('a', latency=3).invoke('x')\n"
        "    FakeChatModel('b', latency=3).invoke('x')\n"
        "print(both.seconds, one.seconds, one.seconds / both.seconds)\n"
    )
    env = {**os.environ, "CHAINLAB_CLOCK": "virtual", "CHAINLAB_TIME_SCALE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3.0", "6.0", "2.0"]
