"""Helpers for the lesson notebooks: predictions, exercises, result checks and quizzes.

A lesson talks to its learner through these calls:

* :func:`predict` / :func:`reveal`: write a number down before running a cell, then
  compare; :func:`predict_choice` / :func:`reveal_choice` for "which one?" questions,
  with :func:`sketches` drawing candidate timelines to pick from.
* :func:`check` ``("name", obj)``: an exercise's one-line check (never raises for the
  learner's code); :func:`hint` gives the next hint, :func:`solution` the solution. The
  exercises live in :mod:`chainlab.lessons.exercises`, one module per lesson.
* :func:`result_check`: a measured fact the lesson stands on (a speedup within bounds,
  a call count). The test suite reads these from the executed notebook and asserts them.
* :func:`quiz` ``("LC2.1.N")``: the lesson's closing quiz (ipywidgets).

Checks display a short Markdown line for the learner and a JSON record
(mime type ``application/vnd.chainlab.check+json``) for the machines.
"""

from chainlab.lessons.checks import (
    CHECK_MIME,
    Check,
    check_exercise,
    predict,
    result_check,
    reveal,
)
from chainlab.lessons.exercises import Exercise, Question
from chainlab.lessons.practice import check, hint, predict_choice, reveal_choice, solution
from chainlab.lessons.quiz import quiz
from chainlab.lessons.runner import LessonRun, execute_notebook, find_lessons, runs_alone
from chainlab.lessons.sketches import sketches

__all__ = [
    "CHECK_MIME",
    "Check",
    "Exercise",
    "LessonRun",
    "Question",
    "check",
    "check_exercise",
    "execute_notebook",
    "find_lessons",
    "hint",
    "predict",
    "predict_choice",
    "quiz",
    "result_check",
    "reveal",
    "reveal_choice",
    "runs_alone",
    "sketches",
    "solution",
]
