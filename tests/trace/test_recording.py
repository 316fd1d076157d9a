"""record(): every span of every run inside the block, with the fields views need."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough, record
from chainlab.trace import Recording, SpanRecord
from tests.conftest import Driver


def sleeper(seconds: float) -> Callable[[Any], Any]:
    def nap(x: Any) -> Any:
        time.sleep(seconds)
        return x

    return nap


def settle(rec: Recording, expected: int, timeout: float = 5.0) -> None:
    """Fail-fast raises at once; wait until the other branches' spans are in and ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = rec.spans
        if len(spans) >= expected and all(s.status != "running" for s in spans):
            return
        time.sleep(0.005)


def test_spans_have_the_documented_fields(drive: Driver) -> None:
    chain = RunnableLambda(sleeper(0.01)) | RunnableParallel(a=sleeper(0.01), b=str)
    with record() as rec:
        assert drive(chain, 7) == {"a": 7, "b": "7"}
    spans = rec.spans
    assert [s.node_id for s in spans[:2]] == ["root", "root/0"]
    assert sorted(s.node_id for s in spans[2:]) == ["root/1", "root/1/a", "root/1/b"]
    assert all(isinstance(s, SpanRecord) for s in spans)
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    by_node = {s.node_id: s for s in spans}
    root, nap, a = by_node["root"], by_node["root/0"], by_node["root/1/a"]
    assert root.parent_id is None
    assert nap.parent_id == root.run_id
    assert a.parent_id == by_node["root/1"].run_id
    assert root.kind == "sequence"
    assert a.kind == "leaf"
    assert by_node["root/1"].kind == "parallel"
    assert a.is_leaf
    assert not root.is_leaf
    assert a.path.endswith("/a")
    assert a.name == "nap"
    assert a.branch == "a"
    assert by_node["root/1/b"].branch == "b"
    assert nap.branch is None
    assert all(s.status == "ok" for s in spans)
    assert nap.input_preview == "7"
    assert nap.output_preview == "7"
    assert by_node["root/1/b"].output_preview == "'7'"
    for s in spans:
        assert 0 <= s.start <= s.end
        assert s.duration == pytest.approx(s.end - s.start)
        assert s.lane
    assert nap.duration >= 0.009
    assert nap.self_s == pytest.approx(nap.duration)
    assert root.end >= max(s.end for s in spans) - 1e-9
    assert root.depth == 0
    assert a.depth == 2


def test_lanes_are_threads_under_invoke_and_tasks_under_ainvoke() -> None:
    chain = RunnableParallel(a=sleeper(0.02), b=sleeper(0.02), c=sleeper(0.02))
    with record() as rec:
        chain.invoke(1)
    leaf_lanes = {s.lane for s in rec.leaf_spans}
    assert len(leaf_lanes) == 3
    assert all(lane.startswith("chainlab-") for lane in leaf_lanes)

    async def anap(x: Any) -> Any:
        await asyncio.sleep(0.02)
        return x

    with record() as arec:
        asyncio.run(RunnableParallel(a=anap, b=anap).ainvoke(1))
    assert len({s.lane for s in arec.leaf_spans}) == 2
    assert all(s.lane.startswith("Task-") for s in arec.leaf_spans)


def test_failure_and_cancellation_are_recorded() -> None:
    def boom(x: Any) -> Any:
        time.sleep(0.01)
        raise ValueError("boom")

    chain = RunnableParallel(bad=boom, later=sleeper(0.2), last=sleeper(0.2))
    with record() as rec, pytest.raises(ValueError, match="boom"):
        chain.invoke(1, {"max_concurrency": 1})
    settle(rec, expected=4)
    by_node = {s.node_id: s for s in rec.spans}
    assert by_node["root/bad"].status == "error"
    assert not by_node["root/bad"].skipped
    assert isinstance(by_node["root/bad"].error, ValueError)
    assert by_node["root"].status == "error"
    assert rec.to_records()[0]["error"].startswith("ValueError")
    # queued siblings never start: recorded as skipped, and no lane worked for them
    assert by_node["root/later"].skipped
    assert by_node["root/last"].skipped
    assert rec.lanes_used == 1
    assert rec.work_s < 0.1


