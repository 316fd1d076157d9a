"""Map: one branch per item, all at once, then a reducer per returned name."""

from __future__ import annotations

import statistics
import time

import pytest

from chainlab.workflow import Map, ParameterError, Pipeline, PythonTask, WorkflowDefinitionError


def process_chunk(chunk):
    time.sleep(0.1)
    return chunk * 10


def branch():
    return Pipeline(
        steps=[PythonTask(function=process_chunk, name="process", returns=["processed"])]
    )


def run(reducer=None, chunks=(1, 2, 3)):
    map_step = Map(
        name="map state", branch=branch(), iterate_on="chunks", iterate_as="chunk", reducer=reducer
    )
    return Pipeline(steps=[map_step]).execute({"chunks": list(chunks)})


def test_default_reducer_collects_a_list_in_item_order():
    result = run()
    assert result.status == "success"
    assert result.parameters == {"chunks": [1, 2, 3], "processed": [10, 20, 30]}
    items = [result.steps[f"map state/{i}/process"] for i in range(3)]
    assert max(r.start for r in items) < min(r.end for r in items if r.end is not None)
    assert result.steps["map state"].kind == "map"
    assert result.steps["map state/0"].kind == "pipeline"


@pytest.mark.parametrize(
    ("reducer", "expected"),
    [
        (max, 30),
        (sum, 60),
        (statistics.mean, 20),
        (lambda values: sorted(values, reverse=True), [30, 20, 10]),
        (lambda *x: max(x), 30),  # runnable's style: the values spread out
        ("lambda *x: max(x)", 30),  # runnable's string form works too
    ],
)
def test_callable_reducers(reducer, expected):
    assert run(reducer).parameters["processed"] == expected


def test_a_failing_reducer_names_the_map_and_the_parameter():
    result = run(lambda values: 1 / 0)
    assert result.status == "fail"
    assert isinstance(result.error, ZeroDivisionError)
    assert any("'map state'" in n and "'processed'" in n for n in result.error.__notes__)


def test_bad_reducer_or_iterate_on_is_reported():
    with pytest.raises(WorkflowDefinitionError, match="reducer"):
        Map(name="m", branch=branch(), iterate_on="xs", iterate_as="x", reducer="lambda *x:")
    result = Pipeline(
        steps=[Map(name="m", branch=branch(), iterate_on="missing", iterate_as="chunk")]
    ).execute({"chunks": [1]})
    assert isinstance(result.error, ParameterError)
    assert "'missing'" in str(result.error)
    result = Pipeline(
        steps=[Map(name="m", branch=branch(), iterate_on="chunks", iterate_as="chunk")]
    ).execute({"chunks": "abc"})
    assert isinstance(result.error, ParameterError)


def test_an_empty_list_gives_an_empty_collection():
    assert run(chunks=()).parameters["processed"] == []


def test_a_failing_item_fails_the_map_naming_the_item():
    def picky(chunk):
        if chunk == 2:
            raise ValueError("no twos")
        return chunk

    body = Pipeline(steps=[PythonTask(function=picky, returns=["kept"])])
    result = Pipeline(
        steps=[Map(name="m", branch=body, iterate_on="chunks", iterate_as="chunk")]
    ).execute({"chunks": [1, 2, 3]})
    assert result.status == "fail"
    assert result.steps["m/1/picky"].status == "fail"
    assert any("item 1" in note for note in result.error.__notes__)


def test_a_dict_of_reducers_reduces_only_the_names_it_lists():
    def both(chunk):
        return chunk, f"c{chunk}"

    body = Pipeline(steps=[PythonTask(function=both, returns=["n", "label"])])
    step = Map(name="m", branch=body, iterate_on="xs", iterate_as="chunk", reducer={"n": sum})
    result = Pipeline(steps=[step]).execute({"xs": [1, 2, 3]})
    assert result.parameters == {"xs": [1, 2, 3], "n": 6, "label": ["c1", "c2", "c3"]}

    typo = Map(name="m", branch=body, iterate_on="xs", iterate_as="chunk", reducer={"nn": sum})
    with pytest.raises(WorkflowDefinitionError, match="'nn'"):
        Pipeline(steps=[typo]).execute({"xs": [1]})
