"""The semantics suite: every behaviour under both drivers (invoke / ainvoke) and
with the concurrency limit at 1 and unbounded."""

from __future__ import annotations

import asyncio
import operator
from typing import Any

import pytest

from chainlab import (
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from tests.conftest import Driver

LIMITS = [None, 1]


def add_one(x: int) -> int:
    return x + 1


async def aadd_one(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


def rag_like() -> Any:
    retrieve = RunnableLambda(lambda q: [f"doc about {q}", f"more on {q}"], name="retriever")
    prompt = RunnableLambda(
        lambda d: f"Context: {'; '.join(d['docs'])}\nQ: {d['question']}", name="prompt"
    )
    return {"docs": retrieve, "question": RunnablePassthrough()} | prompt | str.upper


@pytest.fixture(params=LIMITS, ids=["unbounded", "limit1"])
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {} if request.param is None else {"max_concurrency": request.param}


def test_parallel_output_is_a_dict_in_branch_order(drive: Driver, config: dict[str, Any]) -> None:
    par = RunnableParallel(c=add_one, a=lambda x: x * 10, b=RunnablePassthrough())
    out = drive(par, 1, config)
    assert out == {"c": 2, "a": 10, "b": 1}
    assert list(out) == ["c", "a", "b"]


def test_sync_and_async_functions_under_both_drivers(drive: Driver, config: dict[str, Any]) -> None:
    par = RunnableParallel(sync=add_one, asyn=aadd_one, both=RunnableLambda(add_one, aadd_one))
    assert drive(par, 1, config) == {"sync": 2, "asyn": 2, "both": 2}


def test_rag_retrieval_step(drive: Driver, config: dict[str, Any]) -> None:
    out = drive(rag_like(), "cats", config)
    assert out == "CONTEXT: DOC ABOUT CATS; MORE ON CATS\nQ: CATS"


def test_nested_parallels_and_maps(drive: Driver, config: dict[str, Any]) -> None:
    tree = RunnableParallel(
        left={"x": add_one, "y": {"z": aadd_one}},
        right=RunnableLambda(lambda n: list(range(n))) | RunnableLambda(add_one).map(),
    )
    assert drive(tree, 3, config) == {"left": {"x": 4, "y": {"z": 4}}, "right": [1, 2, 3]}


def test_assign_and_pick(drive: Driver, config: dict[str, Any]) -> None:
    chain = RunnablePassthrough.assign(total=lambda d: d["a"] + d["b"]).pick(["total", "a"])
    assert drive(chain, {"a": 1, "b": 2}, config) == {"total": 3, "a": 1}


def test_itemgetter_branches(drive: Driver, config: dict[str, Any]) -> None:
    chain = {"q": operator.itemgetter("question")} | RunnableLambda(lambda d: d["q"] * 2)
    assert drive(chain, {"question": "ab"}, config) == "abab"


def test_function_with_config_receives_the_run_config(drive: Driver) -> None:
    seen: dict[str, Any] = {}

    def spy(x: int, config: dict[str, Any]) -> int:
        seen.update(config)
        return x

    drive(
        RunnableLambda(spy),
        1,
        {"tags": ["lesson"], "metadata": {"who": "me"}, "max_concurrency": 3},
    )
    assert seen["tags"] == ["lesson"]
    assert seen["metadata"] == {"who": "me"}
    assert seen["max_concurrency"] == 3


def test_with_config_binds_tags(drive: Driver) -> None:
    seen: list[Any] = []

    def spy(x: int, config: dict[str, Any]) -> int:
        seen.append(config.get("tags"))
        return x

    drive(RunnableLambda(spy).with_config(tags=["bound"]), 1, {"tags": ["call"]})
    assert seen == [["call", "bound"]]


def test_errors_keep_their_type_and_name_the_branch(drive: Driver, config: dict[str, Any]) -> None:
    def poem(x: Any) -> Any:
        raise KeyError("no rhyme")

    par = RunnableParallel(joke=add_one, poem=poem)
    with pytest.raises(KeyError) as info:
        drive(par, 1, config)
    assert "in branch 'poem' of RunnableParallel<joke,poem>" in info.value.__notes__[0]


def test_nested_error_names_the_innermost_branch_once(drive: Driver) -> None:
    def fail(x: Any) -> Any:
        raise ValueError("deep")

    tree = RunnableParallel(
        outer=RunnableParallel(ok=add_one, bad=RunnableLambda(fail, name="fail"))
    )
    with pytest.raises(ValueError, match="deep") as info:
        drive(tree, 1)
    notes = info.value.__notes__
    assert len(notes) == 1
    assert notes[0].startswith("in branch 'bad' of RunnableParallel<ok,bad>")
    assert "RunnableParallel<outer>/outer/bad" in notes[0]


def test_map_error_names_the_item(drive: Driver) -> None:
    def picky(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    with pytest.raises(ValueError, match="two") as info:
        drive(RunnableLambda(picky).map(), [0, 1, 2, 3])
    assert info.value.__notes__[0].startswith("in item 2 of map<picky>")


def test_retry_recovers_from_transient_failures(drive: Driver) -> None:
    attempts: list[int] = []

    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise ConnectionError("blip")
        return x

    retried = RunnableLambda(flaky).with_retry(stop_after_attempt=3, wait_exponential_jitter=False)
    assert drive(retried, 5) == 5
    assert len(attempts) == 3


def test_retry_gives_up_after_the_last_attempt(drive: Driver) -> None:
    def broken(x: int) -> int:
        raise ConnectionError("down")

    retried = RunnableLambda(broken).with_retry(stop_after_attempt=2, wait_exponential_jitter=False)
    with pytest.raises(ConnectionError):
        drive(retried, 1)


def test_retry_only_on_listed_types(drive: Driver) -> None:
    calls: list[int] = []

    def wrong(x: int) -> int:
        calls.append(x)
        raise TypeError("not transient")

    retried = RunnableLambda(wrong).with_retry(
        retry_if_exception_type=(ConnectionError,), wait_exponential_jitter=False
    )
    with pytest.raises(TypeError):
        drive(retried, 1)
    assert calls == [1]


def test_fallbacks(drive: Driver) -> None:
    def primary(x: str) -> str:
        raise TimeoutError("primary down")

    guarded = RunnableLambda(primary).with_fallbacks([RunnableLambda(lambda x: f"backup:{x}")])
    assert drive(guarded, "q") == "backup:q"


def test_fallbacks_raise_the_first_error_when_all_fail(drive: Driver) -> None:
    def first(x: Any) -> Any:
        raise TimeoutError("first")

    def second(x: Any) -> Any:
        raise ConnectionError("second")

    guarded = RunnableLambda(first).with_fallbacks([second])
    with pytest.raises(TimeoutError, match="first") as info:
        drive(guarded, 1)
    assert "ConnectionError('second')" in info.value.__notes__[-1]


def test_fallbacks_with_exception_key(drive: Driver) -> None:
    def primary(d: dict[str, Any]) -> str:
        raise ValueError("bad json")

    def repair(d: dict[str, Any]) -> str:
        return f"repaired after {d['error']!r}"

    guarded = RunnableLambda(primary).with_fallbacks([repair], exception_key="error")
    assert drive(guarded, {"q": 1}) == "repaired after ValueError('bad json')"


def test_fallbacks_ignore_unlisted_errors(drive: Driver) -> None:
    def primary(x: Any) -> Any:
        raise KeyError("not handled")

    guarded = RunnableLambda(primary).with_fallbacks([add_one], exceptions_to_handle=(ValueError,))
    with pytest.raises(KeyError):
        drive(guarded, 1)


def test_runnable_called_inside_a_function_joins_the_run(drive: Driver) -> None:
    inner = RunnableParallel(a=add_one, b=add_one)

    def outer(x: int, config: dict[str, Any]) -> int:
        out = inner.invoke(x, config)
        return out["a"] + out["b"]

    # at max_concurrency=1 the outer leaf lends its slot to the nested run: no deadlock
    assert drive(RunnableLambda(outer), 1, {"max_concurrency": 1}) == 4
