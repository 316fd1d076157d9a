"""Critical path, speedup, efficiency, ceiling, lanes: hand-built cases with known answers,
then real runs with wide margins."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough, record
from chainlab.trace import SpanRecord, analyse
from tests.conftest import Driver

_ids = itertools.count(1)


def span(
    kind: str,
    start: float,
    end: float,
    parent: SpanRecord | None = None,
    *,
    key: str = "",
    lane: str = "L0",
    self_s: float | None = None,
) -> SpanRecord:
    """A hand-made span; ``key`` is its path segment under its parent."""
    path = f"{parent.path}/{key}" if parent else "root"
    return SpanRecord(
        run_id=next(_ids),
        parent_id=parent.run_id if parent else None,
        node_id=path,
        path=path,
        name=key or "root",
        kind=kind,
        lane=lane,
        start=start,
        end=end,
        duration=end - start,
        status="ok",
        error=None,
        attempt=1,
        input_preview="",
        output_preview="",
        tags=(),
        is_leaf=kind == "leaf",
        self_s=(end - start if self_s is None else self_s) if kind == "leaf" else 0.0,
        depth=0,
        branch=None,
    )


def test_sequence_of_a_parallel() -> None:
    # root: a (1 s) | parallel(x: 2 s, y: [b 1 s | c 1.5 s]) | d (0.5 s), two lanes
    root = span("sequence", 0, 4.0)
    a = span("leaf", 0, 1.0, root, key="a")
    par = span("parallel", 1.0, 3.5, root, key="p")
    x = span("leaf", 1.0, 3.0, par, key="x", lane="L1")
    y = span("sequence", 1.0, 3.5, par, key="y", lane="L2")
    b = span("leaf", 1.0, 2.0, y, key="b", lane="L2")
    c = span("leaf", 2.0, 3.5, y, key="c", lane="L2")
    d = span("leaf", 3.5, 4.0, root, key="d")
    result = analyse([root, a, par, x, y, b, c, d])
    assert result.wall_s == pytest.approx(4.0)
    assert result.work_s == pytest.approx(6.0)
    assert result.critical_s == pytest.approx(4.0)  # a + (b + c) + d
    assert [s.name for s in result.critical_path] == ["a", "b", "c", "d"]
    assert result.speedup == pytest.approx(1.5)
    assert result.lanes_used == 2
    assert result.efficiency == pytest.approx(0.75)
    assert result.ceiling == pytest.approx(1.5)
    assert result.overhead_s == pytest.approx(0.0)
    assert result.lanes == ["L0", "L1", "L2"]
    assert result.lane_utilisation == pytest.approx({"L0": 0.375, "L1": 0.5, "L2": 0.625})
    assert result.idle_gaps["L0"] == [(1.0, 3.5)]
    assert result.idle_gaps["L1"] == [(0.0, 1.0), (3.0, 4.0)]
    assert result.idle_gaps["L2"] == [(0.0, 1.0), (3.5, 4.0)]


def test_branches_run_one_at_a_time_are_still_independent() -> None:
    # max_concurrency=1: three 1 s branches one after another; the structure says the
    # critical path is one branch, so the ceiling (3x) shows what parallelism would buy
    par = span("parallel", 0, 3.2)
    leaves = [span("leaf", i * 1.05, i * 1.05 + 1, par, key=k) for i, k in enumerate("abc")]
    result = analyse([par, *leaves])
    assert result.critical_s == pytest.approx(1.0)
    assert result.ceiling == pytest.approx(3.0)
    assert result.lanes_used == 1
    assert result.speedup == pytest.approx(3 / 3.2)
    assert result.overhead_s == pytest.approx(2.2)


def test_map_items_are_independent_and_retries_of_one_branch_add_up() -> None:
    m = span("map", 0, 3.0)
    one = span("leaf", 0, 1.0, m, key="0", lane="A")
    two_try1 = span("leaf", 0, 1.0, m, key="1", lane="B")
    two_try2 = span("leaf", 1.5, 2.5, m, key="1", lane="B")  # same path: a retry
    result = analyse([m, one, two_try1, two_try2])
    assert result.critical_s == pytest.approx(2.0)
    assert result.critical_path == [two_try1, two_try2]


def test_fallbacks_add_up() -> None:
    fb = span("fallbacks", 0, 2.0)
    first = span("leaf", 0, 0.5, fb, key="0")
    second = span("leaf", 0.5, 2.0, fb, key="1")
    assert analyse([fb, first, second]).critical_s == pytest.approx(2.0)


def test_a_leaf_counts_its_own_time_plus_what_it_called() -> None:
    host = span("leaf", 0, 3.0, self_s=1.0)
    inner = span("sequence", 1.0, 3.0, host, key="returned")
    s1 = span("leaf", 1.0, 2.0, inner, key="s1")
    s2 = span("leaf", 2.0, 3.0, inner, key="s2")
    result = analyse([host, inner, s1, s2])
    assert result.work_s == pytest.approx(3.0)
    assert result.critical_s == pytest.approx(3.0)
    assert result.critical_path == [host, s1, s2]


def test_unrelated_runs_overlapping_are_parallel_and_consecutive_ones_chain() -> None:
    r1 = span("leaf", 0, 1.0, lane="A")
    r2 = span("leaf", 0.2, 1.4, lane="B")  # overlaps r1: independent
    r3 = span("leaf", 1.5, 2.0, lane="A")  # after both: dependent
    result = analyse([r1, r2, r3])
    assert result.critical_s == pytest.approx(1.7)
    assert result.critical_path == [r2, r3]
    assert result.lanes_used == 2


def test_lanes_used_counts_lanes_busy_at_once_not_thread_names() -> None:
    par = span("parallel", 0, 2.0, lane="Main")
    a = span("leaf", 0, 1.0, par, key="a", lane="T1")
    b = span("leaf", 1.0, 2.0, par, key="b", lane="T2")  # starts as a ends
    result = analyse([par, a, b])
    assert result.lanes == ["T1", "T2"]
    assert result.lanes_used == 1
    assert result.efficiency == pytest.approx(1.0)


def test_nothing_recorded() -> None:
    result = analyse([])
    assert (result.wall_s, result.work_s, result.critical_path, result.speedup) == (0, 0, [], 0)


def test_short_gaps_are_not_idle() -> None:
    a = span("leaf", 0, 1.0)
    b = span("leaf", 1.0001, 2.0)
    assert analyse([a, b]).idle_gaps == {"L0": []}
    assert analyse([a, b], min_gap=0).idle_gaps == {"L0": [(1.0, 1.0001)]}


# -- real runs ------------------------------------------------------------------------------


def sleeper(seconds: float) -> Callable[[Any], Any]:
    def nap(x: Any) -> Any:
        time.sleep(seconds)
        return x

    return nap


def test_real_parallel_run(drive: Driver) -> None:
    chain = RunnableParallel(
        a=sleeper(0.05), b=RunnableLambda(sleeper(0.05)) | sleeper(0.05), c=sleeper(0.05)
    )
    with record() as rec:
        drive(chain, 1)
    assert [s.path.rsplit("/", 2)[-2] for s in rec.critical_path] == ["b", "b"]
    assert 0.1 <= rec.critical_s < 0.3
    assert rec.work_s >= 0.2
    assert rec.wall_s >= 0.1
    assert rec.ceiling == pytest.approx(2.0, rel=0.25)
    assert 1.0 < rec.speedup <= rec.lanes_used + 1e-9
    assert rec.lanes_used == 3
    assert 0 < rec.efficiency <= 1
    assert rec.overhead_s == pytest.approx(rec.wall_s - rec.critical_s)
    assert set(rec.lane_utilisation) == set(rec.lanes)
    assert all(0 < u <= 1 for u in rec.lane_utilisation.values())


def test_real_run_under_max_concurrency_one() -> None:
    chain = RunnableParallel(a=sleeper(0.03), b=sleeper(0.03), c=sleeper(0.03))
    with record() as rec:
        chain.invoke(1, {"max_concurrency": 1})
    assert rec.lanes_used == 1
    assert 0.5 < rec.speedup <= 1.0 + 1e-9  # one leaf at a time, at best back to back
    assert rec.ceiling == pytest.approx(3.0, rel=0.25)
    assert rec.overhead_s >= 0.05


def test_assign_passthrough_is_structure_not_work() -> None:
    chain = RunnablePassthrough.assign(n=sleeper(0.02), m=sleeper(0.04))
    with record() as rec:
        chain.invoke({"x": 1})
    assert [s.name for s in rec.critical_path] == ["nap"]
    assert rec.critical_path[0].path.endswith("/m")
    assert rec.ceiling == pytest.approx(1.5, rel=0.3)


def test_analysis_is_cached_until_new_spans_arrive() -> None:
    with record() as rec:
        RunnableLambda(str).invoke(1)
    first = rec.analysis()
    assert rec.analysis() is first
    RunnableLambda(str).invoke(2, {"callbacks": [rec]})
    assert rec.analysis() is not first
    assert len(rec.leaf_spans) == 2


def test_a_failed_run_names_its_branch_and_keeps_cancelled_work_off_the_critical_path() -> None:
    import threading

    import pytest

    import chainlab
    from chainlab import RunnableParallel

    started = threading.Event()

    def papers(x: object) -> object:
        started.wait(5)  # fail once the sibling runs
        raise ValueError("papers index is down")

    def archive(x: object) -> object:
        started.set()
        chainlab.sleep(5.0)  # cancelled by the failure
        return x

    with chainlab.record() as rec, pytest.raises(ValueError):
        RunnableParallel(papers=papers, archive=archive).invoke(1)
    failure = rec.failure
    assert failure is not None
    assert (failure.status, failure.branch, failure.node) == ("failed", "papers", "papers")
    assert isinstance(failure.error, ValueError)
    assert failure.describe() == "branch `papers` failed: ValueError: papers index is down"
    assert 0 < failure.after_s < 4.0
    assert all(s.status != "cancelled" for s in rec.critical_path)
    assert "speedup" not in rec.summary()
    assert "branch `papers` failed" in rec.summary()


def test_a_successful_run_has_no_failure_and_singular_lanes() -> None:
    import chainlab

    with chainlab.record() as rec:
        chainlab.RunnableLambda(str.upper).invoke("x")
    assert rec.failure is None
    assert "on 1 lane," in rec.summary()
