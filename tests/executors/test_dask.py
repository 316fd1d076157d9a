"""DaskExecutor: Dask-specific promises (keys, purity, logs, clusters)."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chainlab import DaskExecutor, RunnableLambda, RunnableParallel
from chainlab.engine.executors import resolve_executor
from tests.executors.conftest import Recorder
from tests.executors.leaves import wait_for

distributed = pytest.importorskip("distributed")


def token(_: Any) -> str:
    return uuid.uuid4().hex


def echo_kwargs(
    x: Any,
    key: Any = None,
    workers: Any = None,
    retries: Any = None,
    pure: Any = None,
    resources: Any = None,
    priority: Any = None,
) -> dict[str, Any]:
    return {
        "key": key,
        "workers": workers,
        "retries": retries,
        "pure": pure,
        "resources": resources,
        "priority": priority,
    }


class Broken(Exception):
    pass


def broken(x: Any) -> Any:
    raise Broken(f"broken {x}")


def test_identical_calls_are_separate_tasks(dask_inproc: DaskExecutor) -> None:
    # pure=True would give both branches (and both runs) one cached result
    chain = RunnableParallel(a=token, b=token)
    first = chain.invoke("same", {"executor": dask_inproc})
    second = chain.invoke("same", {"executor": dask_inproc})
    assert len({first["a"], first["b"], second["a"], second["b"]}) == 4


def test_user_keywords_never_collide_with_dask_keywords(dask_inproc: DaskExecutor) -> None:
    mine = {
        "key": "k",
        "workers": "w",
        "retries": "r",
        "pure": "p",
        "resources": "x",
        "priority": 7,
    }
    leaf = RunnableLambda(functools.partial(echo_kwargs, **mine))
    assert leaf.invoke(0, {"executor": dask_inproc}) == mine


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def dask_logs() -> Iterator[Capture]:
    capture = Capture()
    loggers = [logging.getLogger(n) for n in ("distributed.worker", "distributed")]
    for logger in loggers:
        logger.addHandler(capture)
    yield capture
    for logger in loggers:
        logger.removeHandler(capture)


def test_a_failing_leaf_logs_no_compute_failed(
    dask_inproc: DaskExecutor, dask_logs: Capture
) -> None:
    with pytest.raises(Broken, match="broken 1"):
        RunnableLambda(broken).invoke(1, {"executor": dask_inproc})
    with pytest.raises(Broken):
        asyncio.run(RunnableParallel(a=broken, b=token).ainvoke(2, {"executor": dask_inproc}))
    assert not [m for m in dask_logs.messages if "Compute Failed" in m]
    # the capture does see Dask's report for a task submitted the plain way
    future = dask_inproc.client.submit(broken, 3, pure=False)
    with pytest.raises(Broken):
        future.result()
    deadline = time.monotonic() + 5
    while not dask_logs.messages and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any("Compute Failed" in m for m in dask_logs.messages)


def test_ainvoke_does_not_block_the_event_loop(dask_inproc: DaskExecutor) -> None:
    async def main() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        chain = RunnableParallel(a=lambda x: time.sleep(0.3) or x, b=lambda x: x + 1)
        out = await chain.ainvoke(1, {"executor": dask_inproc})
        task.cancel()
        return out, ticks

    out, ticks = asyncio.run(main())
    assert out == {"a": 1, "b": 2}
    assert ticks >= 5  # the loop kept running while the leaves ran on Dask


def test_an_address_gets_a_client_of_its_own(dask_inproc: DaskExecutor) -> None:
    address = dask_inproc.client.scheduler.address
    executor = DaskExecutor(address)
    assert repr(executor) == f"DaskExecutor({address!r})"
    assert RunnableLambda(lambda x: x * 2).invoke(4, {"executor": executor}) == 8
    client = executor.client
    executor.close()  # closes the client it opened, not the cluster
    assert client.status == "closed"
    assert RunnableLambda(lambda x: x * 3).invoke(4, {"executor": dask_inproc}) == 12


def test_bad_targets_are_refused() -> None:
    with pytest.raises(TypeError, match="DaskExecutor expects"):
        RunnableLambda(lambda x: x).invoke(1, {"executor": DaskExecutor(42)})


def test_dask_by_name_is_lazy() -> None:
    executor = resolve_executor("dask")
    assert isinstance(executor, DaskExecutor)
    assert executor._client is None  # no cluster until the first call


def worker_log_messages(executor: DaskExecutor) -> list[str]:
    logs = executor.client.get_worker_logs()
    return [message for records in logs.values() for _, message in records]


def test_default_executor_runs_on_local_worker_processes(
    dask_processes: DaskExecutor, recorder: Recorder
) -> None:
    """``DaskExecutor()``: a LocalCluster of real worker processes on 127.0.0.1."""
    executor = dask_processes
    chain = RunnableParallel({f"b{i}": (lambda x: time.sleep(0.2) or x) for i in range(4)})
    assert chain.invoke(1, {"executor": executor, "callbacks": [recorder]}) == {
        f"b{i}": 1 for i in range(4)
    }
    lanes = {s.lane for s in recorder.wait_for(5) if s.kind == "leaf"}
    assert all(re.fullmatch(r"dask:tcp://127\.0\.0\.1:\d+", lane) for lane in lanes)
    assert len(lanes) == len(executor.client.scheduler_info()["workers"]) >= 2
    with pytest.raises(Broken) as info:
        RunnableParallel(a=broken, b=lambda x: time.sleep(0.5)).invoke(1, {"executor": executor})
    assert "in branch 'a'" in info.value.__notes__[0]
    assert not [m for m in worker_log_messages(executor) if "Compute Failed" in m]
    # the workers' logs do show the report for a task submitted the plain way
    future = executor.client.submit(broken, 3, pure=False)
    with pytest.raises(Broken):
        future.result()
    assert wait_for(lambda: any("Compute Failed" in m for m in worker_log_messages(executor)))
