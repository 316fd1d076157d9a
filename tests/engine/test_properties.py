"""Property test: random trees of pure functions, sequences, parallels and maps give the
same output under every driver and limit, and the same as langchain_core's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainlab

# A tree spec is plain data, so the same tree can be built with either library.
# ("fn", k) | ("seq", [spec, ...]) | ("par", {key: spec}) | ("pass",) | ("map", spec)
leaf = st.tuples(st.just("fn"), st.integers(-3, 3)) | st.just(("pass",))
trees = st.recursive(
    leaf,
    lambda kids: (
        st.tuples(st.just("seq"), st.lists(kids, min_size=2, max_size=3))
        | st.tuples(
            st.just("par"),
            st.dictionaries(st.sampled_from("abcde"), kids, min_size=1, max_size=4),
        )
        | st.tuples(st.just("map"), kids)
    ),
    max_leaves=12,
)


def fn(k: int) -> Any:
    """A pure function that works on ints, lists and dicts alike."""

    def apply(x: Any) -> Any:
        if isinstance(x, int):
            return x * 2 + k
        if isinstance(x, list):
            return [apply(v) for v in x]
        if isinstance(x, dict):
            return {key: apply(v) for key, v in sorted(x.items())}
        return x

    return apply


def to_list(x: Any) -> list[Any]:
    if isinstance(x, list):
        return x
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return [x, x]


def build(spec: Any, lib: Any) -> Any:
    kind = spec[0]
    if kind == "fn":
        return lib.RunnableLambda(fn(spec[1]))
    if kind == "pass":
        return lib.RunnablePassthrough()
    if kind == "seq":
        return lib.RunnableSequence(*(build(s, lib) for s in spec[1]))
    if kind == "par":
        return lib.RunnableParallel({k: build(s, lib) for k, s in spec[1].items()})
    # map: make the input a list first, as a generated-queries step would
    return lib.RunnableSequence(lib.RunnableLambda(to_list), build(spec[1], lib).map())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=trees, x=st.integers(-5, 5))
def test_same_output_under_every_driver_and_limit(spec: Any, x: int) -> None:
    chain = build(spec, chainlab)
    expected = chain.invoke(x)
    assert chain.invoke(x, {"max_concurrency": 1}) == expected
    assert asyncio.run(chain.ainvoke(x)) == expected
    assert asyncio.run(chain.ainvoke(x, {"max_concurrency": 1})) == expected
    assert chain.batch([x, x + 1])[0] == expected
    assert asyncio.run(chain.abatch([x], {"max_concurrency": 2})) == [expected]


try:  # a dev extra: without it only the comparison below is skipped
    import langchain_core.runnables as lc
except ImportError:  # pragma: no cover
    lc = None


@pytest.mark.skipif(lc is None, reason="langchain-core is a dev extra")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=trees, x=st.integers(-5, 5))
def test_same_output_as_langchain_core(spec: Any, x: int) -> None:
    assert build(spec, chainlab).invoke(x) == build(spec, lc).invoke(x)
