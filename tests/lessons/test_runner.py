"""The headless lesson runner: execution in real kernels, check collection, ordering."""

from __future__ import annotations

import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from chainlab.lessons import CHECK_MIME, Check, LessonRun, execute_notebook, find_lessons
from chainlab.lessons.runner import _short_error, collect_checks, default_lessons_dir
from tests.lessons.helpers import write_notebook

ROOT = Path(__file__).resolve().parents[2]
IMPORTS = "import os, pathlib\nfrom chainlab.lessons import result_check, check_exercise"


# -- collect_checks and LessonRun (no kernel) ----------------------------------------------


def check_output(check: Check) -> Any:
    return new_output("display_data", data={CHECK_MIME: asdict(check), "text/plain": "x"})


def test_collect_checks_reads_records_in_order_with_cell_tags() -> None:
    first = Check("speedup", "result", True, "2.5×", 2.5, (2, None), True, {"run": 1}, "×")
    second = Check("ex", "exercise", False, "not yet")
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Title"),
            new_code_cell(
                "...",
                metadata={"tags": ["solution", "hide"]},
                outputs=[new_output("stream", name="stdout", text="hi"), check_output(first)],
            ),
            new_code_cell("...", outputs=[new_output("display_data", data={"text/plain": "x"})]),
            new_code_cell("...", outputs=[check_output(second)]),
        ]
    )
    collected = collect_checks(nbformat.reads(nbformat.writes(nb), 4))  # via JSON
    assert [c.name for c in collected] == ["speedup", "ex"]
    assert collected[0].bounds == (2, None)  # a JSON list becomes a tuple again
    assert collected[0].extra == {"run": 1, "cell_tags": ["solution", "hide"]}
    assert collected[1].extra == {"cell_tags": []}
    assert collected[1].bounds is None
    assert (collected[0].value, collected[0].key_figure) == (2.5, True)
    assert (collected[0].unit, collected[1].unit) == ("×", "")
    assert collected[0].shown_value == "2.50×"
    assert collect_checks(new_notebook()) == []


def test_lesson_run_ok_and_key_figure() -> None:
    figure = Check("speedup", "result", True, "", 3.0, key_figure=True)
    unsolved = Check("ex", "exercise", False, "not done yet")
    failed = Check("calls", "result", False, "12 is outside")
    run = LessonRun(Path("LC1.ipynb"), 1.0, [unsolved, figure])
    assert run.ok  # an unsolved exercise does not fail a lesson
    assert run.key_figure is figure
    assert not LessonRun(Path("x"), 1.0, [figure, failed]).ok
    assert not LessonRun(Path("x"), 1.0, [figure], error="ValueError: boom").ok
    assert LessonRun(Path("x"), 1.0, [unsolved]).key_figure is None
    assert LessonRun(Path("x"), 0.0).ok


def test_a_failing_hidden_solution_fails_the_lesson() -> None:
    unsolved = Check("ex", "exercise", False, "not done yet", extra={"cell_tags": []})
    solved = Check("ex", "exercise", True, "well done!", extra={"cell_tags": ["solution"]})
    broken = Check("ex2", "exercise", False, "took 1.03 s", extra={"cell_tags": ["solution"]})
    failed = Check("calls", "result", False, "12 is outside")
    assert LessonRun(Path("x"), 1.0, [unsolved, solved]).ok
    run = LessonRun(Path("x"), 1.0, [unsolved, solved, broken, failed])
    assert not run.ok
    assert run.failures == [broken, failed]
    assert not LessonRun(Path("x"), 1.0, [broken]).ok


def test_short_error_keeps_the_last_error_line() -> None:
    text = "Traceback\n  cell 3\nKeyError: 'a'\n  more context\nValueError: the real one\n"
    assert _short_error(Exception(text)) == "ValueError: the real one"
    assert _short_error(Exception("no matching line\nlast")) == "last"
    assert len(_short_error(Exception("Error " + "x" * 1000))) == 300
    assert _short_error(Exception("")) == "Exception('')"


def test_find_lessons_in_curriculum_order(tmp_path: Path) -> None:
    names = [
        "LC2.1.10-ten.ipynb",
        "LC2.1.2-two.ipynb",
        "LC10.1.1-later.ipynb",
        "LC2.1.1-one.ipynb",
        "LC2.2.1-next.ipynb",
        "notes.ipynb",
        "LC2.1.3-draft.txt",
    ]
    for name in names:
        (tmp_path / name).write_text("{}")
    found = [p.name for p in find_lessons(tmp_path)]
    assert found == [
        "LC2.1.1-one.ipynb",
        "LC2.1.2-two.ipynb",
        "LC2.1.10-ten.ipynb",
        "LC2.2.1-next.ipynb",
        "LC10.1.1-later.ipynb",
    ]
    assert find_lessons(str(tmp_path / "missing")) == []


