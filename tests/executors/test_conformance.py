"""One conformance suite, every executor backend: threads, processes, Dask.

Each test runs under ``invoke`` and ``ainvoke`` (the ``drive`` fixture) on each backend
(the ``backend`` fixture). Leaf functions are module-level or closures, so they travel
to worker processes; measurements a leaf makes are *returned*, never written to shared
state (a worker process would write to its own copy).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from chainlab import Cancelled, RunnableLambda, RunnableParallel, abandoned_calls
from tests.conftest import Driver
from tests.executors.conftest import Recorder
from tests.executors.leaves import Boom, Gate, fail_once_started, fail_soon, meet, nap, wait_for


def add_one(x: int) -> int:
    return x + 1


def square(x: int) -> int:
    return x * x


def tagged(x: int, config: dict[str, Any]) -> tuple[int, list[str], dict[str, Any]]:
    return x, config.get("tags", []), config.get("metadata", {})


def tree() -> Any:
    offset = 100  # a closure variable: travels by value

    return RunnableParallel(
        double=lambda x: 2 * x,
        chain=RunnableLambda(add_one)
        | {"sq": square, "neg": lambda x: -x + offset}
        | (lambda d: d["sq"] + d["neg"]),
        many=RunnableLambda(lambda x: list(range(x))) | RunnableLambda(square).map(),
        tagged=RunnableLambda(tagged),
    )


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    """How many intervals were open at once, at most."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = peak = 0
    for _, step in events:  # ends sort before starts at the same instant
        now += step
        peak = max(peak, now)
    return peak


def test_outputs_equal_the_threads_backend(drive: Driver, backend: Any) -> None:
    config = {"tags": ["lesson"], "metadata": {"who": "me"}}
    expected = tree().invoke(3, config)
    assert drive(tree(), 3, {**config, "executor": backend}) == expected
    assert expected["many"] == [0, 1, 4]


def test_errors_keep_their_type_and_name_the_branch(drive: Driver, quick_backend: Any) -> None:
    chain = RunnableParallel(ok=add_one, bad=fail_soon)
    with pytest.raises(Boom, match="bad input 1") as info:
        drive(chain, 1, {"executor": quick_backend})
    assert "in branch 'bad' of RunnableParallel<ok,bad>" in info.value.__notes__[0]
    if quick_backend != "threads":  # the remote traceback shows the user's line
        assert "fail_soon" in str(info.value.__cause__)


@pytest.mark.parametrize("limit", [1, 2])
def test_max_concurrency_is_one_global_limit(drive: Driver, quick_backend: Any, limit: int) -> None:
    chain = RunnableParallel(
        left=RunnableParallel(a=nap, b=nap),
        right=RunnableLambda(lambda x: [x, x, x]) | RunnableLambda(nap).map(),
        deep=RunnableParallel(c=RunnableParallel(d=nap)),
    )
    out = drive(chain, 0, {"executor": quick_backend, "max_concurrency": limit})
    intervals = [out["left"]["a"], out["left"]["b"], *out["right"], out["deep"]["c"]["d"]]
    assert len(intervals) == 6
    assert max_overlap(intervals) <= limit


def test_without_a_limit_leaves_run_at_once(
    drive: Driver, quick_backend: Any, tmp_path: Path
) -> None:
    """2 workers, 2 leaves: both run at once (each waits until it sees the other
    started: run one after the other, the first would give up)."""
    where = str(tmp_path)
    a = RunnableLambda(lambda x: meet(x, where, "a", "b"))  # travels by value
    b = RunnableLambda(lambda x: meet(x, where, "b", "a"))
    out = drive(RunnableParallel(a=a, b=b), 0, {"executor": quick_backend})
    assert out == {"a": True, "b": True}


@pytest.mark.timeout(60)
def test_nested_parallels_at_limit_1_do_not_deadlock(drive: Driver, quick_backend: Any) -> None:
    inner = RunnableParallel(x=add_one, y=RunnableParallel(z=square))
    chain = RunnableParallel(
        a=inner, b=RunnableLambda(lambda n: [n, n]) | inner.map(), c=RunnableParallel(d=inner)
    )
    out = drive(chain, 2, {"executor": quick_backend, "max_concurrency": 1})
    one = {"x": 3, "y": {"z": 4}}
    assert out == {"a": one, "b": [one, one], "c": {"d": one}}


