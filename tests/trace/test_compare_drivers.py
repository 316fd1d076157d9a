"""compare() / acompare() beyond the basics: medians, drivers, failures, loops already running."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel, compare
from chainlab.trace import acompare


def counting_chain(delay: float = 0.01) -> tuple[RunnableParallel, itertools.count[int]]:
    """A parallel whose output says which call of it this was."""
    calls = itertools.count(1)
    lock = threading.Lock()

    def nap(x: Any) -> Any:
        time.sleep(delay)
        return x

    def which(x: Any) -> int:
        time.sleep(delay)
        with lock:
            return next(calls)

    return RunnableParallel(a=nap, b=nap, n=which), calls


def test_repeat_with_ainvoke_keeps_the_output_of_the_median_parallel_run() -> None:
    chain, calls = counting_chain()
    cmp = compare(chain, 1, repeat=3, driver="ainvoke")
    assert next(calls) == 7  # 3 sequential + 3 parallel runs, alternating
    assert len(cmp.sequential_runs_s) == len(cmp.parallel_runs_s) == 3
    assert cmp.parallel_s == sorted(cmp.parallel_runs_s)[1]
    # the output shown is the one of the run kept, whichever call number it had
    (n_leaf,) = [s for s in cmp.parallel.leaf_spans if s.node_id == "root/n"]
    assert repr(cmp.output["n"]) == n_leaf.output_preview
    assert cmp.output["n"] in (2, 4, 6)  # parallel runs are the even calls
    # ainvoke: the run is a task; sync leaves go to worker threads
    roots = [s for s in cmp.parallel.spans if s.parent_id is None]
    assert [s.lane[:5] for s in roots] == ["Task-"]
    assert cmp.sequential.lanes_used == 1


def test_every_run_is_its_own_recording() -> None:
    chain, _ = counting_chain(0.005)
    cmp = compare(chain, 1, repeat=2)
    assert cmp.sequential is not cmp.parallel
    assert cmp.sequential.name == "sequential"
    assert cmp.parallel.name == "parallel"
    for rec in (cmp.sequential, cmp.parallel):
        assert sum(s.parent_id is None for s in rec.spans) == 1  # one run each
        assert len(rec.leaf_spans) == 3


def test_compare_with_ainvoke_works_inside_a_running_event_loop() -> None:
    async def anap(x: Any) -> Any:
        await asyncio.sleep(0.02)
        return x

    chain = RunnableParallel(a=anap, b=anap, c=anap)

    async def notebook_cell() -> Any:  # Jupyter: a loop is already running
        return compare(chain, "x", driver="ainvoke")

    cmp = asyncio.run(notebook_cell())
    assert cmp.output == dict.fromkeys("abc", "x")
    assert cmp.sequential_s >= 0.06
    assert cmp.speedup > 1.5


def test_acompare_repeats_and_keeps_the_config() -> None:
    async def anap(x: Any) -> Any:
        await asyncio.sleep(0.02)
        return x

    chain = RunnableParallel({k: anap for k in "abcd"})
    cmp = asyncio.run(acompare(chain, 1, repeat=2, config={"max_concurrency": 2}))
    assert len(cmp.parallel_runs_s) == 2
    assert cmp.parallel.lanes_used == 2  # the config's limit holds in the parallel run
    assert cmp.sequential.lanes_used == 1
    assert cmp.ceiling == pytest.approx(4.0, rel=0.25)
    assert 1.3 < cmp.speedup < 2.6
    assert "median of 2 runs" in repr(cmp)


def test_acompare_checks_repeat_like_compare() -> None:
    with pytest.raises(ValueError, match="repeat"):
        asyncio.run(acompare(len, "x", repeat=0))


@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_a_failing_branch_propagates_with_its_branch_note(driver: str) -> None:
    def fussy(x: Any) -> Any:
        raise LookupError("no rhyme")

    chain = RunnableParallel(ok=str, poem=fussy)
    with pytest.raises(LookupError, match="no rhyme") as info:
        compare(chain, 1, driver=driver)
    assert any("branch 'poem'" in note for note in getattr(info.value, "__notes__", []))


def exclusive_leaf() -> Any:
    """A function that fails whenever two calls of it overlap."""
    running = 0
    lock = threading.Lock()

    def exclusive(x: Any) -> Any:
        nonlocal running
        with lock:
            running += 1
            crowded = running > 1
        time.sleep(0.03)
        with lock:
            running -= 1
        if crowded:
            raise RuntimeError("not alone")
        return x

    return exclusive


def test_a_failure_only_in_the_parallel_run_still_raises() -> None:
    exclusive = exclusive_leaf()  # the sequential run passes, the parallel one cannot
    with pytest.raises(RuntimeError, match="not alone"):
        compare(RunnableParallel(a=exclusive, b=exclusive), 1)
    alone = exclusive_leaf()
    cmp = compare(RunnableLambda(alone) | alone, 1)  # a sequence never overlaps
    assert cmp.output == 1
    assert cmp.speedup == pytest.approx(1.0, rel=0.5)
