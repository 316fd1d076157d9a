"""on_failure handlers and terminate_with_success / terminate_with_failure."""

from __future__ import annotations

from chainlab.workflow import (
    Parallel,
    Pipeline,
    PythonTask,
    Stub,
    TerminatedWithFailure,
)


def raise_ex():
    raise ValueError("broken input")


def test_on_failure_recovers_and_sees_the_failed_step_and_error():
    seen = {}

    def report(failed_step, error, x):
        seen.update(failed_step=failed_step, error=error, x=x)
        return "reported"

    step_1 = PythonTask(name="step 1", function=raise_ex)
    step_1.on_failure = Pipeline(  # assigned after construction, as in runnable
        steps=[PythonTask(function=report, returns=["note"], terminate_with_success=True)]
    )
    pipeline = Pipeline(steps=[step_1, Stub(name="step 2"), Stub(name="step 3")])
    result = pipeline.execute({"x": 1})
    assert result.status == "success"
    assert seen == {"failed_step": "step 1", "error": "ValueError: broken input", "x": 1}
    # the handler's returns flow out; failed_step / error stay inside the handler
    assert result.parameters == {"x": 1, "note": "reported"}
    assert result.steps["step 1"].status == "fail"
    assert result.steps["step 1.on_failure/report"].status == "success"
    assert "step 2" not in result.steps  # the handler replaces the rest of the pipeline


def test_on_failure_that_terminates_with_failure_fails_the_run():
    step_1 = PythonTask(name="step 1", function=raise_ex)
    step_1.on_failure = Stub(name="step 4", terminate_with_failure=True).as_pipeline()
    result = Pipeline(steps=[step_1, Stub(name="step 2")]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, TerminatedWithFailure)
    assert "step 4" in str(result.error)
    assert any("broken input" in note for note in result.error.__notes__)
    assert result.steps["step 1.on_failure/step 4"].status == "success"


def test_without_handler_the_run_fails_and_keeps_the_parameters_so_far():
    def first():
        return 1

    result = Pipeline(
        steps=[
            PythonTask(function=first, returns=["a"]),
            PythonTask(function=raise_ex),
            Stub(name="z"),
        ]
    ).execute()
    assert result.status == "fail"
    assert isinstance(result.error, ValueError)
    assert result.parameters == {"a": 1}
    assert set(result.steps) == {"first", "raise_ex"}


def test_terminate_with_success_and_failure_in_branches():
    ok_branch = Pipeline(steps=[Stub(name="done", values={"a": 1}, terminate_with_success=True)])
    result = Pipeline(steps=[Parallel(name="p", branches={"ok": ok_branch})]).execute()
    assert result.status == "success"
    assert result.parameters == {"a": 1}

    bad_branch = Pipeline(steps=[Stub(name="stop", terminate_with_failure=True)])
    result = Pipeline(
        steps=[Parallel(name="p", branches={"ok": ok_branch, "bad": bad_branch})]
    ).execute()
    assert result.status == "fail"
    assert isinstance(result.error, TerminatedWithFailure)


def test_on_failure_of_a_parallel_step_handles_a_failing_branch():
    handler = Pipeline(steps=[Stub(name="cleanup", values={"cleaned": True})])
    parallel = Parallel(
        name="p",
        branches={"bad": PythonTask(function=raise_ex), "ok": Stub(name="fine")},
        on_failure=handler,
    )
    result = Pipeline(steps=[parallel, Stub(name="next")]).execute()
    assert result.status == "success"
    assert result.parameters == {"cleaned": True}
    assert result.steps["p"].status == "fail"
    assert result.steps["p.on_failure/cleanup"].status == "success"


def test_a_failing_handler_fails_the_run_with_its_own_error():
    def handler_breaks(failed_step):
        raise RuntimeError(f"could not clean up after {failed_step}")

    step = PythonTask(name="s", function=raise_ex, on_failure=PythonTask(function=handler_breaks))
    result = Pipeline(steps=[step]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, RuntimeError)
    assert "after s" in str(result.error)
    assert isinstance(result.error.__context__, ValueError)


def test_a_handler_inside_one_branch_lets_the_other_branches_finish():
    def fallback_value(failed_step):
        return f"default after {failed_step}"

    def fine():
        return "ok"

    risky = PythonTask(
        name="risky",
        function=raise_ex,
        on_failure=PythonTask(function=fallback_value, returns=["a"]),
    )
    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "a": Pipeline(steps=[risky]),
                    "b": Pipeline(steps=[PythonTask(function=fine, returns=["b"])]),
                },
            )
        ]
    )
    result = pipeline.execute()
    assert result.status == "success", result.error
    assert result.parameters == {"a": "default after risky", "b": "ok"}
    assert result.steps["p/a/risky"].status == "fail"
    assert result.steps["p/a"].status == "success"
