"""compare(): the same chain with max_concurrency=1 and in parallel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel, compare
from chainlab.trace import Comparison, Recording, acompare


def sleeper(seconds: float) -> Callable[[Any], Any]:
    def nap(x: Any) -> Any:
        time.sleep(seconds)
        return x

    return nap


def simulated(seconds: float) -> Callable[[Any], Any]:
    def nap(x: Any) -> Any:
        chainlab.sleep(seconds)  # simulated I/O: exact on a virtual clock
        return x

    return nap


def test_parallel_beats_sequential(virtual: Any) -> None:
    cmp = compare(RunnableParallel({k: simulated(0.03) for k in "abcd"}), 5)
    assert isinstance(cmp, Comparison)
    assert isinstance(cmp.sequential, Recording)
    assert isinstance(cmp.parallel, Recording)
    assert cmp.output == dict.fromkeys("abcd", 5)
    assert round(cmp.sequential_s, 9) == 0.12  # four 30 ms leaves, one at a time
    assert round(cmp.parallel_s, 9) == 0.03  # all four at once
    assert cmp.sequential.lanes_used == 1
    assert cmp.parallel.lanes_used == 4
    assert round(cmp.speedup, 6) == 4.0
    assert round(cmp.efficiency, 6) == 1.0
    assert round(cmp.ceiling, 6) == 4.0
    text = repr(cmp)
    for word in ("sequential", "parallel", "speedup", "efficiency", "ceiling", "RunnableParallel"):
        assert word in text


def test_parallel_beats_sequential_on_the_real_clock() -> None:
    """Real sleeps on real threads: a wide margin (4 × 0.2 s; 1.5× needs the parallel
    run under 0.53 s, whatever the machine's load)."""
    cmp = compare(RunnableParallel({k: sleeper(0.2) for k in "abcd"}), 5)
    assert cmp.sequential_s >= 0.8
    assert cmp.parallel.lanes_used == 4
    assert 1.5 < cmp.speedup <= 4.5
    assert cmp.speedup == pytest.approx(cmp.sequential_s / cmp.parallel_s)


def test_config_is_kept_and_max_concurrency_added_only_to_the_sequential_run() -> None:
    seen: list[Any] = []

    def spy(x: Any, config: dict[str, Any]) -> Any:
        seen.append((config.get("max_concurrency"), tuple(config.get("tags", ()))))
        return x

    compare(RunnableParallel(a=spy, b=spy), 1, config={"tags": ["t"], "max_concurrency": 2})
    assert sorted(seen) == [(1, ("t",)), (1, ("t",)), (2, ("t",)), (2, ("t",))]


def test_repeat_keeps_the_median_runs() -> None:
    cmp = compare(RunnableParallel(a=sleeper(0.01), b=sleeper(0.01)), 1, repeat=3)
    assert len(cmp.sequential_runs_s) == len(cmp.parallel_runs_s) == 3
    assert cmp.sequential_s == sorted(cmp.sequential_runs_s)[1]
    assert cmp.parallel_s == sorted(cmp.parallel_runs_s)[1]
    assert "median of 3" in repr(cmp)


def test_ainvoke_driver_and_acompare(virtual: Any) -> None:
    async def anap(x: Any) -> Any:
        await chainlab.asleep(0.03)
        return x

    chain = RunnableParallel(a=anap, b=anap, c=anap)
    cmp = compare(chain, 1, driver="ainvoke")
    assert cmp.output == {"a": 1, "b": 1, "c": 1}
    assert all(s.lane.startswith("Task-") for s in cmp.parallel.leaf_spans)
    assert round(cmp.speedup, 6) == 3.0

    acmp = asyncio.run(acompare(chain, 2))
    assert acmp.output == {"a": 2, "b": 2, "c": 2}
    assert round(acmp.speedup, 6) == 3.0


def test_a_dict_or_function_is_coerced_and_errors_propagate() -> None:
    assert compare({"n": len}, "abc").output == {"n": 3}

    def boom(x: Any) -> Any:
        raise KeyError("nope")

    with pytest.raises(KeyError):
        compare(RunnableLambda(boom), 1)
    with pytest.raises(ValueError, match="repeat"):
        compare(len, "x", repeat=0)
    with pytest.raises(ValueError, match="driver"):
        compare(len, "x", driver="threads")


def test_an_outer_recording_sees_both_runs_once() -> None:
    with chainlab.record() as outer:
        cmp = compare(RunnableParallel(a=str, b=repr), 1)
    assert len(outer.spans) == len(cmp.sequential.spans) + len(cmp.parallel.spans) == 6


def test_a_speedup_above_the_ceiling_is_explained() -> None:
    """The ceiling comes from the parallel run alone, the speedup from two runs: when
    the sequential run's steps took longer (noise, warm-up), the summary says so."""

    def napper(seconds: float) -> Any:
        def nap(x: Any) -> Any:
            time.sleep(seconds)
            return x

        return nap

    with chainlab.record() as slow_steps:  # the "sequential" run: 2 × 0.1 s, one at a time
        RunnableParallel(a=napper(0.1), b=napper(0.1)).invoke(1, {"max_concurrency": 1})
    with chainlab.record() as fast_steps:  # the "parallel" run: 2 × 0.02 s at once
        RunnableParallel(a=napper(0.02), b=napper(0.02)).invoke(1)
    odd = Comparison("odd", [slow_steps], [fast_steps], None)
    assert odd.speedup > odd.ceiling * 1.02
    assert "speedup above the ceiling" in repr(odd)
    normal = chainlab.compare(RunnableParallel(a=napper(0.02), b=napper(0.02)), 1)
    assert ("speedup above the ceiling" in repr(normal)) == (normal.speedup > normal.ceiling * 1.02)
