"""ProcessExecutor: a reused pool of spawned workers, cloudpickle, resilience."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from chainlab import ProcessExecutor, RunnableLambda, RunnableParallel
from chainlab.engine.executors import resolve_executor
from chainlab.executors import RemoteError, UnpicklableError
from tests.executors.conftest import Recorder
from tests.executors.leaves import long_nap, meet, nap


def pid(_: Any) -> int:
    return os.getpid()


def test_the_pool_starts_once_and_is_reused(processes: ProcessExecutor) -> None:
    chain = RunnableParallel({f"b{i}": pid for i in range(6)})
    first = set(chain.invoke(0, {"executor": processes}).values())
    pool = processes.pool
    second = set(chain.invoke(0, {"executor": processes}).values())
    assert processes.pool is pool
    assert os.getpid() not in first | second
    assert len(first | second) <= 2  # the same 2 workers every time


def test_max_workers_bounds_the_processes() -> None:
    with ProcessExecutor(max_workers=1) as one:
        out = RunnableParallel(a=pid, b=pid, c=pid).invoke(0, {"executor": one})
    assert len(set(out.values())) == 1


def test_closures_and_notebook_functions_travel_by_value(processes: ProcessExecutor) -> None:
    # a notebook cell's functions live in __main__, which a worker cannot import:
    # cloudpickle sends them (and the globals they use) by value
    cell = """
RATE = 3
def helper(x):
    return x * RATE
def step(x):
    return helper(x) + 1
