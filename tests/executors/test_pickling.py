"""Before a leaf travels it is pickled; what cannot travel is named, branch and object."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chainlab import ProcessExecutor, RunnableLambda, RunnableParallel, UnpicklableError
from chainlab.executors.pickling import LOCAL_ONLY_KEYS, portable

LOCK = threading.Lock()


def uses_global_lock(x: int) -> int:
    with LOCK:
        return x


class Service:
    def __init__(self) -> None:
        self.name = "db"
        self.connection = {"pool": [threading.Lock()]}

    def query(self, x: int) -> int:
        return x


@pytest.fixture
def never_started() -> Iterator[ProcessExecutor]:
    """An executor whose pool must never start: packing fails first."""
    executor = ProcessExecutor(max_workers=1)
    yield executor
    assert executor._pool is None
    executor.close()


def failure(chain: Any, input: Any, executor: ProcessExecutor) -> UnpicklableError:
    with pytest.raises(UnpicklableError) as info:
        chain.invoke(input, {"executor": executor})
    assert isinstance(info.value, TypeError)
    return info.value


def test_a_closure_variable_is_named_with_its_branch(never_started: ProcessExecutor) -> None:
    lock = threading.Lock()

    def count(x: int) -> int:
        with lock:
            return x

    local = RunnableLambda(lambda x: x).with_config(executor="threads")  # starts no pool
    error = failure(RunnableParallel(ok=local, counter=count), 1, never_started)
    message = str(error)
    assert "'RunnableParallel<ok,counter>/counter'" in message
    assert "function 'test_a_closure_variable_is_named_with_its_branch.<locals>.count'" in message
    assert "closure variable 'lock' (a _thread.lock)" in message
    assert "in branch 'counter'" in error.__notes__[0]


def test_an_object_inside_the_input_is_named(never_started: ProcessExecutor) -> None:
    error = failure(RunnableLambda(lambda d: d), {"docs": [1, (x for x in "ab")]}, never_started)
    assert "input['docs'][1] (a generator)" in str(error)


def test_an_attribute_of_a_bound_method_is_named(never_started: ProcessExecutor) -> None:
    error = failure(RunnableLambda(Service().query), 1, never_started)
    assert "self.connection['pool'][0] (a _thread.lock)" in str(error)


def test_a_partial_argument_is_named(never_started: ProcessExecutor) -> None:
    leaf = RunnableLambda(functools.partial(lambda lock, x: x, threading.Lock()))
    assert "→ argument 0 (a _thread.lock)" in str(failure(leaf, 1, never_started))


def test_a_module_function_travels_by_reference(processes: ProcessExecutor) -> None:
    # an importable function is pickled by name: the worker imports its module and
    # uses its own LOCK, so the global lock is no obstacle
    assert RunnableLambda(uses_global_lock).invoke(1, {"executor": processes}) == 1


def test_a_function_with_a_config_parameter_names_the_function(
    never_started: ProcessExecutor,
) -> None:
    handle = threading.Lock()

    def step(x: int, config: dict[str, Any]) -> int:
        with handle:
            return x

    error = failure(RunnableLambda(step), 1, never_started)
    assert "closure variable 'handle'" in str(error)
    assert "_with_config" not in str(error)


def test_local_only_config_keys_do_not_travel() -> None:
    from chainlab.engine.run import _RUN_KEY

    config = {_RUN_KEY: object(), "callbacks": [threading.Lock()], "executor": "x", "tags": ["t"]}
    args = portable((1, config))
    assert args[1] == {"tags": ["t"]}
    assert set(config) - set(args[1]) == LOCAL_ONLY_KEYS
    plain = (1, {"callbacks": []})
    assert portable(plain) is plain  # a dict that is not a run config is left alone
