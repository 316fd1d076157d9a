"""What a failure does: on_failure (what it receives, what flows out, nesting),
terminate_with_success / terminate_with_failure, retries, cancelled siblings, and the
parameters a failed run keeps."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab.workflow import (
    ERROR,
    FAILED_STEP,
    Map,
    Parallel,
    ParameterError,
    Pipeline,
    PythonTask,
    Stub,
    TerminatedWithFailure,
    WorkflowError,
)


def explode() -> None:
    raise ValueError("it broke")


class Spy:
    """Records what each handler call received (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def task(
        self, name: str = "spy", returns: list[str] | None = None, value: Any = "handled"
    ) -> Any:
        def handler(**params: Any) -> Any:
            with self.lock:
                self.calls.append(dict(params))
            return value

        handler.__name__ = name
        return PythonTask(function=handler, name=name, returns=returns)


@pytest.mark.parametrize(
    ("failing", "expected_error"),
    [
        (PythonTask(function=explode, name="boom"), "ValueError: it broke"),
        (PythonTask(function=lambda missing: missing, name="boom"), "ParameterError: "),
        (
            Parallel(name="boom", branches={"x": PythonTask(function=explode)}),
            "ValueError: it broke",
        ),
        (
            Map(
                name="boom",
                branch=PythonTask(function=lambda item: 1 / item, returns=["inv"]),
                iterate_on="items",
                iterate_as="item",
            ),
            "ZeroDivisionError: ",
        ),
    ],
)
def test_on_failure_receives_the_failed_step_name_and_the_error_text(
    failing: Any, expected_error: str
) -> None:
    spy = Spy()
    failing.on_failure = spy.task(returns=["recovered"])
    pipeline = Pipeline(steps=[Stub(name="before", values={"b": 1}), failing, Stub(name="after")])
    result = pipeline.execute({"items": [1, 0]})
    assert result.status == "success", result.error
    (call,) = spy.calls
    assert call[FAILED_STEP] == "boom"
    assert call[ERROR].startswith(expected_error)
    assert call["b"] == 1  # the parameters as they were before the failing step
    assert call["items"] == [1, 0]
    assert result.parameters == {"items": [1, 0], "b": 1, "recovered": "handled"}
    assert result.steps["boom"].status == "fail"
    assert result.steps["boom.on_failure"].kind == "pipeline"
    assert result.steps["boom.on_failure/spy"].status == "success"
    assert "after" not in result.steps  # the handler replaces the rest


def test_failed_step_and_error_never_replace_parameters_of_those_names() -> None:
    spy = Spy()
    step = PythonTask(function=explode, on_failure=spy.task())
    result = Pipeline(steps=[step]).execute({"error": "a user note", "failed_step": 0})
    assert spy.calls[0][ERROR] == "ValueError: it broke"  # inside: the failure
    assert spy.calls[0][FAILED_STEP] == "explode"
    assert result.parameters == {"error": "a user note", "failed_step": 0}  # outside: theirs


def test_a_handler_may_return_a_parameter_named_error_on_purpose() -> None:
    def summarise(error: str) -> str:
        return f"handled ({error})"

    step = PythonTask(
        function=explode, on_failure=PythonTask(function=summarise, returns=["error"])
    )
    result = Pipeline(steps=[step]).execute()
    assert result.parameters == {"error": "handled (ValueError: it broke)"}


def test_nested_on_failure_each_level_sees_its_own_failure() -> None:
    spy = Spy()

    def cleanup_fails(failed_step: str) -> None:
        raise RuntimeError(f"cleanup after {failed_step} failed")

    def after_rescue(failed_step: str, error: str) -> str:
        return f"outer still sees {failed_step}"

    inner_handler = spy.task(name="rescue", returns=["rescued"])
    outer_handler = Pipeline(
        steps=[
            PythonTask(function=cleanup_fails, name="cleanup", on_failure=inner_handler),
        ]
    )
    step = PythonTask(function=explode, name="work", on_failure=outer_handler)
    result = Pipeline(steps=[step]).execute({"x": 1})
    assert result.status == "success", result.error
    (call,) = spy.calls
    assert call[FAILED_STEP] == "cleanup"
    assert call[ERROR] == "RuntimeError: cleanup after work failed"
    assert result.parameters == {"x": 1, "rescued": "handled"}
    assert result.steps["work"].status == "fail"
    assert result.steps["work.on_failure/cleanup"].status == "fail"
    assert result.steps["work.on_failure/cleanup.on_failure/rescue"].status == "success"
    assert result.steps["work.on_failure"].status == "success"


def test_a_handler_that_fails_fails_the_run_with_its_error_chained() -> None:
    def handler_breaks() -> None:
        raise KeyError("no cleanup")

    step = PythonTask(function=explode, on_failure=PythonTask(function=handler_breaks))
    result = Pipeline(steps=[Stub(name="a", values={"a": 1}), step]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, KeyError)
    assert isinstance(result.error.__context__, ValueError)
    assert result.parameters == {"a": 1}  # after the last step that finished
    with pytest.raises(KeyError) as info:
        result.raise_for_status()
    assert info.value is result.error


def test_terminate_with_failure_in_a_handler_names_the_original_failure() -> None:
    step = PythonTask(
        function=explode,
        name="load",
        on_failure=Stub(name="give up", terminate_with_failure=True),
    )
    result = Pipeline(steps=[step]).execute()
    assert isinstance(result.error, TerminatedWithFailure)
    assert isinstance(result.error, WorkflowError)
    assert "'give up'" in str(result.error)
    notes = "\n".join(result.error.__notes__)
    assert "on_failure of step 'load'" in notes
    assert "ValueError: it broke" in notes


def test_terminate_with_failure_keeps_the_step_s_returns_and_skips_its_handler() -> None:
    spy = Spy()

    def last() -> int:
        return 7

    step = PythonTask(
        function=last, returns=["y"], terminate_with_failure=True, on_failure=spy.task()
    )
    result = Pipeline(steps=[Stub(name="a", values={"a": 1}), step]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, TerminatedWithFailure)
    assert "'last'" in str(result.error)
    assert result.parameters == {"a": 1, "y": 7}
    assert result.steps["last"].status == "success"  # the step itself worked
    assert spy.calls == []  # ending with failure on purpose is not a failure to handle


def test_terminate_with_success_ends_only_its_own_pipeline() -> None:
    def first(x: int) -> int:
        return x + 1

    branch = Pipeline(
        steps=[PythonTask(function=first, returns=["y"], terminate_with_success=True)]
    )
    item = Map(name="m", branch=branch, iterate_on="xs", iterate_as="x")
    result = Pipeline(steps=[item, Stub(name="after", values={"after": True})]).execute(
        {"xs": [1, 2]}
    )
    assert result.status == "success", result.error
    assert result.parameters == {"xs": [1, 2], "y": [2, 3], "after": True}


def test_terminate_with_failure_in_one_map_item_fails_the_map() -> None:
    def check(x: int) -> int:
        return x

    item = PythonTask(function=check, returns=["y"], terminate_with_failure=True)
    step = Map(name="m", branch=item, iterate_on="xs", iterate_as="x")
    result = Pipeline(steps=[step]).execute({"xs": [1]})
    assert isinstance(result.error, TerminatedWithFailure)
    assert any("item 0" in note for note in result.error.__notes__)
    assert result.steps["m"].status == "fail"


def test_retries_record_every_attempt_and_the_last_error() -> None:
    attempts: list[float] = []

    def always() -> None:
        attempts.append(time.perf_counter())
        raise ConnectionError(f"attempt {len(attempts)}")

    spy = Spy()
    task = PythonTask(function=always, max_attempts=4, on_failure=spy.task())
    result = Pipeline(steps=[task]).execute()
    assert result.status == "success"  # the handler recovered, after all four attempts
    assert len(attempts) == 4
    record = result.steps["always"]
    assert record.attempts == 4
    assert record.status == "fail"
    assert record.error == "ConnectionError: attempt 4"
    assert spy.calls[0][ERROR] == "ConnectionError: attempt 4"
    assert "attempts=4" in repr(result)


def test_a_retried_branch_lets_its_sibling_run_on() -> None:
    tries = {"n": 0}
    sibling_done = threading.Event()

    def flaky() -> str:
        tries["n"] += 1
        if tries["n"] < 3:
            raise TimeoutError("slow service")
        return "ok"

    def sibling() -> str:
        sibling_done.set()
        return "sibling"

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "f": PythonTask(function=flaky, returns=["f"], max_attempts=3),
                    "s": PythonTask(function=sibling, returns=["s"]),
                },
            )
        ]
    )
    result = pipeline.execute()
    assert result.status == "success", result.error
    assert sibling_done.is_set()
    assert result.parameters == {"f": "ok", "s": "sibling"}
    assert result.steps["p/f/flaky"].attempts == 3
    assert result.steps["p/s/sibling"].attempts == 1
    assert result.steps["p"].attempts == 1


