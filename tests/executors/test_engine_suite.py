"""The engine's semantics suite (tests/engine/test_semantics.py), re-run with every
leaf call sent to worker processes and to Dask.

Each test there takes ``drive`` (invoke / ainvoke) and sometimes ``config``; here
``drive`` adds ``executor`` to the config of every call. A few tests watch, from the
test, state that a leaf changes (a list it appends to); a leaf in another process
changes its own copy, so those cannot pass remotely by design and are listed below.
Their remote-safe versions, whose leaves return their evidence, are in
``test_conformance.py`` (config and tags) and ``test_conformance_wrappers.py`` (retries),
with timeouts, partial results, error groups, streaming and batching.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.engine import test_semantics as semantics

SHARED_STATE = {
    "test_function_with_config_receives_the_run_config": "the leaf fills a dict of the test",
    "test_with_config_binds_tags": "the leaf appends to a list of the test",
    "test_retry_recovers_from_transient_failures": "the leaf counts attempts in a list",
    "test_retry_only_on_listed_types": "the leaf counts calls in a list",
}


def _cases() -> Iterator[Any]:
    for name, test in sorted(vars(semantics).items()):
        if not name.startswith("test_") or not callable(test) or name in SHARED_STATE:
            continue
        params = list(inspect.signature(test).parameters)
        if not set(params) <= {"drive", "config"}:
            continue  # a test with other fixtures is not portable as is
        limits = [None, 1] if "config" in params else [None]
        for limit in limits:
            case_id = name.removeprefix("test_") + ("" if limit is None else "-limit1")
            yield pytest.param(test, params, limit, id=case_id)


CASES = list(_cases())


@pytest.mark.parametrize("via", ["invoke", "ainvoke"])
@pytest.mark.parametrize(("test", "params", "limit"), CASES)
def test_engine_semantics_on_remote_backends(
    test: Callable[..., None], params: list[str], limit: int | None, via: str, remote_backend: Any
) -> None:
    def drive(runnable: Any, input: Any, config: dict[str, Any] | None = None) -> Any:
        config = {**(config or {}), "executor": remote_backend}
        if via == "invoke":
            return runnable.invoke(input, config)
        return asyncio.run(runnable.ainvoke(input, config))

    kwargs: dict[str, Any] = {"drive": drive}
    if "config" in params:
        kwargs["config"] = {} if limit is None else {"max_concurrency": limit}
    test(**kwargs)


def test_the_borrowed_suite_is_not_empty() -> None:
    assert len(CASES) >= 15
