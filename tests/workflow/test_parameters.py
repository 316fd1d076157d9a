"""Parameters by name: inheritance through three levels of nesting, binding rules of
PythonTask (defaults, positional-only, ``**kwargs``, async), returns, and the design
errors raised before anything runs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from chainlab.workflow import (
    Map,
    Parallel,
    ParameterConflict,
    ParameterError,
    Pipeline,
    PythonTask,
    ReturnsError,
    Stub,
    WorkflowDefinitionError,
    WorkflowError,
)


def test_parameters_are_inherited_through_three_levels_and_merged_back() -> None:
    seen: dict[str, tuple[Any, ...]] = {}
    lock = threading.Lock()

    def deepest(top: str, middle: int, item: int) -> str:
        with lock:
            seen[f"deep{item}"] = (top, middle, item)
        return f"{top}-{middle}-{item}"

    def make_middle(top: str) -> int:
        return len(top)

    level3 = Pipeline(steps=[PythonTask(function=deepest, returns=["leaf"])])
    level2 = Pipeline(
        steps=[
            PythonTask(function=make_middle, returns=["middle"]),
            Map(name="items", branch=level3, iterate_on="numbers", iterate_as="item"),
        ]
    )
    level1 = Parallel(name="outer", branches={"only": level2, "other": Stub(name="noop")})
    result = Pipeline(steps=[level1]).execute({"top": "abc", "numbers": [1, 2]})
    assert result.status == "success", result.error
    assert seen == {"deep1": ("abc", 3, 1), "deep2": ("abc", 3, 2)}
    assert result.parameters == {
        "top": "abc",
        "numbers": [1, 2],
        "middle": 3,
        "leaf": ["abc-3-1", "abc-3-2"],
    }
    assert result.steps["outer/only/items/1/deepest"].status == "success"


def test_a_branch_sees_a_copy_not_its_siblings_values() -> None:
    barrier = threading.Barrier(2, timeout=5)  # both branches are inside at once

    def left(shared: list[int]) -> list[int]:
        barrier.wait()
        return [*shared, 1]

    def right(shared: list[int]) -> int:
        barrier.wait()
        return len(shared)

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "l": PythonTask(function=left, returns=["from_left"]),
                    "r": PythonTask(function=right, returns=["from_right"]),
                },
            )
        ]
    )
    result = pipeline.execute({"shared": [0]})
    assert result.status == "success", result.error
    assert result.parameters == {"shared": [0], "from_left": [0, 1], "from_right": 1}


def test_a_branch_may_overwrite_an_inherited_name() -> None:
    def bump(n: int) -> int:
        return n + 1

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={"a": PythonTask(function=bump, returns=["n"]), "b": Stub(name="s")},
            ),
            PythonTask(function=bump, name="again", returns=["n"]),
        ]
    )
    assert pipeline.execute({"n": 1}).parameters == {"n": 3}


def test_conflicts_are_found_across_nested_parallels_and_maps() -> None:
    inner = Parallel(
        name="inner", branches={"x": Stub(name="sx", values={"score": 1}), "y": Stub(name="sy")}
    )
    mapped = Map(
        name="m",
        branch=Stub(name="each", values={"score": 2}),
        iterate_on="xs",
        iterate_as="x",
    )
    for other in (inner, mapped):
        pipeline = Pipeline(
            steps=[
                Parallel(
                    name="top",
                    branches={"first": Pipeline(steps=[other]), "second": Stub(name="s2")},
                ),
                Parallel(
                    name="clash",
                    branches={
                        "deep": Pipeline(steps=[other]),
                        "flat": Stub(name="s3", values={"score": 3}),
                    },
                ),
            ]
        )
        with pytest.raises(ParameterConflict) as info:
            pipeline.execute({"xs": [1]})
        message = str(info.value)
        assert "'clash'" in message
        assert "'deep' and 'flat'" in message
        assert "'score'" in message


def test_a_name_set_by_an_on_failure_handler_counts_as_a_branch_return() -> None:
    def fails() -> None:
        raise ValueError("x")

    risky = PythonTask(
        function=fails, on_failure=Stub(name="fallback", values={"answer": "default"})
    )
    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={"a": risky, "b": Stub(name="b", values={"answer": "b"})},
            )
        ]
    )
    with pytest.raises(ParameterConflict, match="'answer'"):
        pipeline.execute()


def test_defaults_positional_only_and_var_args() -> None:
    def f(a: int, /, b: int, *rest: int, c: int = 30, d: int = 40, **more: Any) -> tuple[Any, ...]:
        return a, b, rest, c, d, sorted(more)

    result = Pipeline(steps=[PythonTask(function=f, returns=["out"])]).execute(
        {"a": 1, "b": 2, "d": 4, "extra": 5, "rest": 6}
    )
    assert result.status == "success", result.error
    # *rest takes nothing by name; **more gets the parameters the signature does not name
    assert result.parameters["out"] == (1, 2, (), 30, 4, ["extra"])


def test_a_missing_parameter_names_the_task_the_function_and_what_exists() -> None:
    def needs(alpha: int, beta: int) -> int:
        return alpha + beta

    result = Pipeline(steps=[PythonTask(function=needs, name="adder")]).execute({"alpha": 1})
    assert isinstance(result.error, ParameterError)
    assert isinstance(result.error, LookupError)
    assert isinstance(result.error, WorkflowError)
    message = str(result.error)
    assert "'adder'" in message
    assert "(needs)" in message
    assert "'beta'" in message
    assert "parameters: alpha" in message
    empty = Pipeline(steps=[PythonTask(function=needs, name="adder")]).execute()
    assert "parameters: none" in str(empty.error)
    assert "'alpha'" in str(empty.error)


def test_a_parameter_returned_later_is_still_missing_earlier() -> None:
    def use(late: int) -> int:
        return late

    def make() -> int:
        return 1

    result = Pipeline(
        steps=[PythonTask(function=use), PythonTask(function=make, returns=["late"])]
    ).execute()
    assert isinstance(result.error, ParameterError)
    assert result.steps["use"].status == "fail"
    assert "make" not in result.steps


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ((1, 2, 3), "tuple of length 3"),
        ([1], "list of length 1"),
        (None, "None"),
        ("ab", "'ab'"),
    ],
)
def test_returns_count_mismatch_says_what_came_back(value: Any, got: str) -> None:
    def give() -> Any:
        return value

    result = Pipeline(steps=[PythonTask(function=give, returns=["a", "b"])]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, ReturnsError)
    assert "returns=['a', 'b']" in str(result.error)
    assert "2 values" in str(result.error)
    assert got in str(result.error)


def test_one_return_name_takes_the_whole_value_and_a_list_unpacks() -> None:
    def pair() -> tuple[int, int]:
        return 1, 2

    def as_list() -> list[int]:
        return [3, 4]

    result = Pipeline(
        steps=[
            PythonTask(function=pair, returns=["both"]),
            PythonTask(function=as_list, returns=["c", "d"]),
        ]
    ).execute()
    assert result.parameters == {"both": (1, 2), "c": 3, "d": 4}


def test_async_functions_with_kwargs_and_defaults() -> None:
    async def gather(n: int, scale: int = 2, **rest: Any) -> tuple[int, list[str]]:
        await asyncio.sleep(0.01)
        return n * scale, sorted(rest)

    task = PythonTask(function=gather, returns=["value", "others"])
    assert task.name == "gather"
    result = Pipeline(steps=[task]).execute({"n": 4, "zeta": 0})
    assert result.status == "success", result.error
    assert result.parameters == {"n": 4, "zeta": 0, "value": 8, "others": ["zeta"]}


def test_async_functions_report_missing_parameters_and_bad_returns() -> None:
    async def needs(x: int) -> int:
        return x

    async def pair() -> int:
        return 1

    missing = Pipeline(steps=[PythonTask(function=needs)]).execute()
    assert isinstance(missing.error, ParameterError)
    assert "'x'" in str(missing.error)
    bad = Pipeline(steps=[PythonTask(function=pair, returns=["a", "b"])]).execute()
    assert isinstance(bad.error, ReturnsError)


def test_async_branches_run_at_the_same_time() -> None:
    lock = threading.Lock()
    started: list[str] = []

    def make(tag: str) -> Any:
        async def branch() -> str:
            # each branch polls (without blocking its loop) until the other has started
            with lock:
                started.append(tag)
            for _ in range(500):
                with lock:
                    if len(started) >= 2:
                        return tag
                await asyncio.sleep(0.01)
            raise TimeoutError(f"{tag}: the other branch never started")

        branch.__name__ = f"branch_{tag}"
        return branch

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "a": PythonTask(function=make("a"), returns=["a"]),
                    "b": PythonTask(function=make("b"), returns=["b"]),
                },
            )
        ]
    )
    result = pipeline.execute()
    assert result.status == "success", result.error
    assert result.parameters == {"a": "a", "b": "b"}


WRONG: Any = 42  # not a function, not a step, not a reducer


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Stub(name=""), "non-empty"),
        (lambda: Stub(name="   "), "non-empty"),
        (lambda: PythonTask(function=WRONG), "callable"),
        (lambda: PythonTask(function=print, max_attempts=0), "max_attempts"),
        (lambda: PythonTask(function=print, returns=["a", "a"]), "twice"),
        (lambda: PythonTask(function=print, returns=["ok", "1st"]), "identifiers"),
        (lambda: Parallel(name="p", branches={}), "at least one branch"),
        (lambda: Parallel(name="p", branches={"a": WRONG}), "branch 'a'"),
        (lambda: Pipeline(steps=[WRONG]), "must be tasks"),
        (
            lambda: Map(name="m", branch=Stub(), iterate_on="xs", iterate_as="not ok"),
            "identifier",
        ),
        (
            lambda: Map(name="m", branch=Stub(), iterate_on="xs", iterate_as="x", reducer=WRONG),
            "callable",
        ),
    ],
)
def test_bad_definitions_are_refused_when_built(build: Any, match: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=match):
        build()


def test_both_terminations_on_one_step_is_refused_at_execute() -> None:
    ran: list[int] = []

    def work() -> None:
        ran.append(1)

    step = PythonTask(function=work, terminate_with_success=True, terminate_with_failure=True)
    with pytest.raises(WorkflowDefinitionError, match="both success and failure"):
        Pipeline(steps=[step]).execute()
    assert ran == []


@pytest.mark.parametrize("via", ["parallel", "map", "on_failure"])
def test_a_pipeline_that_contains_itself_is_a_definition_error(via: str) -> None:
    pipeline = Pipeline(steps=[Stub(name="first")], name="loop")
    if via == "parallel":
        pipeline.steps.append(Parallel(name="p", branches={"again": pipeline}))
    elif via == "map":
        pipeline.steps.append(
            Map(name="m", branch=Stub(), iterate_on="xs", iterate_as="x")  # replaced below
        )
        pipeline.steps[-1].branch = pipeline  # type: ignore[attr-defined]
    else:
        inner = Pipeline(steps=[Stub(name="s", on_failure=pipeline)])
        pipeline.steps.append(Parallel(name="p", branches={"inner": inner}))
    with pytest.raises(WorkflowDefinitionError, match="'loop' contains itself"):
        pipeline.execute({"xs": [1]})


def test_the_same_pipeline_may_appear_twice_without_being_a_cycle() -> None:
    def tag(label: str) -> str:
        return label.upper()

    shared = Pipeline(steps=[Stub(name="noop")])
    pipeline = Pipeline(
        steps=[
            Parallel(name="p", branches={"a": shared, "b": shared}),
            Parallel(name="q", branches={"c": shared}),
            PythonTask(function=tag, returns=["tagged"]),
        ]
    )
    result = pipeline.execute({"label": "x"})
    assert result.status == "success", result.error
    assert {"p/a/noop", "p/b/noop", "q/c/noop"} <= set(result.steps)
    assert result.parameters["tagged"] == "X"


@pytest.mark.parametrize(
    ("parameters", "match"),
    [([("a", 1)], "must be a dict"), ({1: "a"}, "must be str")],
)
def test_execute_checks_its_parameters(parameters: Any, match: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=match):
        Pipeline(steps=[Stub()]).execute(parameters)


def test_parameters_file_must_be_a_mapping_and_configuration_file_is_ignored(
    tmp_path: Any,
) -> None:
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(WorkflowDefinitionError, match="mapping"):
        Pipeline(steps=[Stub()]).execute(parameters_file=bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.warns(UserWarning, match="configuration_file is ignored"):
        result = Pipeline(steps=[Stub()]).execute(
            {"a": 1}, parameters_file=empty, configuration_file="config.yaml"
        )
    assert result.parameters == {"a": 1}


def test_the_caller_s_dict_is_never_changed() -> None:
    def grow(items: list[int]) -> list[int]:
        return [*items, 4]

    given = {"items": [1, 2, 3]}
    result = Pipeline(steps=[PythonTask(function=grow, returns=["items"])]).execute(given)
    assert result.parameters["items"] == [1, 2, 3, 4]
    assert given == {"items": [1, 2, 3]}