"""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(cell, namespace)
    factor = 10
    chain = RunnableParallel(cell=namespace["step"], closure=lambda x: x * factor)
    assert chain.invoke(2, {"executor": processes}) == {"cell": 7, "closure": 20}


def test_named_processes_executor_is_shared() -> None:
    executor = resolve_executor("processes")
    assert isinstance(executor, ProcessExecutor)
    assert resolve_executor("processes") is executor
    assert executor.max_workers == (os.cpu_count() or 1)
    assert RunnableLambda(pid).invoke(0, {"executor": "processes"}) != os.getpid()


def test_config_arrives_without_local_only_keys(
    processes: ProcessExecutor, recorder: Recorder
) -> None:
    def keys(x: int, config: dict[str, Any]) -> list[str]:
        return sorted(config)

    out = RunnableLambda(keys).invoke(
        1, {"executor": processes, "callbacks": [recorder], "tags": ["t"], "max_concurrency": 2}
    )
    assert out == ["max_concurrency", "tags"]


def test_a_remote_leaf_can_run_a_chain_itself(processes: ProcessExecutor) -> None:
    def outer(x: int, config: dict[str, Any]) -> dict[str, int]:
        inner = RunnableParallel(a=lambda v: v + 1, b=lambda v: v * 2)
        return inner.invoke(x, config)  # a run of its own, inside the worker

    assert RunnableLambda(outer).invoke(5, {"executor": processes}) == {"a": 6, "b": 10}


def test_a_returned_runnable_runs_here(processes: ProcessExecutor, recorder: Recorder) -> None:
    router = RunnableLambda(lambda x: RunnableLambda(pid, name="picked"), name="router")
    assert router.invoke(0, {"executor": processes, "callbacks": [recorder]}) != os.getpid()
    spans = {s.name: s for s in recorder.wait_for(2)}
    # the router's span encloses the runnable it returned
    assert (spans["router"].end_ns or 0) >= (spans["picked"].end_ns or 0)


class Unpicklable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()  # an attribute that does not pickle


def raise_unpicklable(x: Any) -> Any:
    raise Unpicklable("with a lock inside")


class Strict(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(a, b)
        self.lock = threading.Lock()


def raise_strict(x: Any) -> Any:
    raise Strict(1, 2)


class Hopeless(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}-{b}")  # args no longer rebuild it: unpickling fails
        self.lock = threading.Lock()


def raise_hopeless(x: Any) -> Any:
    raise Hopeless(1, 2)


def test_an_exception_that_does_not_pickle_keeps_its_type_when_it_can(
    processes: ProcessExecutor,
) -> None:
    with pytest.raises(Unpicklable, match="with a lock inside"):
        RunnableLambda(raise_unpicklable).invoke(0, {"executor": processes})
    with pytest.raises(Strict) as info:
        RunnableLambda(raise_strict).invoke(0, {"executor": processes})
    assert info.value.args == (1, 2)
    with pytest.raises(RemoteError, match=r"test_processes.Hopeless: 1-2") as hopeless:
        RunnableLambda(raise_hopeless).invoke(0, {"executor": processes})
    assert "raise_hopeless" in str(hopeless.value.__cause__)  # the remote traceback


def test_a_result_that_does_not_pickle_is_named(processes: ProcessExecutor) -> None:
    with pytest.raises(UnpicklableError, match="the leaf's result, a generator"):
        RunnableLambda(lambda x: (i for i in range(x))).invoke(3, {"executor": processes})


def test_ctrl_c_in_the_notebook_does_not_kill_the_workers(processes: ProcessExecutor) -> None:
    # Jupyter interrupts the kernel's whole process group; workers must survive it
    before = RunnableLambda(pid).invoke(0, {"executor": processes})
    os.kill(before, signal.SIGINT)
    time.sleep(0.2)
    after = RunnableParallel(a=pid, b=pid).invoke(0, {"executor": processes})
    assert before in processes.pool._processes
    assert set(after.values()) <= set(processes.pool._processes)


def die(x: Any) -> Any:
    os._exit(3)


def test_a_dead_worker_fails_its_call_and_the_next_call_gets_a_fresh_pool() -> None:
    with ProcessExecutor(max_workers=1) as executor:
        with pytest.raises(BrokenProcessPool, match="died while 'die'"):
            RunnableLambda(die).invoke(0, {"executor": executor})
        assert RunnableLambda(pid).invoke(0, {"executor": executor}) != os.getpid()


def test_close_is_idempotent_and_final() -> None:
    executor = ProcessExecutor(max_workers=1)
    assert RunnableLambda(pid).invoke(0, {"executor": executor}) != os.getpid()
    executor.close()
    executor.close()
    with pytest.raises(RuntimeError, match="was closed"):
        RunnableLambda(pid).invoke(0, {"executor": executor})


def test_forkserver_start_method_works() -> None:
    with ProcessExecutor(max_workers=1, start_method="forkserver") as executor:
        assert RunnableLambda(lambda x: x + 1).invoke(1, {"executor": executor}) == 2


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        ProcessExecutor(max_workers=0)
    with pytest.raises(ValueError, match="fork"):
        ProcessExecutor(start_method="fork")


def test_importing_chainlab_starts_no_multiprocessing_and_no_dask() -> None:
    code = (
        "import sys, chainlab; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('multiprocessing', 'distributed', 'dask')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_after_calls_one_at_a_time_two_calls_still_run_side_by_side() -> None:
    """'spawn' pools start a worker only when a call finds none idle: every worker is
    started with the pool, so one-at-a-time use never leaves a single worker behind."""
    with ProcessExecutor(max_workers=2) as executor:
        lone = RunnableLambda(nap)
        for _ in range(3):  # one call at a time
            lone.invoke(0, {"executor": executor})
        pair = RunnableParallel(a=long_nap, b=long_nap)
        out = pair.invoke(0, {"executor": executor})
        (a_start, a_end), (b_start, b_end) = out["a"], out["b"]
        assert max(a_start, b_start) < min(a_end, b_end)  # they overlapped


def test_a_fresh_pool_runs_two_calls_at_once_from_the_first_call(tmp_path: Path) -> None:
    """The pool waits until every worker is up: the very first two calls of a new
    2-worker pool each get a worker (each waits until it sees the other started). It
    used to start the workers and return while one still booted; the first calls then
    queued on the other, one after the other."""
    where = str(tmp_path)
    pair = RunnableParallel(
        a=lambda x: meet(x, where, "a", "b"), b=lambda x: meet(x, where, "b", "a")
    )
    with ProcessExecutor(max_workers=2) as executor:
        assert pair.invoke(0, {"executor": executor}) == {"a": True, "b": True}


def test_warm_up_returns_once_every_worker_takes_calls(tmp_path: Path) -> None:
    with ProcessExecutor(max_workers=2) as executor:
        executor.warm_up()
        assert executor.ready_workers == 2  # each ran its initializer: it takes calls
        where = str(tmp_path)
        pair = RunnableParallel(
            a=lambda x: meet(x, where, "a", "b"), b=lambda x: meet(x, where, "b", "a")
        )
        assert pair.invoke(0, {"executor": executor}) == {"a": True, "b": True}
