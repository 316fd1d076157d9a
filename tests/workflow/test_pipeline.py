"""Pipelines: parameters by name, returns, the result object, running twice."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from chainlab import RunnableLambda
from chainlab.workflow import (
    ParameterError,
    Pipeline,
    PythonTask,
    ReturnsError,
    Stub,
    WorkflowDefinitionError,
    WorkflowResult,
    metric,
    pickled,
)


def double(x):
    return 2 * x


def split(text):
    return text.split(), len(text)


def test_parameters_flow_by_name_from_step_to_step():
    def shout(words, suffix="!"):
        return [w.upper() + suffix for w in words]

    pipeline = Pipeline(
        steps=[
            PythonTask(function=split, returns=["words", "length"]),
            PythonTask(function=shout, returns=["loud"]),
            PythonTask(function=double, name="twice", returns=["x2"]),
        ]
    )
    result = pipeline.execute({"text": "a b", "x": 5})
    assert result.status == "success"
    assert result.error is None
    assert result.parameters == {
        "text": "a b",
        "x": 5,
        "words": ["a", "b"],
        "length": 3,
        "loud": ["A!", "B!"],
        "x2": 10,
    }
    assert list(result.steps) == ["split", "shout", "twice"]


def test_kwargs_function_receives_all_parameters_and_returns_are_optional():
    seen = {}

    def spy(a, **rest):
        seen.update(a=a, **rest)
        return "ignored: no returns"

    result = Pipeline(steps=[PythonTask(function=spy)]).execute({"a": 1, "b": 2})
    assert seen == {"a": 1, "b": 2}
    assert result.parameters == {"a": 1, "b": 2}


def test_missing_parameter_fails_the_run_with_a_clear_message():
    result = Pipeline(steps=[PythonTask(function=double, name="d")]).execute({"y": 1})
    assert result.status == "fail"
    assert isinstance(result.error, ParameterError)
    assert "'x'" in str(result.error)
    assert "y" in str(result.error)  # lists what is available
    assert result.steps["d"].status == "fail"
    assert result.steps["d"].error.startswith("ParameterError")
    with pytest.raises(ParameterError):
        result.raise_for_status()


def test_several_returns_need_a_matching_tuple():
    result = Pipeline(steps=[PythonTask(function=double, returns=["a", "b"])]).execute({"x": 1})
    assert result.status == "fail"
    assert isinstance(result.error, ReturnsError)
    assert "2 values" in str(result.error)


def test_stub_passes_through_sets_values_and_ignores_task_keywords():
    stub = Stub(name="fake train", function=double, returns=["model"], values={"model": "m0"})
    result = Pipeline(steps=[stub]).execute({"x": 1})
    assert result.parameters == {"x": 1, "model": "m0"}


def test_async_function_and_pickled_metric_returns():
    async def fetch(x):
        await asyncio.sleep(0.01)
        return x + 1, 0.5

    step = PythonTask(function=fetch, returns=[pickled("y"), metric("score")])
    assert [r.kind for r in step.returns] == ["pickled", "metric"]  # type: ignore[attr-defined]
    assert Pipeline(steps=[step]).execute({"x": 1}).parameters == {"x": 1, "y": 2, "score": 0.5}


def test_the_same_pipeline_runs_twice_independently():
    calls = []

    def count(n):
        calls.append(n)
        return n + 1

    pipeline = Pipeline(steps=[PythonTask(function=count, returns=["n"])])
    first = pipeline.execute({"n": 1})
    second = pipeline.execute({"n": 10})
    assert (first.parameters["n"], second.parameters["n"]) == (2, 11)
    assert first.run_id != second.run_id
    assert calls == [1, 10]
    assert pipeline.last_result is second


def test_retries_are_counted_in_attempts():
    failures = [ValueError("flaky"), ValueError("flaky")]

    def flaky():
        if failures:
            raise failures.pop()
        return "ok"

    task = PythonTask(function=flaky, returns=["out"], max_attempts=3)
    result = Pipeline(steps=[task]).execute()
    assert result.parameters == {"out": "ok"}
    assert result.steps["flaky"].attempts == 3
    assert result.steps["flaky"].status == "success"


def test_result_has_timings_repr_and_timeline():
    result = Pipeline(steps=[Stub(name="a"), PythonTask(function=double, name="b")]).execute(
        {"x": 1}, run_id="my-run"
    )
    assert isinstance(result, WorkflowResult)
    assert result.run_id == "my-run"
    a, b = result.steps["a"], result.steps["b"]
    assert 0 <= a.start <= a.end <= b.start <= b.end <= result.duration
    assert a.duration is not None
    assert a.duration >= 0
    assert a.kind == "task"
    assert a.attempts == 1
    text = repr(result)
    assert "status='success'" in text
    assert "my-run" in text
    assert "b " in text
    timeline = result.timeline(width=20)
    assert len(timeline.splitlines()) == 3  # header + 2 nodes


def test_definition_errors_raise_before_anything_runs():
    ran = []

    def work():
        ran.append(1)

    with pytest.raises(WorkflowDefinitionError, match="named 'w'"):
        Pipeline(steps=[PythonTask(function=work, name="w"), Stub(name="w")]).execute()
    with pytest.raises(WorkflowDefinitionError, match="could never run"):
        Pipeline(
            steps=[PythonTask(function=work, terminate_with_success=True), Stub(name="late")]
        ).execute()
    with pytest.raises(WorkflowDefinitionError):
        Pipeline(steps=[])
    with pytest.raises(WorkflowDefinitionError, match="identifiers"):
        PythonTask(function=work, returns=["not a name"])
    assert ran == []


def test_parameters_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("x: 3\nname: demo\n")
    result = Pipeline(steps=[PythonTask(function=double, returns=["y"])]).execute(
        {"name": "override"}, parameters_file=path
    )
    assert result.parameters == {"x": 3, "name": "override", "y": 6}


def test_execute_inside_a_task_starts_its_own_run():
    inner = Pipeline(steps=[PythonTask(function=double, returns=["y"])])

    def outer(x):
        return inner.execute({"x": x}).parameters["y"]

    result = Pipeline(steps=[PythonTask(function=outer, returns=["z"])]).execute({"x": 4})
    assert result.parameters["z"] == 8
    assert inner.last_result is not None
    assert list(inner.last_result.steps) == ["double"]


def test_pipeline_is_a_chainlab_runnable():
    runnable = Pipeline(steps=[PythonTask(function=double, returns=["y"])]).to_runnable()
    chain = runnable | RunnableLambda(lambda p: p["y"])
    assert chain.invoke({"x": 21}) == 42
    assert [child[2].get_name() for child in runnable._children()] == ["double"]


def test_tasks_run_on_engine_threads_in_a_parallel_and_the_caller_thread_otherwise():
    lanes = []

    def where():
        lanes.append(threading.current_thread().name)

    Pipeline(steps=[PythonTask(function=where)]).execute()
    assert lanes == [threading.current_thread().name]


def test_live_runs_in_the_dashboard_or_says_why_not(monkeypatch, capsys):
    def work(x):
        return x + 1

    pipeline = Pipeline(steps=[PythonTask(function=work, returns=["y"])])
    result = pipeline.execute({"x": 1}, live=True)  # with chainlab.widgets if installed
    assert result.parameters == {"x": 1, "y": 2}
    assert result.steps["work"].status == "success"

    monkeypatch.setattr("chainlab.workflow.live.in_kernel", lambda: True)
    monkeypatch.setitem(sys.modules, "chainlab.widgets", None)  # as if it were missing
    capsys.readouterr()
    result = pipeline.execute({"x": 2}, live=True)
    out = capsys.readouterr().out
    assert result.parameters["y"] == 3
    assert "chainlab.widgets is not available" in out
    assert "  work  task      success" in out  # the text summary instead
