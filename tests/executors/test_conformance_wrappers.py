"""The conformance suite, continued: timeouts, partial results, error groups, streaming,
batching, retries and abandoned calls, on every backend (threads, a process pool, Dask
in-process and Dask worker processes), under both drivers.

The leaves (``leaves.py``) return their evidence or leave it in files: a leaf in a
worker process cannot change the test's memory.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chainlab import BranchError, RunnableLambda, RunnableParallel, abandoned_calls
from tests.conftest import Driver
from tests.executors.conftest import Recorder, out_of_process
from tests.executors.leaves import (
    Boom,
    Gate,
    attempt,
    fail_key,
    fail_once_started,
    fail_soon,
    hold,
    nap,
    stamp,
    wait_for,
)
from tests.executors.test_conformance import max_overlap

DEADLINE_S = 1.0
"""``with_timeout`` in these tests: a warm worker starts a call in a few ms, but a
busy machine can delay a Dask worker process by far more, and a call dropped before
it started is never abandoned."""


# -- with_timeout and abandoned calls -------------------------------------------------


def test_a_timed_out_call_counts_as_running_work_until_it_really_ends(
    drive: Driver, backend: Any, tmp_path: Path
) -> None:
    """After ``with_timeout`` gives up on a call still running (here, until the test
    releases it), ``abandoned_calls()`` counts it and it keeps its slot of the limit,
    until it really ends: then the count drops and the next leaf may start."""
    gate = Gate(tmp_path)
    before = abandoned_calls()
    seen: dict[str, Any] = {}

    def watch_then_release() -> None:  # runs while the chain waits for its slot
        seen["abandoned"] = wait_for(lambda: abandoned_calls() > before)
        seen["started"] = gate.started
        time.sleep(0.15)  # the audit saw the count drop to 0 within 0.2 s, mid-call
        seen["count"], seen["ended"] = abandoned_calls() - before, gate.ended
        gate.release()

    watcher = threading.Thread(target=watch_then_release)
    watcher.start()
    timed = RunnableParallel(held=RunnableLambda(gate.leaf).with_timeout(DEADLINE_S))
    chain = timed.with_partial_results() | {"timed": lambda d: d["held"], "next": stamp}
    try:
        out = drive(chain, 1, {"executor": backend, "max_concurrency": 1})
    finally:
        gate.release()
        watcher.join()
    assert isinstance(out["timed"], BranchError)
    assert isinstance(out["timed"].exception, TimeoutError)
    assert f"timed out after {DEADLINE_S:g} s" in str(out["timed"].exception)
    assert seen["started"], f"the held leaf had not started after {DEADLINE_S} s"
    assert seen == {"abandoned": True, "started": True, "count": 1, "ended": False}
    _, next_started = out["next"]
    assert next_started >= gate.end_ns  # it waited for the slot of the abandoned call
    assert wait_for(lambda: abandoned_calls() == before), "still counted after it ended"


# -- every branch runs: partial results and error groups --------------------------------


def test_partial_results_run_every_branch(drive: Driver, backend: Any, tmp_path: Path) -> None:
    folder = str(tmp_path)
    chain = RunnableParallel(
        ok=stamp,
        bad=lambda x: fail_once_started(x, folder),  # fails once slow has started
        slow=lambda x: hold(x, folder, until="failed"),  # ends after bad has failed
    )
    out = drive(chain.with_partial_results(), 1, {"executor": backend})
    assert isinstance(out["bad"], BranchError)
    assert isinstance(out["bad"].exception, Boom)
    assert out["bad"].key == "bad"
    assert isinstance(out["slow"], tuple)  # ran to its end although its sibling failed
    assert isinstance(out["ok"], tuple)


def test_error_group_raises_every_failure_with_its_type(drive: Driver, quick_backend: Any) -> None:
    chain = RunnableParallel(a=fail_soon, b=fail_key, ok=stamp).with_error_group()
    with pytest.raises(ExceptionGroup) as info:
        drive(chain, 1, {"executor": quick_backend})
    errors = {type(e): e for e in info.value.exceptions}
    assert set(errors) == {Boom, KeyError}
    assert "'a'" in errors[Boom].__notes__[0]
    assert "'b'" in errors[KeyError].__notes__[0]


# -- stream ------------------------------------------------------------------------------


def stream(runnable: Any, input: Any, config: dict[str, Any], via: str, on_chunk: Any) -> Any:
    """The chunks of ``stream`` or ``astream``, calling ``on_chunk(chunk)`` on each
    as it arrives."""
    if via == "invoke":
        return [on_chunk(chunk) or chunk for chunk in runnable.stream(input, config)]

    async def collect() -> list[Any]:
        return [on_chunk(chunk) or chunk async for chunk in runnable.astream(input, config)]

    return asyncio.run(collect())


def test_stream_yields_each_branch_as_it_finishes(
    drive: Driver, backend: Any, tmp_path: Path
) -> None:
    via = drive.name  # type: ignore[attr-defined]
    slow = Gate(tmp_path)  # runs until the fast branch's chunk has arrived
    running_at_arrival = []

    def arrived(chunk: dict[str, Any]) -> None:
        running_at_arrival.append(not slow.ended)
        slow.release()

    chain = RunnableParallel(slow=slow.leaf, fast=stamp)
    chunks = stream(chain, 1, {"executor": backend}, via, arrived)
    assert [list(chunk) for chunk in chunks] == [["fast"], ["slow"]]
    assert running_at_arrival[0]  # the fast branch came while the slow one still ran


# -- batch and batch_as_completed --------------------------------------------------------


def batch(runnable: Any, inputs: list[Any], config: dict[str, Any], via: str, **kw: Any) -> Any:
    if via == "invoke":
        return runnable.batch(inputs, config, **kw)
    return asyncio.run(runnable.abatch(inputs, config, **kw))


def as_completed(
    runnable: Any, inputs: list[Any], config: dict[str, Any], via: str, on_item: Any
) -> Any:
    """The ``(index, output)`` pairs, calling ``on_item(pair)`` on each as it arrives."""
    if via == "invoke":
        return [on_item(pair) or pair for pair in runnable.batch_as_completed(inputs, config)]

    async def collect() -> list[Any]:
        items = runnable.abatch_as_completed(inputs, config)
        return [on_item(pair) or pair async for pair in items]

    return asyncio.run(collect())


def echo_nap(x: int) -> tuple[int, tuple[int, int]]:
    return x, nap(x)


def test_batch_keeps_input_order_under_one_limit(drive: Driver, quick_backend: Any) -> None:
    via = drive.name  # type: ignore[attr-defined]
    config = {"executor": quick_backend, "max_concurrency": 2}
    out = batch(RunnableLambda(echo_nap), list(range(6)), config, via)
    assert [x for x, _ in out] == list(range(6))
    assert max_overlap([interval for _, interval in out]) <= 2


def test_batch_return_exceptions_keeps_the_error_type(drive: Driver, quick_backend: Any) -> None:
    def picky(x: int) -> int:
        if x == 1:
            raise Boom("one")
        return x * 10

    via = drive.name  # type: ignore[attr-defined]
    leaf = RunnableLambda(picky)
    out = batch(leaf, [0, 1, 2], {"executor": quick_backend}, via, return_exceptions=True)
    assert (out[0], out[2]) == (0, 20)
    assert isinstance(out[1], Boom)


def test_batch_as_completed_yields_in_completion_order(
    drive: Driver, quick_backend: Any, tmp_path: Path
) -> None:
    via = drive.name  # type: ignore[attr-defined]
    first = Gate(tmp_path)  # item 0 runs until item 1 has arrived
    leaf = RunnableLambda(lambda i: first.leaf(i) if i == 0 else stamp(i))
    pairs = as_completed(leaf, [0, 1], {"executor": quick_backend}, via, lambda _: first.release())
    assert [i for i, _ in pairs] == [1, 0]


# -- with_retry ----------------------------------------------------------------------------


def test_retry_recovers_from_transient_failures(
    drive: Driver, backend: Any, tmp_path: Path, recorder: Recorder
) -> None:
    folder = str(tmp_path)
    flaky = RunnableLambda(lambda x: attempt(folder, failures=2), name="flaky")
    retried = flaky.with_retry(stop_after_attempt=3, wait_exponential_jitter=False)
    pids = drive(retried, 1, {"executor": backend, "callbacks": [recorder]})
    assert len(pids) == 3
    if out_of_process(backend):
        assert os.getpid() not in pids
    leaves = recorder.wait_for(3)
    attempts = sorted(s.attempt for s in leaves if s.name == "flaky")
    assert attempts == [1, 2, 3]


def test_retry_only_on_listed_types(drive: Driver, quick_backend: Any, tmp_path: Path) -> None:
    folder = str(tmp_path)
    wrong = RunnableLambda(lambda x: attempt(folder, failures=5, error=TypeError))
    retried = wrong.with_retry(
        retry_if_exception_type=(ConnectionError,), wait_exponential_jitter=False
    )
    with pytest.raises(TypeError, match="attempt 1 fails"):
        drive(retried, 1, {"executor": quick_backend})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attempt-1"]


# -- config ------------------------------------------------------------------------------


def seen_config(x: Any, config: dict[str, Any]) -> dict[str, Any]:
    return {k: config.get(k) for k in ("tags", "metadata", "max_concurrency")}


def test_a_leaf_receives_the_run_config_and_bound_tags(drive: Driver, quick_backend: Any) -> None:
    leaf = RunnableLambda(seen_config).with_config(tags=["bound"])
    config = {"executor": quick_backend, "tags": ["call"], "metadata": {"who": "me"}}
    out = drive(leaf, 1, {**config, "max_concurrency": 3})
    assert out == {"tags": ["call", "bound"], "metadata": {"who": "me"}, "max_concurrency": 3}
