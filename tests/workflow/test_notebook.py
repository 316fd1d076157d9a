"""NotebookTask: a real kernel, parameters injected after the `parameters` cell."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from chainlab.workflow import NotebookTask, Pipeline, PythonTask, ReturnsError

NOTEBOOK = Path(__file__).parent / "data" / "scale.ipynb"

pytestmark = [pytest.mark.notebook, pytest.mark.timeout(120)]


def test_notebook_gets_parameters_and_returns_values(tmp_path):
    def prepare():
        return 4

    def after(y):
        return y + 1

    hostile = 'it\'s "quoted"; $(touch pwned) \\n'
    pipeline = Pipeline(
        steps=[
            PythonTask(function=prepare, returns=["x"]),
            NotebookTask(notebook=NOTEBOOK, name="scale", returns=["y"]),
            PythonTask(function=after, returns=["z"]),
        ]
    )
    result = pipeline.execute({"label": hostile}, run_dir=tmp_path, run_id="nb-run")
    assert result.status == "success", result.error
    assert result.parameters == {"label": hostile, "x": 4, "y": 40, "z": 41}
    assert result.steps["scale"].output == f"{hostile}: 40\n"

    saved = list((tmp_path / "nb-run").glob("*.ipynb"))
    assert len(saved) == 1
    nb = nbformat.read(saved[0], as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags[1] == ["parameters"]
    assert tags[2] == ["injected-parameters"]
    assert "x = 4" in nb.cells[2].source
    assert tags[-1] == ["chainlab-returns"]
    assert not (NOTEBOOK.parent / "pwned").exists()


def test_a_missing_return_is_reported():
    task = NotebookTask(notebook=NOTEBOOK, returns=["y", "undefined_name"])
    result = Pipeline(steps=[task]).execute({"x": 1})
    assert result.status == "fail"
    assert isinstance(result.error, ReturnsError)
    assert "undefined_name" in str(result.error)
    assert result.steps["scale"].status == "fail"


def test_notebook_tasks_run_on_the_virtual_clock(virtual):
    """A kernel's start is real I/O the clock cannot see: the task's watch for
    cancellation must not be a clock sleep the clock jumps over (it was: the kernel's
    start was cancelled, CancelledError in every NotebookTask under CHAINLAB_CLOCK)."""
    from chainlab.workflow import Parallel

    def branch():
        return NotebookTask(notebook=NOTEBOOK, name="scale").as_pipeline()

    both = Pipeline(steps=[Parallel(name="both", branches={"a": branch(), "b": branch()})])
    result = both.execute({"x": 2})
    assert result.status == "success", result.error
    assert [result.steps[f"both/{b}/scale"].status for b in "ab"] == ["success", "success"]


def test_parallel_notebook_tasks_after_one_in_this_thread():
    """jupyter_core's run_sync keeps its loop in a context variable: after a
    NotebookTask in this thread, two branches (each in a copy of this context) shared
    that loop, "This event loop is already running". Each task now has a loop of its own."""
    from chainlab.workflow import Parallel

    assert Pipeline(steps=[NotebookTask(notebook=NOTEBOOK)]).execute().status == "success"
    branches = {b: NotebookTask(notebook=NOTEBOOK, name="scale").as_pipeline() for b in "ab"}
    result = Pipeline(steps=[Parallel(name="both", branches=branches)]).execute({"x": 3})
    assert result.status == "success", result.error
