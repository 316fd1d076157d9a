"""execute() and what it returns: step records for every node kind, the text timeline,
repr, raise_for_status, running twice (also at the same time), max_concurrency, the
pipeline as a runnable and as a graph, and live=True without a notebook display."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import FrozenInstanceError
from datetime import datetime
from typing import Any

import pytest

from chainlab import RunnableLambda
from chainlab.workflow import (
    Map,
    Parallel,
    ParameterError,
    Pipeline,
    PythonTask,
    StepRecord,
    Stub,
    WorkflowResult,
)


def nap(seconds: float) -> Any:
    def sleep() -> None:
        time.sleep(seconds)

    sleep.__name__ = f"nap{int(seconds * 1000)}"
    return sleep


def explode() -> None:
    raise ValueError("nope")


def nested() -> Pipeline:
    def item(x: int) -> int:
        time.sleep(0.02)
        return x + 1

    return Pipeline(
        steps=[
            Stub(name="prepare", values={"xs": [1, 2, 3]}),
            Parallel(
                name="fan",
                branches={
                    "left": PythonTask(function=nap(0.05), name="slow"),
                    "right": Map(
                        name="each",
                        branch=PythonTask(function=item, returns=["y"]),
                        iterate_on="xs",
                        iterate_as="x",
                    ),
                },
            ),
            Stub(name="finish"),
        ],
        name="demo",
    )


def test_every_node_gets_a_record_in_tree_order_with_consistent_times() -> None:
    result = nested().execute()
    assert result.status == "success", result.error
    assert result.parameters["y"] == [2, 3, 4]
    names = list(result.steps)
    assert names[0] == "prepare"
    assert names[-1] == "finish"
    expected = {
        "prepare": "task",
        "fan": "parallel",
        "fan/left": "pipeline",
        "fan/left/slow": "task",
        "fan/right": "pipeline",
        "fan/right/each": "map",
        "fan/right/each/0": "pipeline",
        "fan/right/each/0/item": "task",
        "fan/right/each/2/item": "task",
        "finish": "task",
    }
    for name, kind in expected.items():
        assert result.steps[name].kind == kind, name
    items = {f"fan/right/each/{i}{task}" for i in range(3) for task in ("", "/item")}
    assert set(result.steps) == set(expected) | items
    for name, record in result.steps.items():
        assert record.status == "success", name
        assert record.attempts == 1
        assert record.end is not None
        assert record.duration is not None
        assert 0 <= record.start <= record.end <= result.duration + 1e-6, name
        assert record.error is None
        assert record.lane
        parent = name.rsplit("/", 1)[0] if "/" in name else None
        if parent is not None:  # a child runs inside its parent's time
            assert result.steps[parent].start <= record.start
            assert record.end <= (result.steps[parent].end or 0) + 1e-6
        assert names.index(name) > (names.index(parent) if parent else -1)  # after its parent
    fan = result.steps["fan"]
    assert fan.duration is not None
    assert fan.duration >= 0.05  # at least its slowest branch
    assert result.steps["finish"].start >= (fan.end or 0)


def test_records_are_frozen_and_results_compare_by_value() -> None:
    record = StepRecord("a", "task", "success", 1, 0.0, 1.0, "MainThread")
    with pytest.raises(FrozenInstanceError):
        record.status = "fail"  # type: ignore[misc]
    assert record.duration == 1.0
    assert StepRecord("a", "task", "running", 1, 0.5, None, "t").duration is None


def test_a_failed_run_s_records_say_where_it_failed() -> None:
    pipeline = Pipeline(
        steps=[
            Stub(name="ok"),
            Parallel(
                name="p",
                branches={"bad": PythonTask(function=explode), "fine": Stub(name="fine")},
            ),
            Stub(name="never"),
        ]
    )
    result = pipeline.execute()
    assert result.status == "fail"
    assert not result.ok
    assert result.steps["ok"].status == "success"
    assert result.steps["p"].status == "fail"
    assert result.steps["p/bad"].status == "fail"
    assert result.steps["p/bad/explode"].error == "ValueError: nope"
    assert result.steps["p"].error is not None
    assert result.steps["p"].error.startswith("ValueError: nope")
    assert "never" not in result.steps
    text = repr(result)
    assert "status='fail'" in text
    assert "error: ValueError: nope" in text
    with pytest.raises(ValueError, match="nope"):
        result.raise_for_status()


def test_raise_for_status_returns_the_result_when_it_succeeded() -> None:
    result = Pipeline(steps=[Stub(name="s")]).execute()
    assert result.raise_for_status() is result
    assert result.ok


def test_the_timeline_draws_one_bar_per_node_in_time_order() -> None:
    pipeline = Pipeline(
        steps=[
            PythonTask(function=nap(0.1), name="first"),
            Parallel(
                name="both",
                branches={
                    "a": PythonTask(function=nap(0.1), name="inner_a"),
                    "b": PythonTask(function=nap(0.1), name="inner_b"),
                },
            ),
        ]
    )
    result = pipeline.execute()
    width = 30
    lines = result.timeline(width=width).splitlines()
    header, rows = lines[0], lines[1:]
    assert header.startswith("node")
    assert f"{result.duration:5.2f}s" in header
    assert len(rows) == len(result.steps)
    labels = [row.split("|")[0].rstrip() for row in rows]
    assert labels == ["first", "both", "  a", "    inner_a", "  b", "    inner_b"]
    bars = {label.strip(): row.split("|")[1] for label, row in zip(labels, rows, strict=True)}
    assert all(len(bar) == width for bar in bars.values())
    assert all(set(bar) <= {" ", "█"} and "█" in bar for bar in bars.values())
    first, both = bars["first"], bars["both"]
    # `first` starts the run, `both` starts where it ended and ends the run
    assert first.index("█") == 0
    assert first.rindex("█") < width - 1
    assert both.index("█") >= first.rindex("█")  # (one cell of rounding)
    assert both.endswith("█")
    for inner in ("inner_a", "inner_b"):  # inside their Parallel's bar
        assert bars[inner].index("█") >= both.index("█")
    for row, record in zip(rows, result.steps.values(), strict=True):
        assert row.rstrip().endswith(record.status)
        assert f"{record.start:6.3f}" in row


def test_the_timeline_of_a_run_that_did_nothing_still_renders() -> None:
    result = WorkflowResult(run_id="empty", status="success", parameters={})
    assert result.timeline().splitlines()[0].startswith("node")
    assert "run_id='empty'" in repr(result)
    running = StepRecord("x", "task", "running", 1, 0.0, None, "t")
    partial = WorkflowResult(run_id="r", status="fail", parameters={}, steps={"x": running})
    assert "     …" in partial.timeline()
    assert "→ …" in repr(partial)


def test_repr_shortens_big_parameters_and_lists_steps_with_attempts() -> None:
    tries = {"n": 0}

    def flaky() -> int:
        tries["n"] += 1
        if tries["n"] == 1:
            raise OSError("once")
        return 1

    result = Pipeline(
        steps=[PythonTask(function=flaky, returns=["v"], max_attempts=2)],
        name="p",
    ).execute({"big": list(range(1000)), "text": "x" * 500}, run_id="repr-run")
    text = repr(result)
    lines = text.splitlines()
    assert lines[0].startswith("WorkflowResult(run_id='repr-run', status='success'")
    assert len(lines[1]) < 300  # the parameters line is shortened
    assert "..." in lines[1]
    assert "steps:" in text
    assert "attempts=2" in text
    assert "flaky" in lines[-1]


def test_run_ids_are_unique_and_sortable_and_times_are_stamped() -> None:
    pipeline = Pipeline(steps=[Stub(name="s")])
    before = datetime.now()
    ids = [pipeline.execute().run_id for _ in range(5)]
    assert len(set(ids)) == 5
    assert all(len(run_id.split("-")) == 3 for run_id in ids)
    assert ids[0][:15] <= ids[-1][:15]  # the date-time part sorts
    assert pipeline.last_result is not None
    assert pipeline.last_result.started_at >= before.replace(microsecond=0)
    assert pipeline.last_result.run_id == ids[-1]


def test_the_same_pipeline_executes_twice_at_the_same_time_independently() -> None:
    barrier = threading.Barrier(2, timeout=5)  # both runs are inside the task at once

    def meet(tag: str) -> str:
        barrier.wait()
        return tag * 2

    pipeline = Pipeline(steps=[PythonTask(function=meet, returns=["out"])])
    results: dict[str, WorkflowResult] = {}

    def run(tag: str) -> None:
        results[tag] = pipeline.execute({"tag": tag})

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results["a"].parameters == {"tag": "a", "out": "aa"}
    assert results["b"].parameters == {"tag": "b", "out": "bb"}
    assert results["a"].run_id != results["b"].run_id
    assert list(results["a"].steps) == list(results["b"].steps) == ["meet"]


def test_changing_a_step_between_two_executions_takes_effect() -> None:
    pipeline = Pipeline(steps=[Stub(name="s", values={"v": 1})])
    assert pipeline.execute().parameters == {"v": 1}
    pipeline.steps[0] = Stub(name="s", values={"v": 2})
    assert pipeline.execute().parameters == {"v": 2}


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_max_concurrency_bounds_tasks_over_the_whole_run(limit: int) -> None:
    lock = threading.Lock()
    active = {"now": 0, "max": 0}
    barrier = threading.Barrier(limit, timeout=5)  # the limit is reached, too

    def work(x: int) -> int:
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        try:
            barrier.wait()
            time.sleep(0.01)
        finally:
            with lock:
                active["now"] -= 1
        return x

    inner = Map(
        name="items",
        branch=PythonTask(function=work, returns=["y"]),
        iterate_on="xs",
        iterate_as="x",
    )
    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={"m": inner, "n": PythonTask(function=work, name="solo", returns=["z"])},
            )
        ]
    )
    n = 3 * limit - 1  # plus the solo task: a multiple of the limit, so no one waits alone
    result = pipeline.execute({"xs": list(range(n)), "x": -1}, max_concurrency=limit)
    assert result.status == "success", result.error
    assert active["max"] == limit
    assert result.parameters["y"] == list(range(n))


def test_the_pipeline_as_a_runnable_composes_batches_and_runs_async() -> None:
    def double(x: int) -> int:
        return 2 * x

    async def add_async(y: int) -> int:
        await asyncio.sleep(0.01)
        return y + 1

    pipeline = Pipeline(
        steps=[
            PythonTask(function=double, returns=["y"]),
            PythonTask(function=add_async, returns=["z"]),
        ],
        name="calc",
    )
    runnable = pipeline.to_runnable()
    assert runnable.get_name() == "calc"
    chain = runnable | RunnableLambda(lambda p: p["z"])
    assert chain.invoke({"x": 3}) == 7
    assert chain.batch([{"x": 1}, {"x": 2}]) == [3, 5]
    assert asyncio.run(chain.ainvoke({"x": 10})) == 21
    with pytest.raises(ParameterError):  # outside execute(), errors raise as in any chain
        runnable.invoke({})


def test_get_graph_draws_parallel_and_map_but_not_handlers() -> None:
    pipeline = nested()
    pipeline.steps[0].on_failure = Stub(name="handler_not_drawn")
    graph = pipeline.get_graph()
    text = graph.draw_ascii()
    for word in ("prepare", "fan", "left", "right", "slow", "each", "item", "finish"):
        assert word in text, word
    assert "handler_not_drawn" not in text
    kinds = {node.kind for node in graph.nodes.values()}
    assert {"parallel", "map", "join", "input", "output"} <= kinds
    assert "each item" in {edge.label for edge in graph.edges}


def test_live_without_a_notebook_runs_once_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[int] = []

    def count(x: int) -> int:
        calls.append(x)
        return x + 1

    pipeline = Pipeline(steps=[PythonTask(function=count, returns=["y"])])
    result = pipeline.execute({"x": 1}, live=True)
    assert calls == [1]  # shown live and run exactly once
    assert result.status == "success"
    assert result.parameters == {"x": 1, "y": 2}
    assert result.steps["count"].status == "success"

    failing = Pipeline(
        steps=[Stub(name="a", values={"a": 1}), PythonTask(function=explode), Stub(name="z")]
    )
    result = failing.execute(live=True)  # a failure is returned, not raised
    assert result.status == "fail"
    assert isinstance(result.error, ValueError)
    assert result.parameters == {"a": 1}
    assert result.steps["explode"].status == "fail"
    assert "Traceback" not in capsys.readouterr().err


def test_live_outside_jupyter_prints_the_graph_progress_and_a_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def work(x: int) -> int:
        return x + 1

    fan = Parallel(
        name="fan",
        branches={
            "a": PythonTask(function=work, returns=["y"]),
            "b": Stub(name="idle", values={"z": 0}),
        },
    )
    result = Pipeline(steps=[fan, Stub(name="after")]).execute({"x": 1}, live=True)
    assert result.parameters == {"x": 1, "y": 2, "z": 0}
    out = capsys.readouterr().out
    graph, _, rest = out.partition("  ✓ fan/a/work  ")
    assert "fan  (fork)" in graph  # the ASCII graph, before the run
    assert "└─ b ─▶ idle" in graph
    assert f"success in {result.duration:.2f} s (run {result.run_id})" in rest
    for name, record in result.steps.items():
        assert f"  {name}  " in rest
        assert f"{record.duration:8.3f} s" in rest
    assert "  fan/a/work  task      success" in rest
    assert rest.rstrip().endswith(result.timeline())

    failing = Pipeline(steps=[Stub(name="a"), PythonTask(function=explode)])
    result = failing.execute(live=True)
    out = capsys.readouterr().out
    assert "  ✗ explode  " in out
    assert "fail in " in out
    assert "error: ValueError: " in out
    assert "  explode  task      fail" in out


def test_live_in_a_kernel_runs_in_the_dashboard_and_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import chainlab.widgets

    shown: list[Any] = []

    class Board:
        def __init__(self, runnable: Any, params: Any, config: Any) -> None:
            self.error = None
            self.result = runnable.invoke(params, config)

    def fake_show(runnable: Any, params: Any, **kwargs: Any) -> Board:
        shown.append(runnable)
        return Board(runnable, params, kwargs["config"])

    monkeypatch.setattr(chainlab.widgets, "show", fake_show)
    monkeypatch.setattr("chainlab.workflow.live.in_kernel", lambda: True)
    result = Pipeline(steps=[Stub(name="s", values={"v": 1})]).execute(live=True)
    assert len(shown) == 1
    assert result.parameters == {"v": 1}
    assert result.steps["s"].status == "success"
    assert capsys.readouterr().out == ""


def test_live_degrades_when_the_dashboard_cannot_be_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import chainlab.widgets

    def broken_show(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no display here")

    monkeypatch.setattr(chainlab.widgets, "show", broken_show)
    monkeypatch.setattr("chainlab.workflow.live.in_kernel", lambda: True)
    pipeline = Pipeline(steps=[Stub(name="s", values={"v": 1})])
    with pytest.warns(RuntimeWarning, match="could not be shown"):
        result = pipeline.execute(live=True)
    assert result.status == "success"
    assert result.parameters == {"v": 1}
    assert result.steps["s"].status == "success"
