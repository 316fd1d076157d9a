"""Batching and streaming edge cases: empty and single batches, per-item configs,
consumers that stop early, errors in the middle of a stream."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import operator
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough
from tests.engine.helpers import Recorder, wait_until
from tests.engine.test_tracing import Collector


class Boom(Exception):
    pass


def double(x: int) -> int:
    return 2 * x


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def cooperative(
    seen: Recorder, name: Any, seconds: float = 30, started: threading.Event | None = None
) -> Any:
    """A function that sleeps cooperatively and notes whether it was cancelled
    (``started`` is set once it runs)."""

    def step(x: Any) -> Any:
        if started is not None:
            started.set()
        try:
            chainlab.sleep(seconds)
        except chainlab.Cancelled:
            seen.add((name, "cancelled"))
            raise
        seen.add((name, "finished"))
        return x

    return step


def all_batch_forms(runnable: Any, inputs: list[Any], config: Any = None) -> dict[str, Any]:
    """The outputs of every batch entry point, as comparable values."""

    async def async_forms() -> tuple[list[Any], list[tuple[int, Any]]]:
        out = await runnable.abatch(inputs, config)
        done = [item async for item in runnable.abatch_as_completed(inputs, config)]
        return out, sorted(done)

    abatch, abatch_done = asyncio.run(async_forms())
    return {
        "batch": runnable.batch(inputs, config),
        "abatch": abatch,
        "as_completed": sorted(runnable.batch_as_completed(inputs, config)),
        "aas_completed": abatch_done,
    }


# -- batches -------------------------------------------------------------------------------


def test_an_empty_batch_is_empty_everywhere_and_runs_nothing() -> None:
    col = Collector()
    calls = Recorder()
    chain = RunnableLambda(calls.add)
    assert all_batch_forms(chain, [], {"callbacks": [col]}) == {
        "batch": [],
        "abatch": [],
        "as_completed": [],
        "aas_completed": [],
    }
    assert all_batch_forms(chain, [], []) == all_batch_forms(chain, [])
    assert len(calls) == 0
    assert col.ended == []


def test_a_batch_of_one_is_one_invoke() -> None:
    col = Collector()
    chain = RunnableParallel(a=double, b=adouble)
    forms = all_batch_forms(chain, [4], {"callbacks": [col]})
    expected = chain.invoke(4)
    assert forms == {
        "batch": [expected],
        "abatch": [expected],
        "as_completed": [(0, expected)],
        "aas_completed": [(0, expected)],
    }
    roots = {s.path for s in col.ended if s.node_id == "root"}
    assert roots == {"RunnableParallel<a,b>[0]"}


def test_batch_items_named_by_their_own_run_name() -> None:
    col = Collector()
    chain = RunnableLambda(double)
    configs = [{"run_name": "first", "callbacks": [col]}, {"run_name": "second"}, {}]
    assert chain.batch([1, 2, 3], configs) == [2, 4, 6]
    assert sorted(s.name for s in col.ended) == ["double[2]", "first[0]", "second[1]"]
    assert {s.node_id for s in col.ended} == {"root"}  # every item maps onto one graph


def test_batch_items_get_their_own_tags_and_metadata() -> None:
    col = Collector()
    seen = Recorder()

    def spy(x: int, config: dict[str, Any]) -> int:
        seen.add((x, config.get("metadata")))
        return x

    configs = [{"tags": ["a"], "metadata": {"i": 0}, "callbacks": [col]}, {"tags": ["b"]}]
    RunnableLambda(spy).batch([0, 1], configs)
    assert sorted(seen.snapshot(), key=str) == [(0, {"i": 0}), (1, None)]
    assert sorted(s.tags for s in col.ended) == [("a",), ("b",)]


def test_batch_return_exceptions_with_retries_keeps_the_items_apart() -> None:
    attempts = Recorder()

    def work(x: int) -> int:
        attempts.add(x)
        if x < 0:
            raise Boom(f"negative {x}")
        return x

    chain = RunnableLambda(work).with_retry(stop_after_attempt=2, wait_exponential_jitter=False)
    out = chain.batch([1, -1, 2], return_exceptions=True)
    assert out[0] == 1
    assert out[2] == 2
    assert isinstance(out[1], Boom)
    assert sorted(attempts.snapshot()) == [-1, -1, 1, 2]  # only the failing item twice


def test_batch_as_completed_early_break_cancels_the_running_items() -> None:
    seen = Recorder()
    started = threading.Barrier(4, timeout=5)

    def item(x: int) -> int:
        started.wait()
        if x == 0:
            return 0
        return cooperative(seen, x)(x)

    chain = RunnableLambda(item)
    start = time.monotonic()
    with contextlib.closing(chain.batch_as_completed([0, 1, 2, 3])) as items:
        first = next(items)
    assert first == (0, 0)
    assert wait_until(lambda: len(seen) == 3)
    assert time.monotonic() - start < 10
    assert sorted(seen.snapshot()) == [(1, "cancelled"), (2, "cancelled"), (3, "cancelled")]


def test_batch_as_completed_early_break_starts_no_queued_item() -> None:
    col = Collector()
    ran = Recorder()

    def item(x: int) -> int:
        ran.add(x)
        if x:
            chainlab.sleep(0.05)  # cooperative: stops when the batch is cancelled
        return x

    chain = RunnableLambda(item)
    with contextlib.closing(
        chain.batch_as_completed(list(range(8)), {"max_concurrency": 1, "callbacks": [col]})
    ) as items:
        assert next(items) == (0, 0)
    assert wait_until(lambda: len(col.ended) == 8)
    time.sleep(0.05)
    assert set(ran.snapshot()) <= {0, 1}  # item 1 may have been pulled; no other started
    statuses = {s.path: s.status for s in col.ended}
    assert statuses.pop("item[0]") == "ok"
    assert set(statuses.values()) == {"cancelled"}


def test_abatch_as_completed_early_exit_cancels_the_rest() -> None:
    cancelled = Recorder()

    async def item(x: int) -> int:
        if x == 0:
            return 0
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.add(x)
            raise
        return x

    async def main() -> tuple[int, Any]:
        stream = RunnableLambda(item).abatch_as_completed([0, 1, 2])
        async with contextlib.aclosing(stream) as items:
            first = await anext(items)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []
        return first

    assert asyncio.run(main()) == (0, 0)
    assert sorted(cancelled.snapshot()) == [1, 2]


def test_abatch_as_completed_puts_errors_in_place_or_raises() -> None:
    async def maybe(x: int) -> int:
        if x == 1:
            raise Boom("one")
        return x

    async def collect(return_exceptions: bool) -> dict[int, Any]:
        items = RunnableLambda(maybe).abatch_as_completed(
            [0, 1, 2], return_exceptions=return_exceptions
        )
        return {i: v async for i, v in items}

    got = asyncio.run(collect(True))
    assert got[0] == 0
    assert got[2] == 2
    assert isinstance(got[1], Boom)
    with pytest.raises(Boom):
        asyncio.run(collect(False))


# -- streams -------------------------------------------------------------------------------


def test_astream_of_a_sequence_ending_in_a_parallel() -> None:
    first_calls = Recorder()

    def prepare(x: int) -> int:
        first_calls.add(x)
        return x + 1

    chain = RunnableLambda(prepare) | RunnableParallel(a=double, b=adouble, c=RunnablePassthrough())

    async def collect() -> list[dict[str, Any]]:
        return [chunk async for chunk in chain.astream(1)]

    chunks = asyncio.run(collect())
    assert all(len(chunk) == 1 for chunk in chunks)
    merged = {k: v for chunk in chunks for k, v in chunk.items()}
    assert merged == chain.invoke(1)
    assert sorted(k for chunk in chunks for k in chunk) == ["a", "b", "c"]
    assert first_calls.snapshot() == [1, 1]  # the head ran once per call, not per chunk


@pytest.mark.parametrize("how", ["stream", "astream"])
def test_a_stream_error_after_the_first_chunk(how: str) -> None:
    col = Collector()

    def late_failure(x: Any) -> Any:
        chainlab.sleep(0.05)
        raise Boom("late")

    par = RunnableParallel(fast=double, bad=late_failure)
    got: list[Any] = []

    async def acollect() -> None:
        async for chunk in par.astream(1, {"callbacks": [col]}):
            got.append(chunk)

    def collect() -> None:
        if how == "stream":
            got.extend(par.stream(1, {"callbacks": [col]}))  # extend keeps what came
        else:
            asyncio.run(acollect())

    with pytest.raises(Boom) as info:
        collect()
    assert got == [{"fast": 2}]  # the consumer kept what arrived before the failure
    assert "in branch 'bad'" in info.value.__notes__[0]
    assert wait_until(lambda: len(col.ended) == 3)
    statuses = {s.node_id: s.status for s in col.ended}
    assert statuses == {"root": "error", "root/fast": "ok", "root/bad": "error"}


def test_a_failing_head_step_fails_the_stream_before_any_chunk() -> None:
    def bad_head(x: Any) -> Any:
        raise Boom("head")

    chain = RunnableLambda(bad_head) | RunnableParallel(a=double)
    got: list[Any] = []
    with pytest.raises(Boom):
        got.extend(chain.stream(1))
    assert got == []


@pytest.mark.parametrize("how", ["stream", "astream"])
def test_a_consumer_stopping_early_cancels_the_stream(how: str) -> None:
    col = Collector()
    seen = Recorder()
    started = threading.Event()
    par = RunnableParallel(fast=double, slow=cooperative(seen, "slow", started=started))

    async def afirst() -> Any:
        async with contextlib.aclosing(par.astream(1, {"callbacks": [col]})) as chunks:
            first = await anext(chunks)
            # the slow branch is running in its thread (on a busy machine it may not
            # have started yet: one cancelled before it starts never runs at all)
            assert await asyncio.to_thread(started.wait, 10)
        # closing the stream closed every layer under it at once: no task is left over
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        return first

    if how == "stream":
        with contextlib.closing(par.stream(1, {"callbacks": [col]})) as chunks:
            first = next(chunks)
            assert started.wait(10)
    else:
        first = asyncio.run(afirst())
    assert first == {"fast": 2}
    assert wait_until(lambda: len(col.ended) == 3)
    root = col.by_node()["root"]
    assert root.status == "cancelled"
    # the branch sleeping cooperatively in its thread is told to stop
    assert wait_until(lambda: seen.snapshot() == [("slow", "cancelled")])


@pytest.mark.parametrize(
    "runnable",
    [
        RunnableLambda(double).map(),
        RunnablePassthrough(),
        RunnableLambda(double).with_fallbacks([RunnableLambda(double)]),
    ],
    ids=["map", "passthrough", "fallbacks"],
)
def test_everything_but_a_parallel_streams_its_whole_output_once(runnable: Any) -> None:
    value: Any = [1, 2]
    if isinstance(runnable, RunnablePassthrough):
        value = "same"
    chunks = list(runnable.stream(value))
    assert chunks == [runnable.invoke(value)]

    async def collect() -> list[Any]:
        return [c async for c in runnable.astream(value)]

    assert asyncio.run(collect()) == chunks


def test_assign_streams_its_input_then_the_new_keys_as_langchain_does() -> None:
    runnable = RunnablePassthrough.assign(n=len)
    assert list(runnable.stream({"k": 1})) == [{"k": 1}, {"n": 1}]

    async def collect() -> list[Any]:
        return [c async for c in runnable.astream({"k": 1})]

    assert asyncio.run(collect()) == [{"k": 1}, {"n": 1}]


def test_a_nested_parallel_streams_its_branches_chunks_that_add_up_to_the_dict() -> None:
    par = RunnableParallel(top=double, inner=RunnableParallel(x=double, y=adouble))
    chunks = list(par.stream(2))
    assert len(chunks) == 3  # top, inner's x, inner's y (as langchain_core streams it)
    assert functools.reduce(operator.add, chunks) == par.invoke(2)
    assert par.invoke(2) == {"top": 4, "inner": {"x": 4, "y": 4}}


def test_partial_results_streams_keep_going_after_a_failure() -> None:
    def bad(x: Any) -> Any:
        raise Boom("bad")

    par = RunnableParallel(a=double, bad=bad, c=adouble).with_partial_results()
    chunks = list(par.stream(3))
    merged = {k: v for chunk in chunks for k, v in chunk.items()}
    assert set(merged) == {"a", "bad", "c"}
    assert merged["a"] == merged["c"] == 6
    assert isinstance(merged["bad"].exception, Boom)
