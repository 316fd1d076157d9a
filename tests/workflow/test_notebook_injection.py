"""NotebookTask: where the parameters cell goes, how values are written, how returns
are read back (pure functions, no kernel), then two runs in a real kernel."""

from __future__ import annotations

import base64
import datetime as dt
import pickle
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import nbformat
import pytest

from chainlab.workflow import NotebookTask, NotebookTaskError, Pipeline, ReturnsError
from chainlab.workflow.notebook import (
    INJECTED_TAG,
    RETURNS_MIME,
    RETURNS_TAG,
    literal,
    parameters_source,
    prepare,
    read_returns,
    save_path,
)


def notebook(*cells: tuple[str, list[str]], minor: int = 5) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    nb.nbformat_minor = minor
    if minor < 5:
        for cell in nb.cells:
            cell.pop("id", None)
    return nb


def tags(nb: Any) -> list[list[str]]:
    return [list(c.metadata.get("tags", [])) for c in nb.cells]


class Point:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize(
    "value",
    [
        3,
        -1.5,
        'it\'s "quoted"; $(rm -rf ~) `x`\n\\',
        [1, (2, "3"), {"k": {4}}],
        None,
        True,
        b"\x00bytes",
        float("inf"),
        dt.date(2024, 1, 2),
        Decimal("1.10"),
        Fraction(1, 3),
        Point(5),
    ],
)
def test_literal_rebuilds_every_value_exactly(value: Any) -> None:
    source = literal(value)
    assert source is not None
    rebuilt = eval(source, {"__builtins__": __builtins__})
    assert rebuilt == value
    assert type(rebuilt) is type(value)


class Tag(str):
    """repr() looks like a str literal, but the type would be lost."""


def test_values_that_only_look_like_literals_travel_pickled() -> None:
    source = literal(Tag("x"))
    assert source is not None
    assert "pickle" in source
    rebuilt = eval(source, {"__builtins__": __builtins__})
    assert type(rebuilt) is Tag
    assert rebuilt == "x"
    assert literal(lambda: 1) is None  # cannot be pickled: left out


def test_parameters_source_skips_what_cannot_be_a_variable() -> None:
    source = parameters_source(
        {"x": 1, "class": 2, "with-dash": 3, "lambda": 4, "fn": lambda: 0, "ok": "a\nb"}
    )
    lines = source.splitlines()
    assert lines[0].startswith("#")
    assert "x = 1" in lines
    assert "ok = 'a\\nb'" in lines
    assert "# class: not injected (a Python keyword cannot be a variable)" in lines
    assert "# lambda: not injected (a Python keyword cannot be a variable)" in lines
    assert "# fn: not injected (function cannot be pickled)" in lines
    assert not any("with-dash" in line for line in lines)
    compile(source, "<injected>", "exec")  # the cell is valid Python whatever the names


def test_the_injected_cell_goes_after_the_parameters_cell() -> None:
    nb = notebook(("import os", []), ("x = 1", ["parameters"]), ("y = x", []))
    prepare(nb, {"x": 5}, ["y"])
    assert tags(nb) == [[], ["parameters"], [INJECTED_TAG], [], [RETURNS_TAG]]
    assert "x = 5" in nb.cells[2].source
    assert "['y']" in nb.cells[-1].source
    assert RETURNS_MIME in nb.cells[-1].source
    nbformat.validate(nb)


def test_without_a_parameters_cell_the_injected_cell_goes_first() -> None:
    nb = notebook(("y = x * 2", []), ("print(y)", ["other"]))
    prepare(nb, {"x": 5}, [])
    assert tags(nb) == [[INJECTED_TAG], [], ["other"]]  # no returns: no read-back cell
    nbformat.validate(nb)


def test_preparing_an_executed_notebook_again_replaces_the_old_cells() -> None:
    nb = notebook(("x = 1", ["parameters"]), ("y = x", []))
    prepare(nb, {"x": 2}, ["y"])
    prepare(nb, {"x": 3}, ["y"])
    assert tags(nb).count([INJECTED_TAG]) == 1
    assert tags(nb).count([RETURNS_TAG]) == 1
    injected = next(c for c in nb.cells if INJECTED_TAG in c.metadata.get("tags", []))
    assert "x = 3" in injected.source
    assert "x = 2" not in injected.source


def test_an_old_format_notebook_is_upgraded_so_new_cells_have_ids() -> None:
    nb = notebook(("x = 1", ["parameters"]), minor=4)
    prepare(nb, {"x": 2}, ["x"])
    assert nb.nbformat_minor >= 5
    assert all(cell.get("id") for cell in nb.cells)
    nbformat.validate(nb)


def returns_output(found: dict[str, Any]) -> Any:
    nb = notebook(("", [RETURNS_TAG]))
    nb.cells[0].outputs = [
        nbformat.v4.new_output("display_data", data={RETURNS_MIME: found}),
    ]
    return nb


