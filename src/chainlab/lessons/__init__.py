"""Helpers for the lesson notebooks: predictions, result checks and exercise feedback.

A lesson talks to its learner through three calls:

* :func:`predict` / :func:`reveal`: write a guess before running a cell, then compare.
* :func:`check_exercise`: friendly feedback on an exercise, never an exception, so
  "Run All" works on a fresh notebook whose exercises are still empty.
* :func:`result_check`: a measured fact the lesson stands on (a speedup within bounds,
  a call count). The test suite reads these from the executed notebook and asserts them.

Both kinds of check display a short Markdown line for the learner and a JSON record
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
from chainlab.lessons.runner import LessonRun, execute_notebook, find_lessons, runs_alone

__all__ = [
    "CHECK_MIME",
    "Check",
    "LessonRun",
    "check_exercise",
    "execute_notebook",
    "find_lessons",
    "predict",
    "result_check",
    "reveal",
    "runs_alone",
]
