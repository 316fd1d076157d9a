"""The LangChain bridge: langchain_core runs recorded as chainlab spans, so a user's own
LangChain chain gets the same timeline, analysis and comparison."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab.sim import set_time_scale

lc = pytest.importorskip("langchain_core.runnables", reason="langchain-core is a dev extra")


def napper(
    name: str, seconds: float, *, meet: threading.Barrier | None = None, sleep: Any = time.sleep
) -> Any:
    """A leaf that sleeps ``seconds``, then (with ``meet``) waits for the others there:
    the branches cannot end unless they overlapped, however busy the machine."""

    def nap(x: Any) -> Any:
        sleep(seconds)
        if meet is not None:
            meet.wait()
        return f"{name}:{x}"

    nap.__name__ = name
    return nap


def fan_out(seconds: float = 0.1, **nap: Any) -> Any:
    """A LangChain chain: three branches (one a two-step sequence), then a fan-in."""
    return lc.RunnableParallel(
        joke=lc.RunnableLambda(napper("joke", seconds, **nap)) | lc.RunnableLambda(str.upper),
        poem=napper("poem", seconds, **nap),
        fact=napper("fact", seconds, **nap),
    ) | lc.RunnableLambda(lambda d: sorted(d))


def test_record_sees_every_langchain_run_with_its_path_kind_and_lane() -> None:
    with chainlab.record() as rec:
        meet = threading.Barrier(3, timeout=30)
        assert fan_out(meet=meet).invoke("cats") == ["fact", "joke", "poem"]
    by_path = {s.path: s for s in rec.spans}
    fork = "RunnableSequence/RunnableParallel<joke,poem,fact>"
    assert set(by_path) == {
        "RunnableSequence",
        fork,
        f"{fork}/joke",
        f"{fork}/joke/joke",
        f"{fork}/joke/upper",
        f"{fork}/poem",
        f"{fork}/fact",
        "RunnableSequence/RunnableLambda",
    }
    assert by_path[fork].kind == "parallel"
    assert by_path[f"{fork}/joke"].kind == "sequence"
    assert {s.path for s in rec.leaf_spans} == {
        f"{fork}/joke/joke",
        f"{fork}/joke/upper",
        f"{fork}/poem",
        f"{fork}/fact",
        "RunnableSequence/RunnableLambda",
    }
    for span in rec.spans:  # the tree is linked: every parent id is a recorded span
        assert span.parent_id is None or span.parent_id in {s.run_id for s in rec.spans}
    branch_lanes = {by_path[f"{fork}/{k}"].lane for k in ("poem", "fact")}
    assert len(branch_lanes) == 2
    assert threading.main_thread().name not in branch_lanes
    assert rec.lanes_used == 3  # the three branches met: they overlapped
    assert rec.critical_s < 0.9 * rec.work_s


def test_a_failing_langchain_branch_is_recorded_as_an_error() -> None:
    def bad(x: Any) -> Any:
        raise KeyError("no such topic")

    chain = lc.RunnableParallel(ok=str, bad=bad)
    with chainlab.record() as rec, pytest.raises(KeyError):
        chain.invoke(1)
    failed = [s for s in rec.spans if s.status == "error"]
    assert {s.path for s in failed} >= {"RunnableParallel<ok,bad>/bad"}
    assert all(isinstance(s.error, KeyError) for s in failed)


def test_ainvoke_is_recorded_too() -> None:
    with chainlab.record() as rec:
        asyncio.run(fan_out(0.05).ainvoke("dogs"))
    assert len(rec.leaf_spans) == 5
    assert all(s.status == "ok" for s in rec.spans)


def test_nothing_is_recorded_after_the_block() -> None:
    with chainlab.record() as rec:
        pass
    fan_out(0.0).invoke("x")
    with chainlab.record() as outer, chainlab.record() as inner:  # both see the runs
        fan_out(0.0).invoke("y")
    assert len(rec.spans) == 0
    assert len(inner.spans) == len(outer.spans) == 8


def test_a_langchain_chain_inside_a_chainlab_chain_nests_under_its_leaf() -> None:
    mixed = chainlab.RunnableParallel(lc_side=fan_out(0.02), ours=napper("ours", 0.02))
    with chainlab.record() as rec:
        mixed.invoke("x")
    leaf = next(s for s in rec.spans if s.path == "RunnableParallel<lc_side,ours>/lc_side")
    inner = [s for s in rec.spans if s.path.startswith(leaf.path + "/")]
    assert len(inner) == 8
    top = next(s for s in inner if s.path == f"{leaf.path}/RunnableSequence")
    assert top.parent_id == leaf.run_id
    assert leaf.self_s < 0.01  # its time is its LangChain children's, not counted twice


def test_compare_runs_a_langchain_chain_sequentially_and_in_parallel() -> None:
    """On the virtual clock (langchain_core's own threads followed): exact figures."""
    with set_time_scale(1.0), chainlab.virtual_clock():
        cmp = chainlab.compare(fan_out(0.1, sleep=chainlab.sleep), "cats")
    assert cmp.output == ["fact", "joke", "poem"]
    assert cmp.sequential.lanes_used == 1  # max_concurrency=1 at every level: one at a time
    assert cmp.lanes_used == 3
    assert cmp.sequential_s == pytest.approx(0.3, abs=1e-6)  # three 0.1 s, one by one
    assert cmp.speedup == pytest.approx(3.0, abs=1e-4)  # the three overlap completely
    assert cmp.name == "RunnableSequence"
    figure = cmp.plot()
    assert figure.axes
