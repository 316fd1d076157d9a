"""Event-loop stalls: a blocking call inside an ``async def`` branch is found while
recording and blamed on that branch, under chainlab and langchain_core alike."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableParallel
from chainlab.trace.stalls import WATCHDOG, LoopProbe, stall_summary


async def blocks(x: Any) -> Any:
    time.sleep(0.3)  # the classic bug: a blocking call inside async def
    return x


async def polite(x: Any) -> Any:
    await asyncio.sleep(0.05)
    return x


def test_a_blocking_branch_is_one_stall_blamed_on_its_path() -> None:
    chain = RunnableParallel(bad=blocks, good=polite, other=polite)
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1))
    stalls = rec.loop_stalls
    assert len(stalls) == 1
    (stall,) = stalls
    assert stall.path == "RunnableParallel<bad,good,other>/bad"
    assert 0.25 <= stall.seconds < 1.5
    bad = next(s for s in rec.spans if s.path.endswith("/bad"))
    assert bad.start - 0.05 <= stall.start <= bad.end  # it began while bad ran
    assert stall.span is not None
    assert stall.span.run_id == bad.run_id
    assert stall.describe() == f"blocked the event loop {stall.seconds:.2f} s"
    assert "event-loop stall: RunnableParallel<bad,good,other>/bad blocked" in rec.summary()


def test_a_clean_async_run_reports_no_stall() -> None:
    chain = RunnableParallel({f"q{i}": polite for i in range(20)})
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1))
    assert rec.loop_stalls == []
    assert "stall" not in rec.summary()


def test_sync_runs_start_no_probe() -> None:
    chain = RunnableParallel(a=lambda x: time.sleep(0.15), b=lambda x: x)
    with chainlab.record() as rec:
        chain.invoke(1)
    assert rec._watch.stopped == []
    assert rec._watch.probes == {}
    assert rec.loop_stalls == []


def test_nested_blocking_leaf_is_blamed_deep_in_the_tree() -> None:
    inner = chainlab.RunnableLambda(polite) | blocks
    chain = RunnableParallel(outer=polite, deep=RunnableParallel(x=inner, y=polite))
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1))
    (stall,) = rec.loop_stalls
    assert stall.path is not None
    assert stall.path.endswith("/deep/x/blocks")


def test_probe_stops_with_the_recording() -> None:
    with chainlab.record() as rec:
        asyncio.run(RunnableParallel(a=polite, b=polite).ainvoke(1))
    assert rec._watch.probes == {}
    (probe,) = rec._watch.stopped
    assert not probe.watched
    assert probe not in WATCHDOG.probes  # the one watchdog thread no longer looks at it


def test_late_beats_count_only_while_a_task_holds_the_loop() -> None:
    """A late beat with no task running (the process paused, a plain callback) is not
    blamed on a branch; a task holding the loop is."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        probe = LoopProbe(loop)
        loop.call_soon(time.sleep, 0.3)  # held, but by no task
        await asyncio.sleep(0.4)
        outside = list(probe.stalls)
        time.sleep(0.3)  # held by this task
        await asyncio.sleep(0.05)
        probe.stop()
        return [outside, probe.stalls]

    outside, after = asyncio.run(main())
    assert outside == []
    assert len(after) == 1
    assert after[0].tasks
    assert after[0].end_ns - after[0].start_ns > 0.25e9


def test_stall_summary_names_the_longest() -> None:
    from chainlab.trace.stalls import LoopStall

    stalls = [LoopStall("a/x", 0.2, 0.0, "T1"), LoopStall(None, 0.5, 1.0, "T2")]
    assert stall_summary(stalls) == (
        "event-loop stall: task T2 blocked the event loop 0.50 s (the longest of 2)"
    )
    assert stall_summary([]) == "no event-loop stalls"


def test_timeline_shades_the_stall_across_every_lane() -> None:
    chain = RunnableParallel(bad=blocks, good=polite)
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1))
    ax = rec.plot().axes[0]
    bands = [a for a in ax.patches if a.get_gid() == "loop_stall"]
    assert len(bands) == 1
    ymin, ymax = bands[0].get_window_extent().y0, bands[0].get_window_extent().y1
    frame = ax.get_window_extent()
    assert ymin <= frame.y0 + 1
    assert ymax >= frame.y1 - 1
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "loop_stall_label"]
    assert labels
    assert "bad blocked the event loop" in labels[0]


lc = pytest.importorskip("langchain_core.runnables", reason="langchain-core is a dev extra")


def test_langchain_core_blocking_branch_is_blamed() -> None:
    chain = lc.RunnableLambda(polite) | lc.RunnableParallel(
        bad=lc.RunnableLambda(blocks), good=lc.RunnableLambda(polite)
    )
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1))
    (stall,) = rec.loop_stalls
    assert stall.path == "RunnableSequence/RunnableParallel<bad,good>/bad"
    assert stall.seconds >= 0.25


def test_langchain_core_clean_run_reports_none() -> None:
    chain = lc.RunnableParallel({f"q{i}": lc.RunnableLambda(polite) for i in range(10)})
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1))
    assert rec.loop_stalls == []


def test_watch_loops_false_turns_the_probe_off() -> None:
    with chainlab.record(watch_loops=False) as rec:
        asyncio.run(RunnableParallel(bad=blocks, good=polite).ainvoke(1))
    assert rec.loop_stalls == []
    assert rec._watch.stopped == []
    assert all(rec.started_on_loop(s.run_id) for s in rec.spans)  # still noted for replay


def test_a_recording_attached_to_one_run_stops_its_probe_when_the_run_ends() -> None:
    rec = chainlab.Recording()
    asyncio.run(RunnableParallel(bad=blocks, good=polite).ainvoke(1, {"callbacks": [rec]}))
    assert rec._watch.probes == {}
    assert [s.path.rsplit("/", 1)[-1] for s in rec.loop_stalls if s.path] == ["bad"]


def test_cpu_work_inside_async_def_is_a_stall_too() -> None:
    async def spins(x: Any) -> Any:
        start = time.perf_counter()
        while time.perf_counter() - start < 0.3:  # CPU work, no await
            pass
        return x

    with chainlab.record() as rec:
        asyncio.run(RunnableParallel(hot=spins, good=polite).ainvoke(1))
    (stall,) = rec.loop_stalls
    assert stall.path == "RunnableParallel<hot,good>/hot"
    assert stall.seconds >= 0.25
