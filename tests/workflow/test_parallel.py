"""Parallel and nesting: branches really overlap, inherit parameters, never clash."""

from __future__ import annotations

import time

import pytest

import chainlab
from chainlab.workflow import Map, Parallel, ParameterConflict, Pipeline, PythonTask, Stub


def sleep_1s():
    time.sleep(1.0)


def test_two_one_second_branches_finish_in_about_one_second():
    branches = {
        "a": Pipeline(steps=[PythonTask(function=sleep_1s, name="sleep")]),
        "b": Pipeline(steps=[PythonTask(function=sleep_1s, name="sleep")]),
    }
    pipeline = Pipeline(steps=[Parallel(name="both", branches=branches), Stub(name="after")])
    started = time.perf_counter()
    result = pipeline.execute()
    wall = time.perf_counter() - started
    assert result.status == "success"
    assert wall < 1.8, f"two 1 s branches took {wall:.2f} s: they did not overlap"
    a, b = result.steps["both/a/sleep"], result.steps["both/b/sleep"]
    assert a.end is not None
    assert b.end is not None
    assert a.start < b.end
    assert b.start < a.end
    assert a.lane != b.lane  # on different threads
    both = result.steps["both"]
    assert both.kind == "parallel"
    assert both.status == "success"
    assert both.duration is not None
    assert 0.9 < both.duration < 1.8
    assert result.steps["after"].start >= both.end


def test_two_one_second_branches_take_exactly_one_second_on_the_virtual_clock(virtual):
    def nap():
        chainlab.sleep(1.0)

    branches = {k: Pipeline(steps=[PythonTask(function=nap, name="nap")]) for k in "ab"}
    pipeline = Pipeline(steps=[Parallel(name="both", branches=branches), Stub(name="after")])
    with chainlab.stopwatch() as wall:
        result = pipeline.execute()
    assert result.status == "success"
    assert wall.seconds == 1.0  # one after the other would be 2.0
    a, b = result.steps["both/a/nap"], result.steps["both/b/nap"]
    assert a.start == b.start
    assert a.end == b.end
    assert a.lane != b.lane
    assert result.steps["both"].duration == pytest.approx(1.0, abs=1e-9)
    assert result.steps["after"].start >= result.steps["both"].end


def leaf(depth_tag):
    def work(item, **_):
        chainlab.sleep(0.2)
        return f"{depth_tag}:{item}"

    work.__name__ = f"work_{depth_tag}"
    return PythonTask(function=work, name="work", returns=[f"out_{depth_tag}"])


def test_parallel_in_parallel_in_map_runs_every_leaf_at_once(virtual):
    def inner(prefix):
        return Parallel(
            name="inner",
            branches={"l": leaf(prefix + "l").as_pipeline(), "r": leaf(prefix + "r").as_pipeline()},
        )

    item_branch = Pipeline(
        steps=[
            Parallel(
                name="outer",
                branches={"x": inner("x").as_pipeline(), "y": inner("y").as_pipeline()},
            )
        ]
    )
    pipeline = Pipeline(
        steps=[Map(name="each", branch=item_branch, iterate_on="items", iterate_as="item")]
    )
    with chainlab.stopwatch() as wall:
        result = pipeline.execute({"items": [1, 2]})
    assert result.status == "success", result.error
    # 8 leaves x 0.2 s: one after another would take 1.6 s
    assert wall.seconds == pytest.approx(0.2, abs=1e-9)
    leaves = [r for r in result.steps.values() if r.name.endswith("/work")]
    assert len(leaves) == 8
    assert len({r.start for r in leaves}) == 1  # all eight start at one instant
    assert [r.end - r.start for r in leaves] == [pytest.approx(0.2, abs=1e-9)] * 8
    assert result.parameters["out_xl"] == ["xl:1", "xl:2"]
    assert result.parameters["out_yr"] == ["yr:1", "yr:2"]
    assert "item" not in result.parameters  # the loop variable stays inside the map
    assert result.steps["each"].kind == "map"
    assert result.steps["each/1/outer/y/inner/r/work"].status == "success"


