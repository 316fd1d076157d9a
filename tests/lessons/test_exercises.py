"""The exercise API: Exercise/Question, check, hints, solutions, choices, sketches, quiz,
and the runner's solution run in a real kernel."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from chainlab import RunnableLambda, RunnableParallel, lessons
from chainlab.lessons import exercises as ex
from chainlab.lessons import practice
from chainlab.lessons.checks import Check
from chainlab.lessons.exercises import Exercise, Question
from chainlab.lessons.quiz import Quiz, inline
from chainlab.lessons.runner import LessonRun, execute_notebook
from chainlab.lessons.solutions import exercise_cells, is_second_edition, with_solutions


@pytest.fixture(autouse=True)
def no_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain-Python output, even if another test left an IPython shell behind."""
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)


def exercise(**changes: Any) -> Exercise:
    fields: dict[str, Any] = {
        "check": lambda obj: None,
        "hints": ("a nudge", "a closer hint"),
        "solution": "x = 1\n",
    }
    return Exercise(**{**fields, **changes})


# -- the dataclasses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"check": "not callable"}, "must be callable"),
        ({"hints": ()}, "non-empty tuple"),
        ({"hints": ["a list"]}, "non-empty tuple"),
        ({"hints": ("ok", " ")}, "non-empty strings"),
        ({"solution": ""}, "solution cell's source"),
    ],
)
def test_exercise_rejects_bad_fields(changes: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        exercise(**changes)


def test_exercise_defaults() -> None:
    made = exercise()
    assert (made.debugging, made.portable) == (False, True)


@pytest.mark.parametrize(
    ("choices", "answer", "why", "message"),
    [
        (("only",), 0, "w", "at least two choices"),
        (["a", "b"], 0, "w", "at least two choices"),  # a list, not a tuple
        (("a", "a"), 0, "w", "choices repeat"),
        (("a", "b"), 2, "w", "answer 2 is not an index"),
        (("a", "b"), -1, "w", "answer -1 is not an index"),
        (("a", "b"), 0, " ", "must not be empty"),
    ],
)
def test_question_rejects_bad_fields(choices: Any, answer: int, why: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Question("Which?", choices, answer, why)


# -- finding a lesson's module -------------------------------------------------------------


def test_lesson_ids_and_module_names() -> None:
    assert ex.module_name("LC2.1.1") == "chainlab.lessons.exercises.lc2_1_1"
    assert ex.lesson_id_of(Path("lessons/LC2.1.10-x-y.ipynb")) == "LC2.1.10"
    assert "LC2.1.1" in ex.lesson_ids()
    with pytest.raises(ValueError, match=r"'2.1.1' is not a lesson id"):
        ex.module_name("2.1.1")
    with pytest.raises(LookupError, match=r"LC9.9.9 has no exercise module"):
        ex.load("LC9.9.9")


def test_every_lesson_module_loads_with_unique_names() -> None:
    everything = ex.all_exercises()
    assert {lesson for lesson, _ in everything.values()} == set(ex.lesson_ids())
    for lesson in ex.lesson_ids():
        assert len(ex.quiz_questions(lesson)) == 5, lesson


def test_find_names_the_unknown_exercise_and_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no exercise called 'nope'; known exercises: .*review"):
        ex.find("nope")


# -- check, hint, solution -------------------------------------------------------------------


@pytest.fixture
def fake_lesson(monkeypatch: pytest.MonkeyPatch) -> dict[str, Exercise]:
    """Exercises looked up by practice.* without a lesson module."""
    known: dict[str, Exercise] = {}

    def find(name: str) -> tuple[str, Exercise]:
        return "LC0.0.0", known[name]

    monkeypatch.setattr(practice, "find", find)
    monkeypatch.setattr(practice, "_hints_shown", {})
    return known


def parallel_check(chain: Any) -> None:
    out = chain.invoke(3)
    assert out == {"double": 6, "square": 9}, f"got {out!r}"


def test_check_on_a_real_chain_passes_and_records_the_exercise(
    fake_lesson: dict[str, Exercise], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_lesson["pair"] = exercise(check=parallel_check, debugging=True)
    chain = RunnableParallel(double=lambda x: 2 * x, square=lambda x: x * x)
    result = lessons.check("pair", chain)
    assert isinstance(result, Check)
    assert (result.kind, result.passed, result.message) == ("exercise", True, "well done!")
    assert result.extra == {"exercise": "pair", "lesson": "LC0.0.0", "debugging": True}
    assert "[ok] **pair**" in capsys.readouterr().out


def unfinished() -> Any:
    raise NotImplementedError("build it")


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        (None, "fill in the TODO"),  # the starter's builder, not written yet
        (RunnableParallel(double=lambda x: 2 * x), "got {'double': 6}"),  # a lost branch
        (RunnableLambda(lambda x: 1 / 0), "raised ZeroDivisionError"),
    ],
)
def test_check_never_raises_and_says_not_done_yet(
    fake_lesson: dict[str, Exercise], obj: Any, says: str
) -> None:
    def check_it(chain: Any) -> None:
        parallel_check(unfinished() if chain is None else chain)

    fake_lesson["pair"] = exercise(check=check_it)
    result = lessons.check("pair", obj)
    assert not result.passed
    assert result.message.startswith("not done yet: ")
    assert says in result.message
    assert "lessons.hint('pair')" in result.message


def test_check_false_is_not_done(fake_lesson: dict[str, Exercise]) -> None:
    fake_lesson["f"] = exercise(check=lambda obj: obj == 2)
    assert not lessons.check("f", 1).passed
    assert lessons.check("f", 2).passed


def test_check_of_an_unknown_name_is_an_authoring_error() -> None:
    with pytest.raises(KeyError, match="no exercise called 'typo'"):
        lessons.check("typo", None)


def test_hints_come_one_at_a_time_then_point_to_the_solution(
    fake_lesson: dict[str, Exercise], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_lesson["h"] = exercise()
    shown = []
    for _ in range(4):
        lessons.hint("h")
        shown.append(capsys.readouterr().out)
    assert "Hint 1 of 2" in shown[0]
    assert "a nudge" in shown[0]
    assert "Hint 2 of 2" in shown[1]
    assert "a closer hint" in shown[1]
    assert "lessons.solution('h')" in shown[2] == shown[3]


def test_solution_shows_the_source_and_can_insert_it(
    fake_lesson: dict[str, Exercise],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_lesson["s"] = exercise(solution="chain = RunnableParallel(a=f)\n")
    lessons.solution("s")
    assert "```python\nchain = RunnableParallel(a=f)\n```" in capsys.readouterr().out
    lessons.solution("s", insert=True)  # no IPython here: it says so
    assert "needs a notebook" in capsys.readouterr().out

    inserted: list[tuple[str, bool]] = []

    class Shell:  # the one IPython call solution(insert=True) makes
        def set_next_input(self, text: str, replace: bool) -> None:
            inserted.append((text, replace))

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", Shell)
    monkeypatch.setattr(practice, "show_markdown", print)
    lessons.solution("s", insert=True)
    assert inserted == [("chain = RunnableParallel(a=f)", False)]


# -- predictions of a choice ----------------------------------------------------------------


def test_predict_choice_then_reveal(capsys: pytest.CaptureFixture[str]) -> None:
    lessons.predict_choice("first to finish", None, choices=("fact", "joke", "poem"))
    assert "No choice for 'first to finish' yet" in capsys.readouterr().out
    lessons.predict_choice("first to finish", "joke", choices=("fact", "joke", "poem"))
    lessons.reveal_choice("first to finish", "fact")
    assert "you picked 'joke': not this time" in capsys.readouterr().out
    lessons.predict_choice("picture", "B")
    lessons.reveal_choice("picture", "B")
    assert "you picked 'B': right!" in capsys.readouterr().out
    lessons.reveal_choice("never predicted", "A")
    assert "you made no prediction" in capsys.readouterr().out


def test_predict_choice_rejects_what_is_not_a_choice() -> None:
    with pytest.raises(ValueError, match=r"'D' is not one of 'A', 'B', 'C'"):
        lessons.predict_choice("x", "D")
    with pytest.raises(ValueError, match="two or more distinct"):
        lessons.predict_choice("x", "A", choices=("A", "A"))
    lessons.predict_choice("y", "A")
    with pytest.raises(ValueError, match="'Z' is not one of the choices"):
        lessons.reveal_choice("y", "Z")


# -- sketches ------------------------------------------------------------------------------


def test_sketches_draw_one_panel_per_candidate() -> None:
    fig = lessons.sketches(
        "trio",
        {
            "A": [("joke", 0, 1.0), ("poem", 0, 1.5)],
            "B": [("joke", 0, 1.0), ("poem", 1.0, 2.5)],
            "C": [("poem", 0, 1.5)],
        },
    )
    assert [ax.get_title() for ax in fig.axes] == ["A", "B", "C"]
    assert [len(ax.patches) for ax in fig.axes] == [2, 2, 1]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["joke", "poem"]
    assert fig.axes[1].patches[1].get_x() == 1.0  # poem starts after the joke in B
    assert "which timeline" in fig._suptitle.get_text()
    assert fig._repr_png_()[:4] == b"\x89PNG"  # a notebook shows it


def test_sketches_panels_tick_labels_do_not_touch_and_the_unit_is_named() -> None:
    fig = lessons.sketches(
        "gil",
        {"A": [("t1", 0, 1.0)], "B": [("t1", 0, 2.0)], "C": [("t1", 1, 3.0)]},
        xlabel="computations",
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # lay out as the PNG a notebook shows
    boxes = [
        [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        for ax in fig.axes
    ]
    for left, right in itertools.pairwise(boxes):  # the last label of one panel ends
        assert max(b.x1 for b in left) < min(b.x0 for b in right)  # before the next's first
    assert {ax.get_xlabel() for ax in fig.axes} == {"computations"}


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ({"A": [("a", 0, 1)]}, "2 to 4 candidates"),
        ({"A": [("a", 0, 1)], "B": []}, "'B' has no bars"),
        ({"A": [("a", 0, 1)], "B": [("a", 2, 1)]}, r"0 <= start < end"),
        ({"A": [("a", 0, 1)], "B": [("a", 1)]}, r"not \(lane, start, end\)"),
    ],
)
def test_sketches_name_the_bad_candidate(candidates: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lessons.sketches("s", candidates)


# -- the quiz ----------------------------------------------------------------------------------


def test_quiz_marks_answers_and_explains(capsys: pytest.CaptureFixture[str]) -> None:
    form = lessons.quiz("LC2.1.1")
    assert "1. Three independent branches" in capsys.readouterr().out  # no widgets: text
    questions = ex.quiz_questions("LC2.1.1")
    assert len(form.radios) == len(questions) == 5
    form.choose(0, questions[0].choices[questions[0].answer])
    wrong = next(c for i, c in enumerate(questions[1].choices) if i != questions[1].answer)
    form.choose(1, wrong)
    form.button.click()  # the button runs the same check
    assert form.score_line.value == "1 of 5 right"
    assert "[right]" in form.feedback[0].value
    assert questions[0].why in form.feedback[0].value
    assert "[not quite]" in form.feedback[1].value
    assert "no answer yet" in form.feedback[2].value
    assert form.check() == 1
    with pytest.raises(ValueError, match="question 1: 'nonsense' is not one of its choices"):
        form.choose(0, "nonsense")


def test_quiz_has_a_static_copy_for_pages_without_widgets() -> None:
    form = Quiz("LC2.1.1", ex.quiz_questions("LC2.1.1"))
    page = form.static()
    assert page.startswith('<div class="chainlab-static">')  # the docs site keeps it
    assert page.count("<details>") == 5  # each answer folded, not given away
    for q in form.questions:
        assert inline(q.text) in page
        assert inline(q.why) in page
        assert all(inline(c) in page for c in q.choices)
    assert ".chainlab-quiz) + .jp-OutputArea-child:has(.chainlab-static)" in page
    assert "chainlab-quiz" in form.widget._dom_classes  # the rule's hook where it renders


# -- the notebook side: exercise cells, solutions put in, a real kernel ---------------------


def lesson_notebook(path: Path) -> Path:
    """A small LC2.1.1-style notebook: one exercise of LC2.1.1 with its real chains."""
    nb = new_notebook()
    nb.cells = [
        new_code_cell(
            "from chainlab import RunnableParallel, lessons\n"
            "from chainlab.sim import FakeChatModel, PromptTemplate, StrOutputParser\n"
            "def chain(name, seconds, answer):\n"
            "    return (PromptTemplate.from_template(name + ': {review}')\n"
            "            | FakeChatModel(name, latency=seconds, responses=lambda _: answer)\n"
            "            | StrOutputParser())\n"
            "sentiment_chain = chain('sentiment', 0.6, 'mostly positive')\n"
            "summary_chain = chain('summary', 0.9, 'good battery, weak speaker')\n"
        ),
        new_code_cell(
            "def build_review_analysis():\n    raise NotImplementedError('build it')",
            metadata={"tags": ["exercise"], "chainlab": {"exercise": "review analysis"}},
        ),
        new_code_cell('lessons.check("review analysis", build_review_analysis)'),
    ]
    nbformat.write(nb, path)
    return path


def test_with_solutions_puts_each_solution_in_place(tmp_path: Path) -> None:
    nb = nbformat.read(lesson_notebook(tmp_path / "LC2.1.1-probe.ipynb"), as_version=4)
    assert exercise_cells(nb) == [(1, "review analysis")]
    assert is_second_edition(nb)
    solved = with_solutions(nb, "LC2.1.1")
    assert solved.cells[1].source == ex.exercises("LC2.1.1")["review analysis"].solution.strip()
    assert "NotImplementedError" in nb.cells[1].source  # the original stays as it was
    nb.cells[1].metadata["chainlab"]["exercise"] = "typo"
    with pytest.raises(KeyError, match=r"LC2.1.1 cell 1 names exercise 'typo'"):
        with_solutions(nb, "LC2.1.1")
    nb.cells.append(new_code_cell("# Solution", metadata={"tags": ["solution"]}))
    assert not is_second_edition(nb)  # a first-edition solution cell is still there


@pytest.mark.notebook
def test_run_all_leaves_it_unsolved_and_the_solution_run_passes(tmp_path: Path) -> None:
    path = lesson_notebook(tmp_path / "LC2.1.1-probe.ipynb")
    plain = execute_notebook(path, time_scale=0.2, timeout=60, store_widget_state=False)
    assert plain.error is None, plain.error
    [unsolved] = plain.checks
    assert (unsolved.kind, unsolved.passed) == ("exercise", False)
    assert unsolved.message.startswith("not done yet: fill in the TODO")
    assert plain.ok  # the learner's part is no failure of the lesson

    solved = execute_notebook(
        path, time_scale=0.2, timeout=60, store_widget_state=False, solutions=True
    )
    assert solved.error is None, solved.error
    [check] = solved.checks
    assert check.passed, check.message
    assert check.extra["exercise"] == "review analysis"


def test_a_failing_exercise_fails_only_a_solution_run() -> None:
    unsolved = Check("ex", "exercise", False, "not done yet")
    assert LessonRun(Path("x"), 1.0, [unsolved]).ok
    assert not LessonRun(Path("x"), 1.0, [unsolved], solutions=True).ok
    result = Check("speedup", "result", True, "", 2.0)
    assert LessonRun(Path("x"), 1.0, [unsolved, result]).key_figure is result


def test_quiz_shows_code_spans_as_code_not_backticks() -> None:
    from chainlab.lessons.quiz import inline

    assert inline("`a | b` & <c>") == "<code>a | b</code> &amp; &lt;c&gt;"