def test_a_failing_branch_raises_without_waiting_for_its_siblings(
    drive: Driver, backend: Any, tmp_path: Path
) -> None:
    slow = Gate(tmp_path)  # runs until released (20 s at most)
    folder = str(tmp_path)
    chain = RunnableParallel(slow=slow.leaf, bad=lambda x: fail_once_started(x, folder))
    before = abandoned_calls()
    start = time.perf_counter()
    try:
        with pytest.raises(Boom):
            drive(chain, 1, {"executor": backend})
        assert time.perf_counter() - start < 3.0
        assert not slow.ended
        # the running sibling counts as abandoned under either driver: the caller
        # stopped waiting for it (its task was cancelled, or its thread left the pool)
        assert abandoned_calls() - before == 1
    finally:
        slow.release()
    assert slow.wait_until("ended")
    assert wait_for(lambda: abandoned_calls() == before)


def test_queued_calls_are_dropped_after_a_failure(
    drive: Driver, quick_backend: Any, recorder: Recorder
) -> None:
    steps: dict[str, Any] = {f"s{i}": (lambda x: nap(x, 0.3)) for i in range(10)}
    chain = RunnableParallel(bad=fail_soon, **steps)
    with pytest.raises(Boom):
        drive(chain, 1, {"executor": quick_backend, "callbacks": [recorder], "max_concurrency": 4})
    spans = recorder.wait_for(12)  # 11 leaves and the parallel
    cancelled = [s for s in spans if s.kind == "leaf" and s.status == "cancelled"]
    assert len(cancelled) >= 6  # at most 4 ran at once, so most never started


def test_remote_leaf_spans_have_real_times_and_worker_lanes(
    drive: Driver, backend: Any, recorder: Recorder
) -> None:
    chain = RunnableParallel({f"b{i}": nap for i in range(6)})
    drive(chain, 0, {"executor": backend, "callbacks": [recorder]})
    spans = recorder.wait_for(7)
    (parent,) = [s for s in spans if s.kind == "parallel"]
    leaves = [s for s in spans if s.kind == "leaf"]
    assert len(leaves) == 6
    by_lane: dict[str, list[tuple[int, int]]] = {}
    for span in leaves:
        assert span.end_ns is not None
        assert parent.start_ns <= span.start_ns <= span.end_ns <= (parent.end_ns or 0)
        by_lane.setdefault(span.lane, []).append((span.start_ns, span.end_ns))
    # a lane is one worker doing one thing at a time: with the real remote times (not
    # the local wait, which includes queueing for a busy worker) no two bars overlap
    # (beyond 0.1 ms: the worker's wall clock is converted to ours); on threads under
    # ainvoke, a leaf that waited for a pool thread starts when that thread takes it
    for lane, intervals in by_lane.items():
        bars = sorted(intervals)
        assert max_overlap([(start + 100_000, end) for start, end in bars]) == 1, (lane, bars)
    for lane in by_lane:
        if backend == "threads":
            assert not lane.startswith(("process-", "dask:"))
        elif re.fullmatch(r"process-\d+", lane):
            assert int(lane.split("-")[1]) != os.getpid()
        else:
            assert re.fullmatch(r"dask:(inproc|tcp)://\S+", lane)


def test_executor_per_runnable_and_innermost_wins(
    drive: Driver, remote_backend: Any, recorder: Recorder
) -> None:
    chain = RunnableParallel(
        remote=RunnableLambda(add_one, name="remote").with_config(executor=remote_backend),
        local=RunnableLambda(add_one, name="local"),
    ).with_config(executor="threads")
    assert drive(chain, 1, {"callbacks": [recorder]}) == {"remote": 2, "local": 2}
    lanes = {s.name: s.lane for s in recorder.wait_for(3) if s.kind == "leaf"}
    assert lanes["remote"].startswith(("process-", "dask:"))
    assert not lanes["local"].startswith(("process-", "dask:"))


def test_cancelled_run_does_not_dispatch(remote_backend: Any) -> None:
    from chainlab.engine.cancel import CancelScope
    from chainlab.engine.run import root_frame

    scope = CancelScope()
    scope.cancel()
    frame = root_frame({}, "leaf", scope)
    with pytest.raises(Cancelled):
        remote_backend.call(frame, time.sleep, (5,))
