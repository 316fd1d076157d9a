"""The Recording as a listener: engine spans fed by hand (exact self-times, depths,
branches), recordings open at once, per-run callbacks, and many threads."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel, record
from chainlab.engine.tracing import Span, global_listeners
from chainlab.trace import Recording

MS = 1_000_000  # nanoseconds


def feed(
    rec: Recording,
    kind: str,
    start_ms: int,
    end_ms: int | None,
    parent: Span | None = None,
    *,
    key: str = "",
    lane: str = "L",
) -> Span:
    """Start (and end, unless ``end_ms`` is None) an engine span through the listener."""
    path = f"{parent.path}/{key}" if parent else (key or "root")
    node_id = f"{parent.node_id}/{key}" if parent else "root"
    s = Span(
        parent_id=parent.run_id if parent else None,
        node_id=node_id,
        path=path,
        name=key or "root",
        kind=kind,
        lane=lane,
        start_ns=start_ms * MS,
    )
    rec.on_start(s)
    if end_ms is not None:
        s.end_ns, s.status = end_ms * MS, "ok"
        rec.on_end(s)
    return s


def hand_recording() -> Recording:
    rec = Recording()
    rec.t0_ns = 0
    return rec


def test_a_leafs_self_time_excludes_the_union_of_what_it_called() -> None:
    rec = hand_recording()
    host = feed(rec, "leaf", 0, 100)
    feed(rec, "leaf", 10, 40, host, key="call:a")
    feed(rec, "leaf", 30, 60, host, key="call:b")  # overlaps call:a: 10..60 covered once
    feed(rec, "leaf", 90, 130, host, key="call:c")  # outlives its host: 90..100 counts
    by_path = {s.path: s for s in rec.spans}
    assert by_path["root"].self_s == pytest.approx(0.100 - 0.050 - 0.010)
    assert by_path["root/call:a"].self_s == pytest.approx(0.030)
    assert by_path["root"].duration == pytest.approx(0.100)
    assert rec.work_s == pytest.approx(0.040 + 0.030 + 0.030 + 0.040)


def test_depths_and_branches_come_from_the_first_fan_out_below_the_root() -> None:
    rec = hand_recording()
    root = feed(rec, "sequence", 0, 100)
    first = feed(rec, "leaf", 0, 10, root, key="first")
    par = feed(rec, "parallel", 10, 100, root, key="par")
    m = feed(rec, "map", 10, 100, par, key="docs")
    item = feed(rec, "leaf", 10, 50, m, key="3")
    other = feed(rec, "leaf", 10, 20, par, key="q")
    records = {s.run_id: s for s in rec.spans}
    assert [records[s.run_id].depth for s in (root, first, par, m, item, other)] == [
        0,
        1,
        1,
        2,
        3,
        2,
    ]
    # a map inside a parallel's branch stays in that branch: the outermost fan-out wins
    assert records[item.run_id].branch == "docs"
    assert records[m.run_id].branch == "docs"
    assert records[other.run_id].branch == "q"
    assert records[first.run_id].branch is None
    assert records[par.run_id].branch is None


def test_a_span_whose_parent_was_not_recorded_is_a_root() -> None:
    rec = hand_recording()
    outside = Span(
        parent_id=None, node_id="root", path="p", name="p", kind="parallel", lane="L", start_ns=0
    )  # never given to the recording
    orphan = feed(rec, "leaf", 5, 10, outside, key="a")
    feed(rec, "leaf", 20, 30, key="later")
    spans = rec.spans
    assert [s.run_id for s in spans] == [orphan.run_id, spans[1].run_id]
    assert spans[0].depth == 0
    assert {s.branch for s in spans} == {"p/a", "later"}  # several roots: a branch each
    assert rec.critical_s == pytest.approx(0.015)  # one after the other


def test_equal_start_times_keep_parents_before_children() -> None:
    rec = hand_recording()
    root = feed(rec, "parallel", 7, 9)
    kids = [feed(rec, "leaf", 7, 9, root, key=k) for k in "abc"]
    assert [s.run_id for s in rec.spans] == [root.run_id, *(k.run_id for k in kids)]


def test_two_recordings_open_at_once_see_the_same_runs() -> None:
    chain = RunnableParallel(a=str, b=repr)
    first, second = Recording("first"), Recording("second")
    first.__enter__()
    second.__enter__()
    chain.invoke(1)
    chain.invoke(2)
    first.__exit__(None, None, None)  # closed in the order they were opened, not nested
    chain.invoke(3)
    second.__exit__(None, None, None)
    chain.invoke(4)
    assert [s.input_preview for s in first.spans if s.parent_id is None] == ["1", "2"]
    assert [s.input_preview for s in second.spans if s.parent_id is None] == ["1", "2", "3"]
    shared = [(s.run_id, s.node_id, s.duration) for s in first.spans]
    assert shared == [(s.run_id, s.node_id, s.duration) for s in second.spans[: len(shared)]]
    # the same spans, each measured from its own recording's start
    pairs = zip(first.spans, second.spans[: len(shared)], strict=True)
    offsets = {round(b.start - a.start, 9) for a, b in pairs}
    assert len(offsets) == 1
    assert first not in global_listeners()
    assert second not in global_listeners()


def test_a_per_run_recording_under_ainvoke_is_never_global() -> None:
    async def twice(x: Any) -> Any:
        await asyncio.sleep(0.005)
        return 2 * x

    rec = Recording()
    chain = RunnableParallel(a=twice, b=twice)
    before = global_listeners()

    async def main() -> Any:
        assert rec not in global_listeners()
        out = await chain.ainvoke(4, {"callbacks": [rec]})
        await chain.ainvoke(5)  # not this one
        return out

    assert asyncio.run(main()) == {"a": 8, "b": 8}
    assert global_listeners() == before
    assert [s.input_preview for s in rec.spans] == ["4", "4", "4"]
    assert {s.output_preview for s in rec.leaf_spans} == {"8"}
    assert all(s.lane.startswith("Task-") for s in rec.leaf_spans)


def test_many_threads_recording_while_a_reader_looks() -> None:
    threads_n, runs_each = 16, 15
    chain = RunnableLambda(lambda x: x) | RunnableParallel(a=str, b=lambda x: x + 1)
    per_run = 5  # sequence, lambda, parallel, a, b
    problems: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()

    def reader(rec: Recording) -> None:
        try:
            while not done.is_set():
                seen.append(len(rec.spans))
                rec.analysis()
                time.sleep(0.001)
        except BaseException as exc:  # pragma: no cover - reported below
            problems.append(exc)

    def worker(rec: Recording, offset: int) -> None:
        for i in range(runs_each):
            chain.invoke(offset + i, {"callbacks": [rec]})

    per_run_rec = Recording()
    with record() as everything:
        look = threading.Thread(target=reader, args=(everything,))
        look.start()
        workers = [
            threading.Thread(target=worker, args=(per_run_rec, 100 * t)) for t in range(threads_n)
        ]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        done.set()
        look.join()
    assert not problems
    total = threads_n * runs_each * per_run
    for rec in (everything, per_run_rec):
        assert len(rec.spans) == total
        assert len({s.run_id for s in rec.spans}) == total
        assert all(s.status == "ok" for s in rec.spans)
        assert sum(s.parent_id is None for s in rec.spans) == threads_n * runs_each
    assert seen == sorted(seen)  # the reader only ever saw the list grow
