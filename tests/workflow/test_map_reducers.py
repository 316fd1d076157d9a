"""Map: every reducer form, empty and non-list inputs, item order, nesting, the loop
variable, and items that really run at the same time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from chainlab.workflow import (
    Map,
    Parallel,
    ParameterError,
    Pipeline,
    PythonTask,
    Stub,
    WorkflowDefinitionError,
)


def square(x: int) -> int:
    return x * x


def body() -> Pipeline:
    return Pipeline(steps=[PythonTask(function=square, returns=["sq"])])


def run_map(items: Any, reducer: Any = None, **params: Any) -> Any:
    step = Map(name="m", branch=body(), iterate_on="xs", iterate_as="x", reducer=reducer)
    return Pipeline(steps=[step]).execute({"xs": items, **params})


def test_the_default_keeps_item_order_even_when_items_finish_in_reverse() -> None:
    n = 4
    done = [threading.Event() for _ in range(n + 1)]
    done[n].set()
    finished: list[int] = []
    lock = threading.Lock()

    def reverse(x: int) -> int:
        # item x may finish only after item x + 1: the items must run at once
        if not done[x + 1].wait(timeout=5):
            raise TimeoutError(f"item {x + 1} never finished: the items did not overlap")
        with lock:
            finished.append(x)
        done[x].set()
        return x * 10

    step = Map(
        name="m",
        branch=PythonTask(function=reverse, returns=["out"]),
        iterate_on="xs",
        iterate_as="x",
    )
    result = Pipeline(steps=[step]).execute({"xs": list(range(n))})
    assert result.status == "success", result.error
    assert finished == [3, 2, 1, 0]
    assert result.parameters["out"] == [0, 10, 20, 30]  # item order, not finishing order


def first_and_rest(first: list[int], *rest: Any) -> tuple[list[int], tuple[Any, ...]]:
    return first, rest


def scaled(*values: int, scale: int = 2) -> int:
    return sum(values) * scale


@pytest.mark.parametrize(
    ("reducer", "expected"),
    [
        (None, [1, 4, 9]),
        (sum, 14),
        (max, 9),
        (len, 3),
        (set, {1, 4, 9}),
        (tuple, (1, 4, 9)),
        (sorted, [1, 4, 9]),
        (lambda values: values[::-1], [9, 4, 1]),
        (lambda *values: min(values), 1),  # only *args: the values spread out
        (scaled, 28),  # *args plus an optional keyword: still spread out
        (first_and_rest, ([1, 4, 9], ())),  # a required parameter: gets the list
        ("lambda *x: max(x)", 9),  # runnable's string form
        ("lambda xs: sum(xs) / len(xs)", 14 / 3),
        ("max", 9),
        ("sorted", [1, 4, 9]),
    ],
)
def test_every_reducer_form(reducer: Any, expected: Any) -> None:
    result = run_map([1, 2, 3], reducer)
    assert result.status == "success", result.error
    assert result.parameters["sq"] == expected


def test_a_dict_reduces_each_name_its_own_way_and_lists_the_rest() -> None:
    def stats(x: int) -> tuple[int, int, str]:
        return x, x * x, f"#{x}"

    step = Map(
        name="m",
        branch=PythonTask(function=stats, returns=["n", "sq", "label"]),
        iterate_on="xs",
        iterate_as="x",
        reducer={"n": "lambda *x: sum(x)", "sq": max},
    )
    result = Pipeline(steps=[step]).execute({"xs": [3, 1, 2]})
    assert result.parameters == {"xs": [3, 1, 2], "n": 6, "sq": 9, "label": ["#3", "#1", "#2"]}


def test_one_reducer_applies_to_every_returned_name() -> None:
    def two(x: int) -> tuple[int, int]:
        return x, -x

    step = Map(
        name="m",
        branch=PythonTask(function=two, returns=["pos", "neg"]),
        iterate_on="xs",
        iterate_as="x",
        reducer=sum,
    )
    assert Pipeline(steps=[step]).execute({"xs": [1, 2]}).parameters == {
        "xs": [1, 2],
        "pos": 3,
        "neg": -3,
    }


@pytest.mark.parametrize(
    ("reducer", "match"),
    [
        ("lambda *x:", "not a Python expression"),
        ("3", "must be callable"),
        ({"sq": "lambda ("}, "not a Python expression"),
        ({"sq": 7}, "must be callable"),
    ],
)
def test_a_bad_reducer_is_refused_when_the_map_is_built(reducer: Any, match: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=match) as info:
        Map(name="named", branch=body(), iterate_on="xs", iterate_as="x", reducer=reducer)
    assert "'named'" in str(info.value)


def test_an_empty_list_runs_no_item_and_reduces_nothing() -> None:
    result = run_map([])
    assert result.status == "success", result.error
    assert result.parameters == {"xs": [], "sq": []}
    assert set(result.steps) == {"m"}  # the map node only: no item ran
    assert result.steps["m"].status == "success"
    assert run_map([], sum).parameters["sq"] == 0


def test_a_reducer_that_cannot_take_an_empty_list_fails_naming_map_and_name() -> None:
    result = run_map([], max)
    assert result.status == "fail"
    assert isinstance(result.error, ValueError)
    assert any("'m'" in note and "'sq'" in note for note in result.error.__notes__)
    assert result.steps["m"].status == "fail"


@pytest.mark.parametrize(
    ("items", "type_name"),
    [
        (5, "int"),
        (None, "NoneType"),
        ("abc", "str"),
        (b"abc", "bytes"),
        ({"a": 1}, "dict"),
    ],
)
def test_a_non_list_is_a_clear_error(items: Any, type_name: str) -> None:
    ran: list[int] = []

    def spy(x: Any) -> None:
        ran.append(x)

    step = Map(name="loop", branch=PythonTask(function=spy), iterate_on="xs", iterate_as="x")
    result = Pipeline(steps=[step]).execute({"xs": items})
    assert result.status == "fail"
    assert isinstance(result.error, ParameterError)
    message = str(result.error)
    assert "Map 'loop'" in message
    assert "'xs'" in message
    assert "must be a list" in message
    assert type_name in message
    assert ran == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: (1, 2, 3),
        lambda: range(1, 4),
        lambda: (i for i in (1, 2, 3)),
        lambda: iter([1, 2, 3]),
    ],
)
def test_any_iterable_that_is_not_text_or_a_mapping_works(make: Callable[[], Any]) -> None:
    assert run_map(make()).parameters["sq"] == [1, 4, 9]


def test_a_missing_list_names_what_exists() -> None:
    step = Map(name="m", branch=body(), iterate_on="chunks", iterate_as="x")
    result = Pipeline(steps=[step]).execute({"xs": [1], "other": 2})
    assert isinstance(result.error, ParameterError)
    assert "'chunks'" in str(result.error)
    assert "other, xs" in str(result.error)


def test_the_loop_variable_shadows_a_parameter_only_inside_the_item() -> None:
    seen: list[Any] = []
    lock = threading.Lock()

    def look(x: Any, base: int) -> int:
        with lock:
            seen.append(x)
        return x + base

    step = Map(
        name="m",
        branch=PythonTask(function=look, returns=["total"]),
        iterate_on="xs",
        iterate_as="x",
    )

    def after(x: str) -> str:
        return x

    pipeline = Pipeline(steps=[step, PythonTask(function=after, returns=["x_after"])])
    result = pipeline.execute({"xs": [1, 2], "x": "outer", "base": 100})
    assert result.status == "success", result.error
    assert sorted(seen) == [1, 2]
    assert result.parameters["total"] == [101, 102]
    assert result.parameters["x"] == "outer"
    assert result.parameters["x_after"] == "outer"


def test_returning_the_loop_variable_does_not_leak_out() -> None:
    def rename(x: int) -> tuple[int, int]:
        return x * 2, x

    step = Map(
        name="m",
        branch=PythonTask(function=rename, returns=["x", "kept"]),
        iterate_on="xs",
        iterate_as="x",
    )
    assert step.writes() == frozenset({"kept"})
    result = Pipeline(steps=[step]).execute({"xs": [1, 2]})
    assert result.parameters == {"xs": [1, 2], "kept": [1, 2]}


def test_a_map_inside_a_map_reduces_level_by_level() -> None:
    def cell(row: int, col: int) -> int:
        return row * 10 + col

    inner = Map(
        name="cols",
        branch=PythonTask(function=cell, returns=["value"]),
        iterate_on="columns",
        iterate_as="col",
        reducer={"value": "lambda *v: sum(v)"},
    )
    outer = Map(name="rows", branch=inner, iterate_on="row_ids", iterate_as="row")
    result = Pipeline(steps=[outer]).execute({"row_ids": [1, 2], "columns": [0, 1, 2]})
    assert result.status == "success", result.error
    assert result.parameters["value"] == [33, 63]
    assert result.steps["rows/1/cols/2/cell"].status == "success"
    assert result.steps["rows/0/cols"].kind == "map"
    cells = [name for name in result.steps if name.endswith("/cell")]
    assert len(cells) == 6


def test_a_parallel_inside_each_item() -> None:
    def up(word: str) -> str:
        return word.upper()

    def size(word: str) -> int:
        return len(word)

    item = Parallel(
        name="both",
        branches={
            "u": PythonTask(function=up, returns=["upper"]),
            "s": PythonTask(function=size, returns=["length"]),
        },
    )
    step = Map(name="words", branch=item, iterate_on="text", iterate_as="word")
    result = Pipeline(steps=[step]).execute({"text": ["ab", "cde"]})
    assert result.parameters["upper"] == ["AB", "CDE"]
    assert result.parameters["length"] == [2, 3]
    assert result.steps["words/1/both/s/size"].status == "success"


def test_every_item_runs_at_once() -> None:
    barrier = threading.Barrier(5, timeout=5)  # breaks unless all five wait together

    def meet(x: int) -> int:
        barrier.wait()
        return x

    step = Map(
        name="m", branch=PythonTask(function=meet, returns=["y"]), iterate_on="xs", iterate_as="x"
    )
    result = Pipeline(steps=[step]).execute({"xs": list(range(5))})
    assert result.status == "success", result.error
    assert result.parameters["y"] == [0, 1, 2, 3, 4]


def test_items_of_a_map_are_retried_one_by_one() -> None:
    failed: set[int] = set()
    lock = threading.Lock()

    def once_flaky(x: int) -> int:
        with lock:
            if x % 2 and x not in failed:
                failed.add(x)
                raise ConnectionError(f"blip {x}")
        return x

    step = Map(
        name="m",
        branch=PythonTask(function=once_flaky, returns=["y"], max_attempts=2),
        iterate_on="xs",
        iterate_as="x",
    )
    result = Pipeline(steps=[step]).execute({"xs": [0, 1, 2, 3]})
    assert result.status == "success", result.error
    assert result.parameters["y"] == [0, 1, 2, 3]
    attempts = {i: result.steps[f"m/{i}/once_flaky"].attempts for i in range(4)}
    assert attempts == {0: 1, 1: 2, 2: 1, 3: 2}


def test_a_stub_item_body_still_produces_one_value_per_item() -> None:
    step = Map(
        name="m",
        branch=Stub(name="fake", values={"label": "same"}),
        iterate_on="xs",
        iterate_as="x",
    )
    assert Pipeline(steps=[step]).execute({"xs": [1, 2, 3]}).parameters["label"] == [
        "same",
        "same",
        "same",
    ]
