"""Errors that say where they happened.

The original exception propagates unchanged in type; chainlab adds a PEP 678 note
naming the branch, so a traceback reads::

    ValueError: no rhyme for 'orange'
    in branch 'poem' of RunnableParallel<joke,poem> (failed at .../poem/rhyme)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainlab.engine.run import Frame

_ORIGIN = "_chainlab_origin"
_NOTED = "_chainlab_noted"


def is_fatal(exc: BaseException) -> bool:
    """A ``BaseException`` that must stop the whole call, whatever its failure mode:
    ``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit`` and custom subclasses of
    ``BaseException``. An ``Exception`` is an ordinary failure, and so is a
    ``CancelledError`` a call's own code raised (it is that call's failure, not a
    cancellation of its caller)."""
    return not isinstance(exc, Exception | asyncio.CancelledError)


def stops(error: BaseException, fail_fast: bool) -> bool:
    """The failure rule of every fan-out: does this failed call end the fan-out (cancel
    its siblings, and raise)? Under fail-fast any failure does; otherwise a fatal one."""
    return fail_fast or is_fatal(error)


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
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes.insert(0, note)  # the branch first, before any "meanwhile" notes
    else:
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


def also_failed(first: BaseException, other: BaseException) -> None:
    """Attach a later failure to the one that is propagating (fail-fast keeps the first)."""
    where = origin(other)
    first.add_note(
        f"meanwhile another branch failed too: {other!r}" + (f" at {where}" if where else "")
    )


@dataclass(frozen=True)
class BranchError:
    """The value of a failed branch in a partial-results parallel.

    It is not raised: it stands in the output dict where the branch's value would be,
    so the other branches' results are never lost. It is falsy, so
    ``{k: v for k, v in out.items() if v}`` keeps the successes.
    """

    key: str
    path: str
    exception: BaseException
    """What the branch raised: an ``Exception``, or a ``CancelledError`` of its own."""
    elapsed: float
    """Seconds the branch ran before failing."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"BranchError({self.key!r}, {self.exception!r}, after {self.elapsed:.3f}s)"
