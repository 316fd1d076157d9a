"""Nothing a leaf raises wedges the engine: every BaseException behaves the same under
every driver and mode, promptly, and the engine's threads and private loop survive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chainlab import BranchError, RunnableLambda, RunnableParallel


class Custom(BaseException):
    """A BaseException of the user's own."""


FATAL = [SystemExit, KeyboardInterrupt, GeneratorExit, Custom]


def raiser(kind: type[BaseException], is_async: bool) -> RunnableLambda:
    if is_async:

        async def bad(x: Any) -> Any:
            await asyncio.sleep(0)
            raise kind("from the leaf")

        return RunnableLambda(bad)

    def bad_sync(x: Any) -> Any:
        raise kind("from the leaf")

    return RunnableLambda(bad_sync)


async def ainc(x: int) -> int:
    await asyncio.sleep(0.001)
    return x + 1


def healthy() -> None:
    """The engine still works: threads, the private loop, the async fan-out."""
    chain = RunnableParallel(a=ainc, b=lambda x: x * 2)
    assert chain.invoke(1) == {"a": 2, "b": 2}
    assert asyncio.run(chain.ainvoke(1)) == {"a": 2, "b": 2}


def run(driver: str, runnable: Any, mode: str) -> Any:
    if mode == "batch":
        if driver == "invoke":
            return runnable.batch([1, 2], return_exceptions=True)
        return asyncio.run(runnable.abatch([1, 2], return_exceptions=True))
    if driver == "invoke":
        return runnable.invoke(1)
    return asyncio.run(runnable.ainvoke(1))


def shaped(leaf: RunnableLambda, mode: str) -> Any:
    if mode == "leaf" or mode == "batch":
        return leaf
    parallel = RunnableParallel(bad=leaf, good=lambda x: "good")
    return parallel.with_partial_results() if mode == "partial" else parallel


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", FATAL, ids=lambda k: k.__name__)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
@pytest.mark.parametrize("mode", ["leaf", "fail-fast", "partial", "batch"])
def test_a_fatal_base_exception_propagates_under_every_driver_and_mode(
    kind: type[BaseException], is_async: bool, driver: str, mode: str
) -> None:
    """Never returned as a value (``{bad: <SystemExit>}`` under partial results, or in
    a ``return_exceptions`` batch), never a hang (an async leaf's SystemExit used to
    kill the private loop under invoke)."""
    with pytest.raises(kind, match="from the leaf"):
        run(driver, shaped(raiser(kind, is_async), mode), mode)
    healthy()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_a_branchs_own_cancelled_error_is_its_failure_not_the_callers(
    is_async: bool, driver: str
) -> None:
    """Partial results keep the sibling's result; the branch gets its BranchError."""
    chain = shaped(raiser(asyncio.CancelledError, is_async), "partial")
    out = run(driver, chain, "partial")
    assert out["good"] == "good"
    assert isinstance(out["bad"], BranchError)
    assert isinstance(out["bad"].exception, asyncio.CancelledError)
    healthy()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_a_branchs_own_cancelled_error_fails_fast_with_its_branch_named(
    is_async: bool, driver: str
) -> None:
    chain = shaped(raiser(asyncio.CancelledError, is_async), "fail-fast")
    with pytest.raises(asyncio.CancelledError, match="from the leaf") as info:
        run(driver, chain, "fail-fast")
    assert any("branch 'bad'" in note for note in info.value.__notes__)
    healthy()


@pytest.mark.timeout(30)
def test_an_async_leaf_that_calls_sync_invoke_on_a_fan_out_works() -> None:
    """The inner branches need a loop the outer leaf is blocking: they run on the next
    private loop (this hung for ever, and poisoned every later call)."""

    async def leaf(x: int) -> Any:
        return RunnableParallel(a=ainc, b=ainc).invoke(x)

    async def deeper(x: int) -> Any:
        return RunnableLambda(leaf).invoke(x)

    assert RunnableLambda(leaf).invoke(1) == {"a": 2, "b": 2}
    assert RunnableParallel(p=leaf, q=deeper).invoke(1) == {"p": {"a": 2, "b": 2}} | {
        "q": {"a": 2, "b": 2}
    }
    assert asyncio.run(RunnableLambda(leaf).ainvoke(1)) == {"a": 2, "b": 2}
    healthy()


@pytest.mark.timeout(30)
def test_an_async_leaf_that_batches_sync_invokes_works() -> None:
    async def leaf(x: int) -> Any:
        return RunnableLambda(ainc).batch([x, x + 1])

    assert RunnableLambda(leaf).map().invoke([1, 5]) == [[2, 3], [6, 7]]
    healthy()