def test_default_lessons_are_the_checkout_ones() -> None:
    assert default_lessons_dir() == ROOT / "lessons"
    lessons = find_lessons()
    assert lessons == sorted((ROOT / "lessons").glob("LC*.ipynb"))  # < 10 lessons: same order
    assert lessons[0].name.startswith("LC2.1.1-")


# -- real kernels --------------------------------------------------------------------------


@pytest.mark.notebook
def test_a_passing_notebook_with_checks(tmp_path: Path) -> None:
    before = os.environ.get("CHAINLAB_TIME_SCALE")
    path = write_notebook(
        tmp_path / "LC0-pass.ipynb",
        IMPORTS,
        "result_check('scale', os.environ.get('CHAINLAB_TIME_SCALE'), equals='0.25')",
        f"result_check('cwd', str(pathlib.Path.cwd()), equals={str(tmp_path)!r})",
        ("result_check('speedup', 2.5, between=(2, 3), key_figure=True)", ["solution"]),
        "def todo():\n    raise NotImplementedError\ncheck_exercise('todo', todo)",
    )
    run = execute_notebook(path, time_scale=0.25, timeout=60)
    assert run.error is None
    assert [(c.name, c.passed) for c in run.checks] == [
        ("scale", True),  # the kernel got the scale...
        ("cwd", True),  # ... and runs in the notebook's folder
        ("speedup", True),
        ("todo", False),
    ]
    assert run.ok
    assert run.key_figure is not None
    assert (run.key_figure.name, run.key_figure.value) == ("speedup", 2.5)
    assert run.checks[2].extra["cell_tags"] == ["solution"]
    assert run.checks[3].message.startswith("not done yet")
    assert os.environ.get("CHAINLAB_TIME_SCALE") == before  # the parent is untouched
    assert run.seconds > 0
    # a check as a cell's last expression is displayed once, with no execute_result
    for cell in run.notebook.cells[1:]:
        assert [o["output_type"] for o in cell.outputs] == ["display_data"]
    assert nbformat.read(path, 4).cells[1].outputs == []  # the file itself is not rewritten


@pytest.mark.notebook
def test_a_transform_changes_what_runs_not_the_file(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "LC0-transform.ipynb",
        IMPORTS,
        "result_check('who', 'original', equals='swapped')",
    )

    def transform(nb: Any) -> Any:
        nb.cells[1].source = nb.cells[1].source.replace("'original'", "'swapped'")
        return nb

    run = execute_notebook(path, timeout=60, transform=transform)
    assert run.error is None
    assert [(c.name, c.passed) for c in run.checks] == [("who", True)]
    assert "'swapped'" in run.notebook.cells[1].source
    assert "'original'" in nbformat.read(path, 4).cells[1].source


@pytest.mark.notebook
def test_a_cell_error_is_reported_not_raised(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "LC0-error.ipynb",
        IMPORTS,
        "result_check('before', 1, equals=1)",
        "1 / 0",
        "result_check('after', 1, equals=1)",
    )
    run = execute_notebook(path, timeout=60)
    assert run.error is not None
    assert "ZeroDivisionError" in run.error
    assert [c.name for c in run.checks] == ["before"]  # execution stopped at the error
    assert not run.ok


@pytest.mark.notebook
def test_a_cell_timeout_is_reported(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "LC0-slow.ipynb", "import time\ntime.sleep(60)")
    run = execute_notebook(path, timeout=1)
    assert run.error is not None
    assert "Timeout" in run.error
    assert run.seconds < 50


@pytest.mark.notebook
def test_concurrent_runs_each_get_their_own_time_scale(tmp_path: Path) -> None:
    before = os.environ.get("CHAINLAB_TIME_SCALE")
    source = "import os\nprint(os.environ.get('CHAINLAB_TIME_SCALE'))"
    scales = {"a": 0.5, "b": 0.125}
    runs: dict[str, LessonRun] = {}

    def run(name: str) -> None:
        path = write_notebook(tmp_path / f"LC0-{name}.ipynb", source)
        runs[name] = execute_notebook(path, time_scale=scales[name], timeout=60)

    threads = [threading.Thread(target=run, args=(name,)) for name in scales]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, scale in scales.items():
        assert runs[name].error is None
        assert runs[name].notebook.cells[0].outputs[0]["text"].strip() == str(scale)
    assert os.environ.get("CHAINLAB_TIME_SCALE") == before
