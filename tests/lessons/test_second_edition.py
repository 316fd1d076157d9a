"""The second edition's rules (issue 19), for each lesson converted to the exercise API.

A lesson counts as converted once its notebook has exercise cells named in metadata
(``{"chainlab": {"exercise": "name"}}``) and no ``solution``-tagged cell
(:func:`chainlab.lessons.solutions.is_second_edition`); until then these tests skip it
and the first-edition rules of test_notebooks.py apply. No list to keep in step: a
lesson converts itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from chainlab.lessons.exercises import all_exercises, exercises, lesson_id_of, quiz_questions
from chainlab.lessons.runner import execute_notebook, runs_alone
from chainlab.lessons.solutions import exercise_cells, is_second_edition
from tests.lessons.helpers import clock_for, real_work

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("LC2.1.*.ipynb"))


def is_exact(check: Any) -> bool:
    """A check judged exactly (``exact=`` on a virtual clock): its bounds are one figure."""
    return check.bounds is not None and check.bounds[0] == check.bounds[1] is not None


MAX_MARKDOWN_WORDS = 180
CHECK_LINE = re.compile(r"""^lessons\.check\((["'])(?P<name>[^"']+)\1, *\w[\w.]*\);?$""")


def converted(path: Path) -> Any:
    """The notebook, or a skip while the lesson is still first edition."""
    nb = nbformat.read(path, as_version=4)
    if not is_second_edition(nb):
        pytest.skip(f"{path.name} is not converted to the exercise API yet")
    return nb


def params(paths: list[Path]) -> list[Any]:
    return [pytest.param(p, marks=pytest.mark.run_alone) if runs_alone(p) else p for p in paths]


def words(markdown: str) -> int:
    """Words of prose: fenced code blocks do not count."""
    return len(re.sub(r"```.*?```", "", markdown, flags=re.DOTALL).split())


def test_exercise_names_are_unique_across_lessons() -> None:
    assert all_exercises()  # raises on a name two lessons share


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_exercises_and_quiz_of_the_lesson_module(path: Path) -> None:
    converted(path)
    lesson = lesson_id_of(path)
    found = exercises(lesson)
    assert len(found) >= 2, f"{lesson}: at least two exercises"
    assert any(e.debugging for e in found.values()), f"{lesson}: a debugging exercise"
    assert any(e.portable for e in found.values()), f"{lesson}: an exercise for LangChain too"
    quiz = quiz_questions(lesson)
    assert len(quiz) == 5, f"{lesson}: the quiz has {len(quiz)} questions, not 5"
    for q in quiz:
        assert 0 <= q.answer < len(q.choices), q
        assert q.why.strip(), q


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_notebook_shape(path: Path) -> None:
    nb = converted(path)
    lesson = lesson_id_of(path)
    known = exercises(lesson)
    cells = exercise_cells(nb)
    names = [name for _, name in cells]
    assert sorted(names) == sorted(known), (
        f"{path.name}: exercise cells name {names}; the module holds {sorted(known)}"
    )
    for index, name in cells:
        assert "exercise" in nb.cells[index].metadata.get("tags", []), (
            f"{path.name} cell {index}: tag the exercise cell 'exercise'"
        )
        after = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
        line = CHECK_LINE.match(after.source.strip()) if after is not None else None
        assert line is not None, f"{path.name} cell {index + 1}: one line lessons.check(...)"
        assert line["name"] == name, (
            f"{path.name} cell {index + 1}: the cell after exercise {name!r} is one line "
            f"lessons.check({name!r}, obj), got {after.source if after else None!r}"
        )
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert f'lessons.quiz("{lesson}")' in code[-1].source, (
        f"{path.name}: the last code cell calls lessons.quiz({lesson!r})"
    )
    sources = "\n".join(c.source for c in nb.cells)
    assert "lessons.predict_choice(" in sources, f"{path.name}: a prediction of a choice"
    assert "key figure" not in sources.lower(), f"{path.name}: no internal 'key figure' wording"
    assert "key_figure" not in sources, f"{path.name}: result checks take no key_figure="
    assert "Task-" not in sources, f"{path.name}: name the branches, not Task-… rows"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            count = words(cell.source)
            assert count <= MAX_MARKDOWN_WORDS, (
                f"{path.name} cell {index}: {count} words (at most {MAX_MARKDOWN_WORDS})"
            )


@pytest.mark.notebook
@pytest.mark.parametrize("path", params(LESSONS), ids=lambda p: p.name)
def test_solutions_pass(path: Path) -> None:
    """The suite's solution run: every exercise's solution in place, every check passes.

    A lesson of simulated waits runs on the virtual clock: its figures are exact there
    (a check with ``exact=`` must hit its figure to a millionth), and no busy machine
    can move them. ``test_notebooks`` runs every lesson on the real clock as well."""
    converted(path)
    run = execute_notebook(path, timeout=120, solutions=True, **clock_for(path))
    assert run.error is None, f"{path.name} with solutions: {run.error}"
    assert not run.failures, f"{path.name} with solutions: " + "; ".join(
        f"{c.name}: {c.message}" for c in run.failures
    )
    exact = [c for c in run.checks if c.kind == "result" and is_exact(c)]
    if not real_work(path):
        assert exact, f"{path.name}: no timing figure judged exactly on the virtual clock"
    for check in exact:
        assert check.value == pytest.approx(check.bounds[0], rel=1e-6, abs=1e-9), check
    ran = {c.name for c in run.checks if c.kind == "exercise"}
    assert ran == set(exercises(lesson_id_of(path))), f"{path.name}: checks ran for {ran}"
    texts = [
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in run.notebook.cells
        for o in c.get("outputs", [])
    ]
    assert not [t for t in texts if "Task-" in t], f"{path.name}: an output names a Task-… row"