def test_runs_in_several_threads_are_all_recorded() -> None:
    chain = RunnableLambda(sleeper(0.01)) | sleeper(0.01)
    with record() as rec:
        threads = [threading.Thread(target=chain.invoke, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    roots = [s for s in rec.spans if s.parent_id is None]
    assert len(roots) == 4
    assert len(rec.spans) == 12
    assert {s.branch for s in roots} == {s.path for s in roots}  # several roots: a branch each


def test_only_runs_started_inside_the_block_are_recorded() -> None:
    chain = RunnableLambda(sleeper(0.001))
    chain.invoke(0)
    with record() as rec:
        chain.invoke(1)
    chain.invoke(2)
    assert [s.input_preview for s in rec.spans] == ["1"]


def test_a_recording_as_a_per_run_callback() -> None:
    rec = Recording("mine")
    chain = RunnableLambda(str)
    chain.invoke(1, {"callbacks": [rec]})
    chain.invoke(2)
    assert [s.input_preview for s in rec.spans] == ["1"]
    assert "mine" in repr(rec)


def test_nested_recordings_both_see_the_run() -> None:
    with record() as outer:
        RunnableLambda(str).invoke(1)
        with record() as inner:
            RunnableLambda(str).invoke(2)
    assert len(outer.spans) == 2
    assert len(inner.spans) == 1


def test_returned_and_called_runnables_are_children_of_their_leaf() -> None:
    def route(x: Any) -> Any:
        return RunnableLambda(sleeper(0.01)) | sleeper(0.01)

    def caller(x: Any) -> Any:
        time.sleep(0.01)
        return RunnableLambda(sleeper(0.01)).invoke(x)

    with record() as rec:
        RunnableParallel(r=route, c=caller).invoke(1)
    by_node = {s.node_id: s for s in rec.spans}
    assert "root/r/returned" in by_node
    assert "root/c/call:nap" in by_node
    host = by_node["root/c"]
    assert host.self_s == pytest.approx(host.duration - by_node["root/c/call:nap"].duration)
    assert host.self_s >= 0.009
    assert by_node["root/r"].self_s < by_node["root/r"].duration / 2


def work(n: int) -> int:
    return math.factorial(n) % 7


class ProcessLeaves:
    """A leaf executor that ships leaf calls to worker processes."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool

    def call(self, frame: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return self.pool.submit(fn, *args).result()

    async def acall(self, frame: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return await asyncio.wrap_future(self.pool.submit(fn, *args))


def test_leaves_run_in_other_processes_are_recorded(drive: Driver) -> None:
    with ProcessPoolExecutor(2) as pool:
        chain = RunnableParallel(a=work, b=work, c=RunnablePassthrough())
        with record() as rec:
            out = drive(chain, 200, {"executor": ProcessLeaves(pool)})
    assert out == {"a": work(200), "b": work(200), "c": 200}
    assert len(rec.spans) == 4
    assert {s.node_id for s in rec.leaf_spans} == {"root/a", "root/b"}
    assert all(s.status == "ok" for s in rec.spans)


def test_spans_still_running_end_now_and_fill_in_later() -> None:
    release = threading.Event()

    def wait(x: Any) -> Any:
        release.wait(5)
        return x

    rec = Recording()
    thread = threading.Thread(target=RunnableLambda(wait).invoke, args=(1, {"callbacks": [rec]}))
    thread.start()
    deadline = time.monotonic() + 5
    while not rec.spans and time.monotonic() < deadline:
        time.sleep(0.001)
    (span,) = rec.spans
    assert span.status == "running"
    assert span.duration >= 0
    release.set()
    thread.join()
    (span,) = rec.spans
    assert span.status == "ok"


def test_chainlab_reexports() -> None:
    assert chainlab.record is record
    assert {"record", "compare", "Recording", "Comparison"} <= set(chainlab.__all__)
