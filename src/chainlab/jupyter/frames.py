"""Tracebacks that show the learner's code, not chainlab's.

A branch error travels through the engine, the dashboard and the magic before it
reaches the notebook; a learner needs only their own frames (and the note naming the
branch). Frames from files inside the ``chainlab`` package are dropped; the magic's
own frames, which IPython adds when it re-raises, carry ``__tracebackhide__``.
"""

from __future__ import annotations

import sys
import traceback
import types
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parents[1])


def is_own(filename: str) -> bool:
    """True for a file of the chainlab package."""
    return filename.startswith(_PACKAGE)


def user_frames(error: BaseException) -> traceback.TracebackException:
    """The error's traceback without chainlab's own frames: the user's code only."""
    tb = traceback.TracebackException.from_exception(error)
    tb.stack = traceback.StackSummary.from_list(
        [frame for frame in tb.stack if not is_own(frame.filename)]
    )
    return tb


def print_user_traceback(error: BaseException) -> None:
    """Print a branch error the way a learner needs it: their frames, then the notes."""
    print("".join(user_frames(error).format()), file=sys.stderr, end="")


def without_own_frames(error: BaseException) -> BaseException:
    """``error`` with chainlab's frames cut out of its ``__traceback__`` (in place);
    returned, to be raised again."""
    kept: list[types.TracebackType] = []
    tb = error.__traceback__
    while tb is not None:
        if not is_own(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    rebuilt: types.TracebackType | None = None
    for entry in reversed(kept):
        rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return error.with_traceback(rebuilt)


def interrupted() -> KeyboardInterrupt:
    """The ``KeyboardInterrupt`` a ``%%chain`` cell raises after Ctrl-C: IPython shows it
    as one line (``_render_traceback_``), since no frame of the user's was running."""
    error = KeyboardInterrupt()
    message = "KeyboardInterrupt: the run was cancelled; its view shows what was running"
    error._render_traceback_ = lambda: [message]  # type: ignore[attr-defined]
    return error
