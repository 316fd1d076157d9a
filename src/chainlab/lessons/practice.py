"""The learner's side of an exercise: check, graduated hints, the solution on request;
and predictions that pick one of a few answers.

The exercises themselves (checks, hints, solutions) live in
:mod:`chainlab.lessons.exercises`, one module per lesson, never in the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainlab.lessons.checks import Check, _emit, judge
from chainlab.lessons.exercises import find

_hints_shown: dict[str, int] = {}
_choices: dict[str, tuple[str, tuple[str, ...]]] = {}


def show_markdown(text: str) -> None:
    """Markdown in a notebook, plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython is a dependency
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def check(name: str, obj: Any = None) -> Check:
    """Run exercise ``name``'s check on ``obj`` (pass the function or chain, uncalled).

    Never raises for the learner's code: an unfinished starter (``NotImplementedError``),
    a failed assertion or any error is shown as "not done yet: ..." and recorded as an
    exercise check that did not pass. An unknown ``name`` is the author's mistake and
    raises ``KeyError``.
    """
    lesson, exercise = find(name)
    passed, message = judge(lambda: exercise.check(obj), success="well done!")
    if not passed:
        message = message.removeprefix("not done yet: ")
        message = f"not done yet: {message} `lessons.hint({name!r})` gives a hint."
    extra = {"exercise": name, "lesson": lesson, "debugging": exercise.debugging}
    return _emit(Check(name, "exercise", passed, message, extra=extra))


def hint(name: str) -> None:
    """Show exercise ``name``'s next hint: a nudge, a closer hint, then where the solution is."""
    _, exercise = find(name)
    shown = _hints_shown.get(name, 0)
    if shown < len(exercise.hints):
        _hints_shown[name] = shown + 1
        show_markdown(
            f"**Hint {shown + 1} of {len(exercise.hints)}** for *{name}*: {exercise.hints[shown]}"
        )
    else:
        show_markdown(
            f"No more hints for *{name}*: `lessons.solution({name!r})` shows the solution "
            f"(`insert=True` puts it into a new cell)."
        )


def solution(name: str, insert: bool = False) -> None:
    """Show exercise ``name``'s solution; ``insert=True`` also puts it into the next cell."""
    _, exercise = find(name)
    source = exercise.solution.strip("\n")
    show_markdown(f"Solution of *{name}*:\n\n```python\n{source}\n```")
    if insert:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:
            print("(insert=True needs a notebook: copy the code above instead)")
        else:
            shell.set_next_input(source, replace=False)


def predict_choice(name: str, choice: str | None, choices: Sequence[str] = ("A", "B", "C")) -> None:
    """Pick one answer before running (which finishes first? which timeline?)."""
    options = tuple(choices)
    if len(options) < 2 or len(set(options)) != len(options):
        raise ValueError(
            f"predict_choice({name!r}): choices must be two or more distinct answers, "
            f"got {options!r}"
        )
    listed = ", ".join(repr(c) for c in options)
    if choice is None:
        print(f"No choice for {name!r} yet: set it to one of {listed}, then run the next cell.")
        return
    if choice not in options:
        raise ValueError(f"predict_choice({name!r}): {choice!r} is not one of {listed}")
    _choices[name] = (choice, options)
    print(f"Noted: you expect {choice!r} for {name}. Now run the next cell.")


def reveal_choice(name: str, actual: str) -> None:
    """Compare what happened with the learner's :func:`predict_choice`."""
    picked = _choices.get(name)
    if picked is None:
        print(f"{name}: it was {actual!r} (you made no prediction).")
        return
    choice, options = picked
    if actual not in options:
        raise ValueError(
            f"reveal_choice({name!r}): {actual!r} is not one of the choices {options!r}"
        )
    verdict = "right!" if choice == actual else "not this time: look at what differs"
    print(f"{name}: it was {actual!r}; you picked {choice!r}: {verdict}")
