"""Errors that say where they happened.

The original exception propagates unchanged in type; chainlab adds a PEP 678 note
naming the branch, so a traceback reads::

    ValueError: no rhyme for 'orange'
    in branch 'poem' of RunnableParallel<joke,poem> (failed at .../poem/rhyme)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainlab.engine.run import Frame

_ORIGIN = "_chainlab_origin"
_NOTED = "_chainlab_noted"


def mark_origin(exc: BaseException, path: str) -> None:
    """Remember the deepest node an exception came out of (first call wins)."""
    if not hasattr(exc, _ORIGIN):
        try:
            setattr(exc, _ORIGIN, path)
        except AttributeError:  # exceptions with __slots__ cannot carry it
            pass


def origin(exc: BaseException) -> str | None:
    """The path of the node the exception was raised in, if chainlab saw it."""
    return getattr(exc, _ORIGIN, None)


def name_branch(exc: BaseException, label: str, owner: str) -> None:
    """Add the note ``in <label> of <owner>``; only the innermost branch adds one."""
    if getattr(exc, _NOTED, False):
        return
    where = origin(exc)
    note = f"in {label} of {owner}" + (f" (failed at {where})" if where else "")
    try:
        setattr(exc, _NOTED, True)
    except AttributeError:
        return
    exc.add_note(note)


def name_failed_child(
    exc: BaseException, frames: list[Frame], owner: str, label: Callable[[Frame], str]
) -> None:
    """Name the child (among ``frames``) whose subtree the error came out of."""
    where = origin(exc) or ""
    for frame in frames:
        if where == frame.path or where.startswith(frame.path + "/"):
            name_branch(exc, label(frame), owner)
            return
