"""The replay's model, piece by piece, on known schedules (exact times, no clock)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.trace.replay import Limits, check_limits
from tests.trace.schedules import build


def test_limits_label_names_what_was_set() -> None:
    assert Limits().label() == "no limit"
    assert (
        Limits(max_concurrency=3, rate_limit=2.5).label() == "max_concurrency=3, rate_limit=2.5/s"
    )
    assert check_limits(None, 2, 4) == Limits(None, 2, 4.0)


def test_workers_and_max_concurrency_take_the_tighter() -> None:
    rec = build([("P", "parallel", 0, 1, "m")] + [(f"P/{k}", "leaf", 0, 1, k) for k in "abcd"])
    assert rec.replay(max_concurrency=3, workers=2).wall_s == pytest.approx(2.0)
    assert rec.replay(max_concurrency=1, workers=4).wall_s == pytest.approx(4.0)
    assert rec.replay(workers=2).lanes == ["worker 1", "worker 2"]


def test_a_sequence_inside_a_branch_keeps_its_order_and_the_barrier_waits() -> None:
    rec = build(
        [
            ("S", "sequence", 0, 4, "m"),
            ("S/P", "parallel", 0, 3, "m"),
            ("S/P/a", "leaf", 0, 1, "t1"),
            ("S/P/b", "leaf", 0, 3, "t2"),
            ("S/after", "leaf", 3, 4, "m"),
        ]
    )
    out = {s.path: s for s in rec.replay(max_concurrency=1).spans}
    assert (out["S/P/a"].start, out["S/P/a"].end) == pytest.approx((0, 1))
    assert (out["S/P/b"].start, out["S/P/b"].end) == pytest.approx((1, 4))
    assert out["S/after"].start == pytest.approx(4)  # after the join, not before
    assert out["S"].end == pytest.approx(5)


def test_tries_of_one_branch_run_one_after_another() -> None:
    rec = build(
        [
            ("P", "parallel", 0, 2, "m"),
            ("P/flaky", "leaf", 0, 1, "t1"),
            ("P/flaky", "leaf", 1, 2, "t1"),  # the retry: same path
            ("P/other", "leaf", 0, 2, "t2"),
        ]
    )
    predicted = rec.replay()
    tries = sorted((s for s in predicted.spans if s.path == "P/flaky"), key=lambda s: s.start)
    assert tries[0].end == pytest.approx(tries[1].start)
    assert predicted.wall_s == pytest.approx(2.0)


def test_runs_one_after_another_stay_in_order_and_overlapping_ones_do_not() -> None:
    def nap(x: Any) -> Any:
        time.sleep(0.03)
        return x

    together = threading.Barrier(2)

    def meet(x: Any) -> Any:
        together.wait(5)  # both calls are surely running at once
        return nap(x)

    leaf = RunnableLambda(nap)
    with chainlab.record() as rec:
        leaf.invoke(1)
        leaf.invoke(2)  # started after the first ended: it waits for it in the replay
        pair = RunnableLambda(meet)
        threads = [threading.Thread(target=pair.invoke, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    predicted = rec.replay()
    roots = sorted(predicted.spans, key=lambda s: s.start)
    assert roots[1].start >= roots[0].end - 1e-9
    assert roots[2].start >= roots[1].end - 1e-9
    assert roots[3].start == pytest.approx(roots[2].start)  # the two threads overlapped


def test_a_function_calling_runnables_keeps_its_own_time_then_its_calls() -> None:
    inner = RunnableParallel(x=lambda v: time.sleep(0.03), y=lambda v: time.sleep(0.03))

    def calls(v: Any) -> Any:
        time.sleep(0.02)
        return inner.invoke(v)

    with chainlab.record() as rec:
        RunnableLambda(calls).invoke(1)
    serial = rec.replay(max_concurrency=1)
    assert serial.wall_s == pytest.approx(rec.work_s, rel=0.02)  # everything one at a time
    both = rec.replay()
    own = next(s for s in rec.spans if s.name == "calls").self_s
    assert both.wall_s == pytest.approx(own + max(s.duration for s in rec.leaf_spans[1:]), rel=0.1)


def test_sweep_over_workers_and_rate_limit() -> None:
    rec = build([("P", "parallel", 0, 1, "m")] + [(f"P/{k}", "leaf", 0, 1, k) for k in "abcd"])
    by_workers = rec.sweep(workers=[1, 2, 4, 8])
    assert [r.wall_s for r in by_workers.rows] == pytest.approx([4, 2, 1, 1])
    assert by_workers.knee == 4
    by_rate = rec.sweep(rate_limit=[0.5, 1, 2, 1000])
    # four starts 1/r apart, each call 1 s: 3/r + 1
    assert [r.wall_s for r in by_rate.rows] == pytest.approx([7, 4, 2.5, 1.003])
    assert by_rate.knee == 1000
    assert "rate_limit" in by_rate.plot().axes[0].get_xlabel()


def test_a_sync_invoke_inside_a_running_loop_is_replayed_as_invoke() -> None:
    """A notebook cell runs inside the kernel's event loop: its sync invoke still starts
    branches on pool threads, at most ``max_concurrency`` at a time, in key order."""

    def nap(seconds: float) -> Any:
        return RunnableLambda(lambda x: time.sleep(seconds) or x)

    chain = RunnableParallel(a=nap(0.05) | nap(0.05), b=nap(0.1), c=nap(0.1))

    async def cell() -> chainlab.Recording:
        with chainlab.record() as rec:
            chain.invoke(1)
        return rec

    import asyncio

    rec = asyncio.run(cell())
    assert rec.started_on_loop(rec.spans[0].run_id)  # the root did start inside a loop
    d = {s.path.split("/", 1)[1]: s.duration for s in rec.leaf_spans}
    # two workers take a and b; c waits for a whole branch to end (a's second step does
    # not let c in, as a queue of single calls would: that would end at about 0.15 s)
    expected = min(_a_total(rec), d["b"]) + d["c"]
    assert rec.replay(max_concurrency=2).wall_s == pytest.approx(expected, rel=0.02)


def _a_total(rec: chainlab.Recording) -> float:
    return sum(s.duration for s in rec.leaf_spans if "/a/" in s.path)