def test_a_cancelled_branch_does_not_run_its_handler() -> None:
    spy = Spy()
    started = threading.Event()
    ended = threading.Event()

    def fail_after_start() -> None:
        if not started.wait(timeout=5):
            raise AssertionError("the patient branch never started")
        raise ValueError("sibling failed")

    def patient() -> None:
        started.set()
        try:
            chainlab.sleep(5)  # cooperative: raises Cancelled when the run is cancelled
        finally:
            ended.set()

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "bad": PythonTask(function=fail_after_start),
                    "slow": PythonTask(function=patient, on_failure=spy.task()),
                },
            )
        ]
    )
    result = pipeline.execute()
    assert ended.is_set()  # the 5 s sleep was cut short, before execute() returned
    assert result.status == "fail"
    assert isinstance(result.error, ValueError)
    assert spy.calls == []
    assert result.steps["p/slow/patient"].status == "cancelled"
    assert result.steps["p/bad/fail_after_start"].status == "fail"


def test_a_failed_run_keeps_the_parameters_of_the_last_finished_top_level_step() -> None:
    def inner_ok() -> int:
        return 1

    pipeline = Pipeline(
        steps=[
            Stub(name="one", values={"one": 1}),
            Parallel(
                name="p",
                branches={
                    "good": PythonTask(function=inner_ok, returns=["good"]),
                    "bad": PythonTask(function=explode),
                },
            ),
            Stub(name="three", values={"three": 3}),
        ]
    )
    result = pipeline.execute({"start": 0})
    assert result.status == "fail"
    assert result.parameters == {"start": 0, "one": 1}  # nothing from the failed Parallel
    assert not result.ok
    assert "three" not in result.steps


def test_a_missing_parameter_inside_a_branch_names_the_branch() -> None:
    def wants(nothing_here: int) -> int:
        return nothing_here

    pipeline = Pipeline(steps=[Parallel(name="p", branches={"needy": PythonTask(function=wants)})])
    result = pipeline.execute()
    assert isinstance(result.error, ParameterError)
    assert "'nothing_here'" in str(result.error)
    assert any("'needy'" in note for note in result.error.__notes__)
    assert result.steps["p/needy/wants"].error is not None
    assert result.steps["p/needy/wants"].error.startswith("ParameterError: ")


def test_on_failure_may_be_a_single_step_or_a_pipeline_but_nothing_else() -> None:
    step = PythonTask(function=explode, on_failure="not a step")  # type: ignore[arg-type]
    with pytest.raises(WorkflowError, match="on_failure of 'explode'"):
        Pipeline(steps=[step]).execute()