def packed(value: Any) -> dict[str, str]:
    return {"pickle": base64.b64encode(pickle.dumps(value)).decode()}


def test_read_returns_unpickles_each_value() -> None:
    nb = returns_output({"a": packed([1, 2]), "b": packed(Point(3))})
    assert read_returns(nb, ["a", "b"], "NotebookTask 'n'") == {"a": [1, 2], "b": Point(3)}


@pytest.mark.parametrize(
    ("found", "match"),
    [
        ({"a": {"missing": True}}, r"did not define \['a'\]"),
        ({}, r"did not define \['a'\]"),
        ({"a": {"error": "TypeError: cannot pickle"}}, "cannot return 'a': TypeError"),
        ({"a": {"pickle": "not base64 pickle"}}, "cannot load the value of 'a'"),
    ],
)
def test_read_returns_errors_name_the_task_and_the_variable(
    found: dict[str, Any], match: str
) -> None:
    with pytest.raises(ReturnsError, match=match) as info:
        read_returns(returns_output(found), ["a"], "NotebookTask 'nb'")
    assert "NotebookTask 'nb'" in str(info.value)


def test_a_notebook_without_the_read_back_output_is_a_returns_error() -> None:
    nb = notebook(("", [RETURNS_TAG]))
    with pytest.raises(ReturnsError, match="could not be read back"):
        read_returns(nb, ["a"], "NotebookTask 'nb'")


def test_save_path_is_one_safe_file_per_task_path(tmp_path: Path) -> None:
    path = save_path(tmp_path, "run-1", "pipeline/par/branch a/../nb:1")
    assert path.parent == tmp_path / "run-1"
    assert path.suffix == ".ipynb"
    assert "/" not in path.name
    assert " " not in path.name
    assert ":" not in path.name
    assert path != save_path(tmp_path, "run-1", "pipeline/par/branch b/../nb:1")


def test_a_missing_notebook_fails_the_task_without_starting_a_kernel(tmp_path: Path) -> None:
    task = NotebookTask(notebook=tmp_path / "nowhere.ipynb", returns=["y"])
    assert task.name == "nowhere"
    result = Pipeline(steps=[task]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, NotebookTaskError)
    assert "NotebookTask 'nowhere'" in str(result.error)
    assert "nowhere.ipynb" in str(result.error)


# -- in a real kernel (slow-ish: one kernel each) -------------------------------------------


def write(path: Path, *cells: tuple[str, list[str]]) -> Path:
    nbformat.write(notebook(*cells), path)
    return path


@pytest.mark.notebook
@pytest.mark.timeout(120)
def test_without_a_parameters_cell_values_arrive_first_and_are_saved(tmp_path: Path) -> None:
    nb_path = write(
        tmp_path / "calc.ipynb",
        ("import pathlib\nhere = pathlib.Path.cwd().name", []),
        ("total = sum(values) + offset.days\nprint('total', total)", []),
        ("kind = type(when).__name__", []),
    )
    task = NotebookTask(notebook=nb_path, returns=["total", "here", "kind"])
    params = {
        "values": [1, 2, 3],
        "offset": dt.timedelta(days=10),  # not a literal: travels pickled
        "when": dt.datetime(2024, 5, 6, 7, 8),
        "class": "a keyword: left out, not a SyntaxError",
    }
    result = Pipeline(steps=[task]).execute(params, run_dir=tmp_path / "runs", run_id="r1")
    assert result.status == "success", result.error
    assert result.parameters["total"] == 16
    assert result.parameters["here"] == tmp_path.name  # the kernel ran in its directory
    assert result.parameters["kind"] == "datetime"
    assert result.steps["calc"].output == "total 16\n"
    (saved,) = (tmp_path / "runs" / "r1").glob("*.ipynb")
    executed = nbformat.read(saved, as_version=4)
    assert tags(executed)[0] == [INJECTED_TAG]
    assert "# class: not injected" in executed.cells[0].source
    assert executed.cells[2].outputs[0]["text"] == "total 16\n"


@pytest.mark.notebook
@pytest.mark.timeout(120)
def test_a_raising_notebook_fails_with_its_error_and_is_still_saved(tmp_path: Path) -> None:
    nb_path = write(
        tmp_path / "bad.ipynb",
        ("limit = 1", ["parameters"]),
        ("if limit > 2:\n    raise ValueError(f'limit {limit} is too high')", []),
        ("never = True", []),
    )
    task = NotebookTask(notebook=nb_path, name="checker", returns=["never"])
    result = Pipeline(steps=[task]).execute({"limit": 5}, run_dir=tmp_path / "runs")
    assert result.status == "fail"
    assert isinstance(result.error, NotebookTaskError)
    message = str(result.error)
    assert "NotebookTask 'checker'" in message
    assert "ValueError" in message
    assert "limit 5 is too high" in message
    (saved,) = (tmp_path / "runs" / result.run_id).glob("*.ipynb")
    executed = nbformat.read(saved, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1
    assert errors[0]["ename"] == "ValueError"
