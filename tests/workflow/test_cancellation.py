"""When a branch (or Map item) fails: siblings not started never start, running ones
are stopped (shell: killed; notebook: interrupted, kernel shut down; Python: through
chainlab.cancelled()), and the run waits for them, within the grace, before on_failure
runs or execute() returns, with every step in a final state."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

import chainlab
from chainlab.engine.tracing import Span, listen
from chainlab.workflow import (
    Map,
    NotebookTask,
    Parallel,
    Pipeline,
    PythonTask,
    ShellTask,
    WorkflowDefinitionError,
    WorkflowResult,
)

FINAL = {"success", "fail", "cancelled"}


def assert_final(result: WorkflowResult) -> None:
    assert result.steps
    for name, record in result.steps.items():
        assert record.status in FINAL, (name, record.status)
        assert record.end is not None, name


def fail_after(event: threading.Event | None = None, delay: float = 0.0) -> PythonTask:
    def boom() -> None:
        if event is not None and not event.wait(60):
            raise AssertionError("the sibling never started")
        time.sleep(delay)
        raise ValueError("boom")

    return PythonTask(function=boom)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kernels_of_this_process() -> list[str]:
    ps = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())], capture_output=True, text=True
    )
    return [line for line in ps.stdout.splitlines() if "ipykernel" in line]


def test_a_slow_python_sibling_is_waited_for_before_execute_returns() -> None:
    finished: list[float] = []

    def slow() -> int:
        time.sleep(1.0)  # does not look at chainlab.cancelled(): runs to its end
        finished.append(time.perf_counter())
        return 1

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={"slow": PythonTask(function=slow, returns=["s"]), "bad": fail_after()},
            )
        ]
    )
    result = pipeline.execute()
    assert result.status == "fail"
    assert finished, "execute() returned while the slow sibling still ran"
    assert_final(result)
    assert result.steps["p/slow/slow"].status == "success"  # it did finish
    assert result.steps["p/bad/boom"].status == "fail"


def test_a_cooperative_python_sibling_stops_and_is_cancelled() -> None:
    started = threading.Event()

    def patient() -> None:
        started.set()
        while True:
            chainlab.sleep(0.05)  # raises Cancelled once the run is cancelled

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={"slow": PythonTask(function=patient), "bad": fail_after(started)},
            )
        ]
    )
    t0 = time.perf_counter()
    result = pipeline.execute()
    assert time.perf_counter() - t0 < 8
    assert_final(result)
    assert result.steps["p/slow/patient"].status == "cancelled"
    assert result.steps["p/slow"].status == "cancelled"


def test_on_failure_of_a_parallel_runs_only_after_the_siblings_ended() -> None:
    sibling_done = threading.Event()
    seen: list[bool] = []

    def slow() -> None:
        time.sleep(1.0)
        sibling_done.set()

    def handler(failed_step: str) -> str:
        seen.append(sibling_done.is_set())
        return failed_step

    step = Parallel(
        name="p",
        branches={"slow": PythonTask(function=slow), "bad": fail_after()},
        on_failure=PythonTask(function=handler, returns=["handled"]),
    )
    result = Pipeline(steps=[step]).execute()
    assert result.status == "success", result.error
    assert result.parameters == {"handled": "p"}
    assert seen == [True], "the handler ran while a sibling branch still ran"
    assert_final(result)


def test_a_python_function_that_ignores_cancellation_is_abandoned_after_the_grace() -> None:
    release = threading.Event()

    def stubborn() -> None:
        release.wait(30)  # ignores the cancellation

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p", branches={"slow": PythonTask(function=stubborn), "bad": fail_after()}
            )
        ]
    )
    try:
        t0 = time.perf_counter()
        with pytest.warns(RuntimeWarning, match="abandoned after the 0.5 s grace"):
            result = pipeline.execute(cancel_grace=0.5)
        assert time.perf_counter() - t0 < 8
    finally:
        release.set()
    assert_final(result)
    record = result.steps["p/slow/stubborn"]
    assert record.status == "cancelled"
    assert str(record.error).startswith("Abandoned:")
    assert "cancelled" in result.timeline()
    with pytest.raises(WorkflowDefinitionError, match="cancel_grace"):
        pipeline.execute(cancel_grace=-1)


def test_a_failing_map_item_starts_no_queued_item_and_waits_for_running_ones() -> None:
    started: list[int] = []
    finished: list[int] = []
    lock = threading.Lock()

    second_started = threading.Event()

    def work(x: int) -> int:
        with lock:
            started.append(x)
        if x == 0:
            second_started.wait(5)  # fail only while item 1 runs, however busy the machine
            raise ValueError("bad item")
        if x == 1:
            second_started.set()
            deadline = time.monotonic() + 5
            while not chainlab.cancelled() and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.1)  # told to stop, goes on anyway (not cooperative): waited for
        with lock:
            finished.append(x)
        return x

    step = Map(
        name="m", branch=PythonTask(function=work, returns=["y"]), iterate_on="xs", iterate_as="x"
    )
    result = Pipeline(steps=[step]).execute({"xs": list(range(8))}, max_concurrency=2)
    assert result.status == "fail"
    assert sorted(started) == [0, 1]  # the six queued items never started
    assert finished == [1]  # the running one was waited for
    assert_final(result)
    assert result.steps["m/0/work"].status == "fail"
    assert result.steps["m/1/work"].status == "success"
    assert all(result.steps[f"m/{i}"].status == "cancelled" for i in range(2, 8))


def test_a_shell_sibling_that_ignores_sigterm_is_killed_and_waited_for(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = threading.Event()

    def wait_for_shell() -> None:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text().strip():
                started.set()
                return
            time.sleep(0.05)

    shell = ShellTask(name="sh", command=f"trap '' TERM; echo $$ > '{pid_file}'; sleep 60")
    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "shell": shell,
                    "bad": Pipeline(steps=[PythonTask(function=wait_for_shell), fail_after()]),
                },
            )
        ]
    )
    t0 = time.perf_counter()
    result = pipeline.execute()
    assert time.perf_counter() - t0 < 30
    assert started.is_set()
    assert not alive(int(pid_file.read_text()))  # gone before execute() returned
    assert_final(result)
    assert result.steps["p/shell/sh"].status == "cancelled"


def notebook(path: Path, *sources: str) -> Path:
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path
    )
    return path


@pytest.mark.notebook
@pytest.mark.timeout(180)
def test_a_notebook_sibling_is_interrupted_and_its_kernel_shut_down(tmp_path: Path) -> None:
    nb = notebook(
        tmp_path / "slow.ipynb",
        "import os, time\nopen('pid', 'w').write(str(os.getpid()))",
        "time.sleep(60)",
        "open('finished', 'w').write('yes')",
    )

    def fail_when_the_cell_runs() -> None:
        for _ in range(1200):  # the kernel may take a while to start on a busy machine
            if (tmp_path / "pid").exists() and (tmp_path / "pid").read_text():
                time.sleep(0.5)  # now in the time.sleep(60) cell
                raise ValueError("boom")
            time.sleep(0.05)
        raise AssertionError("the notebook never started")

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "nb": NotebookTask(notebook=nb, name="slow"),
                    "bad": PythonTask(function=fail_when_the_cell_runs),
                },
            )
        ]
    )
    t0 = time.perf_counter()
    result = pipeline.execute()
    assert time.perf_counter() - t0 < 50  # not the 60 s of the cell
    assert isinstance(result.error, ValueError)
    assert_final(result)
    assert result.steps["p/nb/slow"].status == "cancelled"
    assert not alive(int((tmp_path / "pid").read_text())), "the kernel still runs"
    time.sleep(1)
    assert not (tmp_path / "finished").exists()


@pytest.mark.notebook
@pytest.mark.timeout(180)
def test_a_notebook_whose_kernel_is_starting_runs_no_cell(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "quick.ipynb", "open('ran', 'w').write('yes')")
    notebook_started = threading.Event()

    class WhenTheNotebookStarts:
        def on_start(self, span: Span) -> None:
            if span.name == "quick":
                notebook_started.set()

        def on_end(self, span: Span) -> None:
            pass

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "nb": NotebookTask(notebook=nb),
                    "bad": fail_after(notebook_started, delay=0.3),
                },
            )
        ]
    )
    with listen(WhenTheNotebookStarts()):
        result = pipeline.execute()
    assert notebook_started.is_set()
    assert isinstance(result.error, ValueError)
    assert_final(result)
    assert result.steps["p/nb/quick"].status == "cancelled"
    assert kernels_of_this_process() == []
    time.sleep(2)  # a notebook left running would write its file by now
    assert not (tmp_path / "ran").exists()


def test_nested_failures_settle_every_level() -> None:
    ended: list[str] = []
    lock = threading.Lock()

    def slow(tag: str) -> Any:
        def run() -> None:
            time.sleep(0.5)
            with lock:
                ended.append(tag)

        run.__name__ = tag
        return PythonTask(function=run)

    inner = Parallel(name="inner", branches={"a": slow("inner_slow"), "bad": fail_after()})
    outer = Parallel(name="outer", branches={"x": inner.as_pipeline(), "y": slow("outer_slow")})
    result = Pipeline(steps=[outer]).execute()
    assert result.status == "fail"
    assert sorted(ended) == ["inner_slow", "outer_slow"]
    assert_final(result)