def test_branches_inherit_the_parents_parameters():
    def read(config, seed):
        return f"{config}-{seed}"

    def make_seed():
        return 7

    branch = lambda tag: Pipeline(  # noqa: E731
        steps=[PythonTask(function=read, name="read", returns=[f"from_{tag}"])]
    )
    pipeline = Pipeline(
        steps=[
            PythonTask(function=make_seed, returns=["seed"]),
            Parallel(name="p", branches={"a": branch("a"), "b": branch("b")}),
        ]
    )
    result = pipeline.execute({"config": "cfg"})
    assert result.parameters == {"config": "cfg", "seed": 7, "from_a": "cfg-7", "from_b": "cfg-7"}


def test_two_branches_returning_one_name_is_an_error_naming_both():
    def one():
        return 1

    ran = []

    def spy():
        ran.append(1)

    pipeline = Pipeline(
        steps=[
            PythonTask(function=spy),
            Parallel(
                name="clash",
                branches={
                    "left": Pipeline(steps=[PythonTask(function=one, returns=["value"])]),
                    "right": Pipeline(steps=[Stub(name="s", values={"value": 2})]),
                },
            ),
        ]
    )
    with pytest.raises(ParameterConflict) as info:
        pipeline.execute()
    message = str(info.value)
    assert "'left'" in message
    assert "'right'" in message
    assert "'value'" in message
    assert "'clash'" in message
    assert ran == []  # found before anything ran


def test_a_conflict_hidden_in_a_nested_branch_is_found_too():
    deep = Parallel(name="deep", branches={"q": Stub(name="s", values={"v": 1})})
    with pytest.raises(ParameterConflict, match="'a' and 'b'"):
        Pipeline(
            steps=[Parallel(name="top", branches={"a": deep, "b": Stub(name="t", values={"v": 2})})]
        ).execute()


def test_a_failing_branch_fails_the_parallel_at_once_and_cancels_its_sibling(virtual):
    def boom():
        chainlab.sleep(0.05)
        raise ValueError("boom")

    def patient():
        chainlab.sleep(6.0)  # a cooperative sleep: wakes up when the run is cancelled

    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={"bad": PythonTask(function=boom), "slow": PythonTask(function=patient)},
            ),
            Stub(name="never"),
        ]
    )
    with chainlab.stopwatch() as wall:
        result = pipeline.execute()
    assert wall.seconds == pytest.approx(0.05, abs=1e-9)  # at the failure, not the 6 s
    assert result.status == "fail"
    assert isinstance(result.error, ValueError)
    assert result.steps["p"].status == "fail"
    assert result.steps["p/bad/boom"].status == "fail"
    assert result.steps["p/slow/patient"].status == "cancelled"  # ended before execute() returned
    assert "never" not in result.steps
    assert any("'bad'" in note for note in getattr(result.error, "__notes__", []))


def test_max_concurrency_limits_tasks_over_the_whole_run(virtual):
    def nap():
        chainlab.sleep(0.2)

    branches = {k: PythonTask(function=nap).as_pipeline() for k in ("a", "b", "c")}
    pipeline = Pipeline(steps=[Parallel(name="p", branches=branches)])
    limited = pipeline.execute(max_concurrency=1)
    free = pipeline.execute()
    assert limited.status == free.status == "success"
    assert limited.duration == pytest.approx(0.6, abs=1e-9)  # three 0.2 s naps, one at a time
    assert free.duration == pytest.approx(0.2, abs=1e-9)


def test_the_graph_shows_the_branches_and_task_names():
    inner = Pipeline(steps=[Stub(name="prepare"), PythonTask(function=sleep_1s, name="train")])
    pipeline = Pipeline(
        steps=[
            Parallel(name="models", branches={"small": inner, "large": inner}),
            Stub(name="pick"),
        ]
    )
    text = pipeline.get_graph().draw_ascii()
    for word in ("models", "small", "large", "prepare", "train", "pick"):
        assert word in text
