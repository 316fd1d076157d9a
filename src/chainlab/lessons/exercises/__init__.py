"""The lessons' exercises and quizzes: one module per lesson, kept out of the notebooks.

``chainlab.lessons.exercises.lc2_1_1`` holds LC2.1.1's ``EXERCISES`` (exercise name ->
:class:`Exercise`) and ``QUIZ`` (five :class:`Question`). A notebook's exercise cell
holds only the starter code; the solution lives here, so a learner's Run All never runs
it. :func:`chainlab.lessons.check` runs an exercise's check, and the suite's
``execute_notebook(path, solutions=True)`` puts each solution in place of its starter.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

_LESSON_ID = re.compile(r"^LC(\d+)\.(\d+)\.(\d+)$")
_MODULE = re.compile(r"^lc(\d+)_(\d+)_(\d+)$")


@dataclass(frozen=True)
class Exercise:
    """One exercise: how to check it, graduated hints, and the solution's source.

    ``check(obj)`` gets what the learner passed to ``lessons.check`` (a builder
    function, a chain, ...); it returns None or True when solved, False or raises
    ``AssertionError`` (with a message for the learner) when not. ``debugging``: the
    starter is a broken chain to fix. ``portable``: the solution also passes on
    langchain_core (the swap test runs it there).
    """

    check: Callable[[Any], Any]
    hints: tuple[str, ...]
    solution: str
    debugging: bool = False
    portable: bool = True

    def __post_init__(self) -> None:
        if not callable(self.check):
            raise TypeError(f"Exercise.check must be callable, got {self.check!r}")
        if not isinstance(self.hints, tuple) or not self.hints:
            raise ValueError(f"Exercise.hints must be a non-empty tuple, got {self.hints!r}")
        if not all(isinstance(h, str) and h.strip() for h in self.hints):
            raise ValueError(f"Exercise.hints must be non-empty strings, got {self.hints!r}")
        if not isinstance(self.solution, str) or not self.solution.strip():
            raise ValueError("Exercise.solution must be the solution cell's source code")


@dataclass(frozen=True)
class Question:
    """One quiz question: ``choices[answer]`` is right, ``why`` explains it."""

    text: str
    choices: tuple[str, ...]
    answer: int
    why: str

    def __post_init__(self) -> None:
        if not isinstance(self.choices, tuple) or len(self.choices) < 2:
            raise ValueError(f"Question {self.text!r}: give at least two choices as a tuple")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"Question {self.text!r}: choices repeat: {self.choices!r}")
        if not (isinstance(self.answer, int) and 0 <= self.answer < len(self.choices)):
            raise ValueError(
                f"Question {self.text!r}: answer {self.answer!r} is not an index of "
                f"its {len(self.choices)} choices"
            )
        if not self.text.strip() or not self.why.strip():
            raise ValueError(f"Question {self.text!r}: text and why must not be empty")


def module_name(lesson_id: str) -> str:
    """``"LC2.1.1"`` -> ``"chainlab.lessons.exercises.lc2_1_1"``."""
    match = _LESSON_ID.match(lesson_id)
    if match is None:
        raise ValueError(f"{lesson_id!r} is not a lesson id such as 'LC2.1.1'")
    return f"{__name__}.lc{'_'.join(match.groups())}"


def lesson_id_of(path_or_name: Any) -> str:
    """The lesson id of a notebook: ``LC2.1.1-runnableparallel-overview.ipynb`` -> ``LC2.1.1``."""
    name = str(getattr(path_or_name, "name", path_or_name))
    return name.split("-", 1)[0].removesuffix(".ipynb")


def lesson_ids() -> list[str]:
    """The lessons that have an exercise module, in curriculum order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _MODULE.match(info.name)
        if match:
            found.append(tuple(int(n) for n in match.groups()))
    return [f"LC{a}.{b}.{c}" for a, b, c in sorted(found)]


def has_module(lesson_id: str) -> bool:
    return lesson_id in lesson_ids()


def load(lesson_id: str) -> ModuleType:
    """A lesson's exercise module, its ``EXERCISES`` and ``QUIZ`` checked for type."""
    name = module_name(lesson_id)
    if lesson_id not in lesson_ids():
        raise LookupError(f"{lesson_id} has no exercise module {name}")
    module = importlib.import_module(name)
    exercises = getattr(module, "EXERCISES", None)
    if not isinstance(exercises, dict) or not all(
        isinstance(k, str) and isinstance(v, Exercise) for k, v in exercises.items()
    ):
        raise TypeError(f"{name}.EXERCISES must be a dict of name -> Exercise")
    quiz = getattr(module, "QUIZ", None)
    if not isinstance(quiz, list | tuple) or not all(isinstance(q, Question) for q in quiz):
        raise TypeError(f"{name}.QUIZ must be a list of Question")
    return module


def exercises(lesson_id: str) -> dict[str, Exercise]:
    """A lesson's exercises by name."""
    found: dict[str, Exercise] = load(lesson_id).EXERCISES
    return found


def quiz_questions(lesson_id: str) -> list[Question]:
    """A lesson's quiz."""
    return list(load(lesson_id).QUIZ)


def all_exercises() -> dict[str, tuple[str, Exercise]]:
    """Every lesson's exercises: name -> (lesson id, exercise). Names are unique."""
    found: dict[str, tuple[str, Exercise]] = {}
    for lesson in lesson_ids():
        for name, exercise in exercises(lesson).items():
            if name in found:
                raise ValueError(
                    f"exercise name {name!r} is used by {found[name][0]} and {lesson}: "
                    "names must be unique across the lessons"
                )
            found[name] = (lesson, exercise)
    return found


def find(name: str) -> tuple[str, Exercise]:
    """The lesson and exercise called ``name``; a clear error for an unknown name."""
    known = all_exercises()
    if name not in known:
        raise KeyError(
            f"no exercise called {name!r}; known exercises: {', '.join(sorted(known)) or 'none'}"
        )
    return known[name]
