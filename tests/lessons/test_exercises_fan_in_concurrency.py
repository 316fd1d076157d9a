"""LC2.1.5 and LC2.1.6 exercises, outside a kernel: each starter fails its check (a
debugging starter runs and shows its bug), each solution passes, on both libraries (the
cell's code defined beside chainlab's runnables, or beside langchain_core's as in the
swapped lesson: the check follows it).

The kernel-level suite runs the same solutions inside the notebooks; these tests name
the exercise that broke and run in a second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import chainlab
import chainlab.sim
from chainlab.lessons.exercises import lc2_1_5, lc2_1_6
from chainlab.lessons.exercises.library import library_of
from chainlab.sim import set_time_scale
from tests.lessons.helpers import exercise_starter

ROOT = Path(__file__).resolve().parents[2]
LESSONS = {
    "LC2.1.5": (ROOT / "lessons" / "LC2.1.5-fan-in-patterns.ipynb", lc2_1_5),
    "LC2.1.6": (ROOT / "lessons" / "LC2.1.6-concurrent-processing.ipynb", lc2_1_6),
}
#: the name each exercise's check is given, as in the notebook's check cell
CHECKED = {
    "reciprocal rank fusion": "fuse",
    "first k to finish": "first_k",
    "answers in the wrong places": "in_input_order",
    "as fast as the rate limit allows": "answer_all",
    "no threads for 200 lookups": "fetch_async",
    "the lost update": "WordCount",
}
LIBRARIES = ("chainlab", "langchain_core")
CASES = [
    pytest.param(lesson, name, library, id=f"{lesson}-{name}-{library}")
    for lesson, (_, module) in LESSONS.items()
    for name in module.EXERCISES
    for library in LIBRARIES
]


@pytest.fixture(autouse=True)
def fast() -> Any:
    with set_time_scale(0.2) as scale:
        yield scale


def starter(lesson: str, name: str) -> str:
    return exercise_starter(LESSONS[lesson][0], name)


def namespace(library: str = "chainlab") -> dict[str, Any]:
    """The lesson globals an exercise cell uses, from ``library`` as after the swap."""
    if library == "langchain_core":
        runnables: Any = pytest.importorskip("langchain_core.runnables")
        sim: Any = pytest.importorskip("chainlab.sim.langchain")
    else:
        runnables, sim = chainlab, chainlab.sim
    scale = chainlab.sim.time_scale()

    def lookup(seconds: float) -> float:
        time.sleep(seconds * scale)
        return seconds

    return {
        "S": scale,
        "asyncio": asyncio,
        "chainlab": chainlab,
        "threading": threading,
        "time": time,
        "FakeChatModel": sim.FakeChatModel,
        "RunnableLambda": runnables.RunnableLambda,
        "RunnableParallel": runnables.RunnableParallel,
        "lookup": lookup,
    }


@pytest.mark.parametrize(("lesson", "name", "library"), CASES)
def test_the_starter_does_not_pass(lesson: str, name: str, library: str) -> None:
    exercise = LESSONS[lesson][1].EXERCISES[name]
    scope = namespace(library)
    exec(starter(lesson, name), scope)  # a debugging starter runs and shows its bug
    with pytest.raises((NotImplementedError, AssertionError)):
        exercise.check(scope[CHECKED[name]])


@pytest.mark.parametrize(("lesson", "name", "library"), CASES)
def test_the_solution_passes(lesson: str, name: str, library: str) -> None:
    exercise = LESSONS[lesson][1].EXERCISES[name]
    scope = namespace(library)
    exec(exercise.solution, scope)
    learner_code = scope[CHECKED[name]]
    assert library_of(learner_code).name == library
    assert exercise.check(learner_code) in (None, True)


def test_a_check_finds_the_library_of_a_class_through_its_methods() -> None:
    scope = namespace("langchain_core")
    exec("class Counter:\n    def add(self, n):\n        pass\n", scope)
    assert library_of(scope["Counter"]).name == "langchain_core"
    assert library_of(len).name == "chainlab"  # nothing to go by: the lessons' own engine


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_each_lesson_has_a_debugging_exercise_and_a_five_question_quiz(lesson: str) -> None:
    module = LESSONS[lesson][1]
    assert len(module.EXERCISES) >= 2
    assert any(e.debugging for e in module.EXERCISES.values())
    assert len(module.QUIZ) == 5
    for question in module.QUIZ:
        assert 0 <= question.answer < len(question.choices), question.text
        assert question.why, question.text


def test_the_lost_update_starter_really_loses_updates() -> None:
    scope = namespace()
    exec(starter("LC2.1.6", "the lost update"), scope)
    with pytest.raises(AssertionError, match="updates were lost"):
        lc2_1_6.check_word_count(scope["WordCount"])


def test_locking_the_slow_work_too_is_caught() -> None:
    class SerialWordCount:
        """Right total, but every branch's whole body runs under one lock."""

        lock = threading.Lock()

        def __init__(self) -> None:
            self.total = 0

        def add(self, n: int) -> None:
            with self.lock:  # held for far longer than the update needs
                self.total += n
                time.sleep(0.3 * chainlab.sim.time_scale())

    with pytest.raises(AssertionError, match="slow work"):
        lc2_1_6.check_word_count(SerialWordCount)
