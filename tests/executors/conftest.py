"""Executor backends for the conformance suite: one warm pool per test session.

Starting workers is the slow part (a process ~0.1-0.3 s, an in-process Dask cluster
~0.1 s, a Dask cluster of worker processes 2-3 s), so each backend is created once and
shut down when the session ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chainlab import DaskExecutor, ProcessExecutor, Span, abandoned_calls

BACKENDS = ["threads", "processes", "dask", "dask-processes"]
"""Every backend: threads, a process pool, Dask in-process, Dask worker processes."""
QUICK_BACKENDS = ["threads", "processes", "dask"]
"""Without Dask worker processes: for tests where they would add time, not coverage
(Dask's side is the same in-process; real processes are covered by the pool)."""
REMOTE_BACKENDS = ["processes", "dask"]
"""The quick remote backends (the borrowed engine suite runs on these)."""


@pytest.fixture(scope="session")
def processes() -> Iterator[ProcessExecutor]:
    """A warm pool of 2 worker processes (this machine has 2 cores)."""
    executor = ProcessExecutor(max_workers=2).warm_up()
    yield executor
    executor.close()


@pytest.fixture(scope="session")
def dask_inproc() -> Iterator[DaskExecutor]:
    """Dask with an in-process cluster: 1 worker, 4 threads, no dashboard, nothing
    listening beyond 127.0.0.1."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=False,
        n_workers=1,
        threads_per_worker=4,
        dashboard_address=None,
        # Dask's HTTP servers (health checks) listen on 127.0.0.1 only, on free ports
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        worker_dashboard_address="127.0.0.1:0",
    )
    client = distributed.Client(cluster, set_as_default=False)
    executor = DaskExecutor(client)
    yield executor
    executor.close()
    client.close()
    cluster.close()


@pytest.fixture(scope="session")
def dask_processes() -> Iterator[DaskExecutor]:
    """``DaskExecutor()``: a LocalCluster of real worker processes (one per core, one
    thread each) on 127.0.0.1, started by the executor itself."""
    pytest.importorskip("distributed")
    executor = DaskExecutor()
    executor.client.wait_for_workers(1)
    yield executor
    executor.close()


_FIXTURES = {"processes": "processes", "dask": "dask_inproc", "dask-processes": "dask_processes"}


def get_backend(request: pytest.FixtureRequest, name: str) -> Any:
    """The ``config["executor"]`` value for a backend name."""
    if name == "threads":
        return "threads"
    return request.getfixturevalue(_FIXTURES[name])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each backend in turn; waits for its workers to be idle again after the test
    (a call that fail-fast abandoned may still be running remotely)."""
    executor = get_backend(request, request.param)
    yield executor
    wait_idle(executor)


@pytest.fixture(params=QUICK_BACKENDS)
def quick_backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each backend but Dask worker processes."""
    executor = get_backend(request, request.param)
    yield executor
    wait_idle(executor)


@pytest.fixture(params=REMOTE_BACKENDS)
def remote_backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each backend that sends leaf calls to other workers."""
    executor = get_backend(request, request.param)
    yield executor
    wait_idle(executor)


def out_of_process(executor: Any) -> bool:
    """Whether leaves sent to ``executor`` run in other processes."""
    if isinstance(executor, DaskExecutor):
        return not executor.client.scheduler.address.startswith("inproc://")
    return isinstance(executor, ProcessExecutor)


def wait_idle(executor: Any, timeout: float = 10.0) -> None:
    """Wait until no task is queued or running on ``executor`` and no abandoned call
    runs on (best effort)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if isinstance(executor, ProcessExecutor):
            busy = bool(executor.pool._pending_work_items)
        elif isinstance(executor, DaskExecutor):
            busy = any(executor.client.processing().values())
        else:
            busy = False
        if not busy and not abandoned_calls():
            return
        time.sleep(0.02)


class Recorder:
    """A span listener that keeps every finished span (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[Span] = []

    def on_start(self, span: Span) -> None:
        pass

    def on_end(self, span: Span) -> None:
        with self._lock:
            self.spans.append(span)

    def leaves(self) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.kind == "leaf"]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Span]:
        """The spans once ``count`` have ended (fail-fast returns before siblings end)."""
        deadline = time.monotonic() + timeout
        while len(self.spans) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            return list(self.spans)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
