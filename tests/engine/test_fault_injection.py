"""Fault injection: random trees with failing, slow and timing-out leaves (cooperative,
blocking, and plain ``async def``), nested partial-results parallels, under each error
policy and both drivers. Nothing is lost, and the error names its path."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainlab
from chainlab import BranchError, RunnableLambda, RunnableParallel, RunnableSequence
from tests.conftest import Driver


class Injected(Exception):
    """Raised by a failing leaf; its message is the leaf's id."""


_ids = itertools.count()

FAILED = object()
"""In an expected output: a BranchError stands here (a failure inside a partial parallel)."""

# leaf specs: ("ok", k, ms) | ("fail", ms) | ("timeout", how)
leaves = st.one_of(
    st.tuples(st.just("ok"), st.integers(-3, 3), st.sampled_from([0, 0, 1, 5])),
    st.tuples(st.just("fail"), st.sampled_from([0, 2])),
    st.tuples(st.just("timeout"), st.sampled_from(["cooperative", "blocking", "async"])),
)
subtrees = st.recursive(
    leaves,
    lambda kids: (
        st.tuples(st.just("seq"), st.lists(kids, min_size=2, max_size=3))
        | st.tuples(st.just("par"), st.lists(kids, min_size=1, max_size=3))
        | st.tuples(st.just("partial"), st.lists(kids, min_size=1, max_size=3))
    ),
    max_leaves=6,
)
tops = st.lists(subtrees, min_size=1, max_size=5)


def build(spec: Any) -> tuple[Any, bool, Any]:
    """(runnable, fails?, expected output as a function of the input) for a spec."""
    kind = spec[0]
    if kind == "ok":
        _, k, ms = spec

        def step(x: Any, k: int = k, ms: int = ms) -> Any:
            chainlab.sleep(ms / 1000)
            return x * 2 + k if isinstance(x, int) else x

        return (
            RunnableLambda(step, name=f"ok{k}"),
            False,
            lambda x: x * 2 + k if isinstance(x, int) else x,
        )
    if kind == "fail":
        leaf_id = f"leaf-{next(_ids)}"

        def boom(x: Any, ms: int = spec[1], leaf_id: str = leaf_id) -> Any:
            chainlab.sleep(ms / 1000)
            raise Injected(leaf_id)

        return RunnableLambda(boom, name="boom"), True, None
    if kind == "timeout":
        return RunnableLambda(STALLS[spec[1]]).with_timeout(0.01), True, None
    parts = [build(s) for s in spec[1]]
    fails = any(f for _, f, _ in parts)
    if kind == "seq":
        fns = [fn for _, _, fn in parts]

        def compose(x: Any) -> Any:
            for fn in fns:
                x = fn(x)
            return x

        return RunnableSequence(*(r for r, _, _ in parts)), fails, None if fails else compose
    par = RunnableParallel({f"p{i}": r for i, (r, _, _) in enumerate(parts)})
    if kind == "partial":  # never fails: failed branches become BranchError values
        outs = [(lambda _: FAILED) if f else fn for _, f, fn in parts]
        return par.with_partial_results(), False, _dict_of(outs)
    fns = [fn for _, _, fn in parts]
    return par, fails, None if fails else _dict_of(fns)


def _dict_of(fns: list[Any]) -> Any:
    return lambda x: {f"p{i}": fn(x) for i, fn in enumerate(fns)}


def _stall_cooperatively(x: Any) -> Any:
    chainlab.sleep(0.5)  # stops when the timeout cancels its scope
    return x


def _stall_blocking(x: Any) -> Any:
    time.sleep(0.05)  # cannot be stopped: abandoned at the deadline, counted meanwhile
    return x


async def _stall_async(x: Any) -> Any:
    await asyncio.sleep(0.5)  # plain asyncio, cancelled at the deadline under both drivers
    return x


STALLS = {
    "cooperative": _stall_cooperatively,
    "blocking": _stall_blocking,
    "async": _stall_async,
}


def matches(output: Any, expected: Any) -> bool:
    """``output == expected``, where FAILED in ``expected`` matches any BranchError."""
    if expected is FAILED:
        return isinstance(output, BranchError)
    if isinstance(expected, dict):
        return (
            isinstance(output, dict)
            and output.keys() == expected.keys()
            and all(matches(output[k], v) for k, v in expected.items())
        )
    return bool(output == expected)


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    # `drive` is stateless: sharing it between examples is safe
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(spec=tops, x=st.integers(-3, 3))
def test_partial_mode_loses_nothing(drive: Driver, spec: list[Any], x: int) -> None:
    built = {f"b{i}": build(s) for i, s in enumerate(spec)}
    chain = RunnableParallel({k: r for k, (r, _, _) in built.items()}).with_partial_results()
    out = drive(chain, x)
    assert set(out) == set(built)
    for key, (_, fails, expected) in built.items():
        if fails:
            assert isinstance(out[key], BranchError), key
            assert out[key].key == key
            assert isinstance(out[key].exception, Injected | TimeoutError)
        else:
            assert matches(out[key], expected(x)), (key, out[key])


@SETTINGS
@given(spec=tops, x=st.integers(-3, 3))
def test_fail_fast_mode_raises_the_first_error_with_its_path(
    drive: Driver, spec: list[Any], x: int
) -> None:
    built = {f"b{i}": build(s) for i, s in enumerate(spec)}
    chain = RunnableParallel({k: r for k, (r, _, _) in built.items()})
    failing = {k for k, (_, fails, _) in built.items() if fails}
    if not failing:
        assert matches(drive(chain, x), {k: fn(x) for k, (_, _, fn) in built.items()})
        return
    with pytest.raises((Injected, TimeoutError)) as info:
        drive(chain, x)
    notes = getattr(info.value, "__notes__", [])
    assert notes, "the error must name its branch"
    assert notes[0].startswith("in branch ")
    origin = getattr(info.value, "_chainlab_origin", "")
    top_key = origin.split("/")[1]
    assert top_key in failing  # the path leads into a branch that really fails


@SETTINGS
@given(spec=tops, x=st.integers(-3, 3))
def test_error_group_mode_raises_every_failing_branch_once(
    drive: Driver, spec: list[Any], x: int
) -> None:
    built = {f"b{i}": build(s) for i, s in enumerate(spec)}
    chain = RunnableParallel({k: r for k, (r, _, _) in built.items()}).with_error_group()
    failing = {k for k, (_, fails, _) in built.items() if fails}
    if not failing:
        assert matches(drive(chain, x), {k: fn(x) for k, (_, _, fn) in built.items()})
        return
    with pytest.raises(ExceptionGroup) as info:
        drive(chain, x)
    errors = info.value.exceptions
    assert all(e.__notes__[0].startswith("in branch '") for e in errors)  # the innermost one
    tops = [getattr(e, "_chainlab_origin", "").split("/")[1] for e in errors]
    assert sorted(tops) == sorted(failing)  # every failing top branch, once
    assert all(isinstance(e, Injected | TimeoutError) for e in info.value.exceptions)
