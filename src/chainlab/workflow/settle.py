"""When a branch fails: stop the siblings, and wait for them before moving on.

The engine's fan-out is fail-fast: the first failing branch (or Map item) raises at
once; branches not started yet never start, and the running ones are *told* to stop
through their cancel scope (``chainlab.cancelled()``). Being told is not being
stopped, so a workflow also waits: a ``Parallel`` or ``Map`` whose branch failed
raises only once every branch has ended, or after ``cancel_grace`` seconds
(:data:`CANCEL_GRACE` unless ``execute(cancel_grace=...)``), whichever comes first.
So an ``on_failure`` handler never runs beside a sibling that still works, and
``execute()`` returns with every step in a final state.

How each kind of task stops when told:

* ``ShellTask``: its process group is terminated (killed if it ignores SIGTERM);
* ``NotebookTask``: no cell starts after that, the running cell is interrupted and
  the kernel is shut down;
* ``PythonTask``: Python cannot stop a thread, so the function must look: check
  ``chainlab.cancelled()`` in loops, and sleep with ``chainlab.sleep()`` (which wakes
  up on cancellation). A function that does not look is waited for up to the grace,
  then abandoned: the result records it as ``cancelled`` with the error
  ``"Abandoned: ..."``, and a ``RuntimeWarning`` names it.

This is ``execute()`` (and ``invoke`` of ``to_runnable()``). Under ``ainvoke`` the
engine's async fan-out applies as it is: sibling tasks are cancelled and awaited for
at most the engine's own ``CANCEL_GRACE``.
"""

from __future__ import annotations

import warnings
from typing import Any

from chainlab.engine.fanout import Join
from chainlab.engine.run import Frame

CANCEL_GRACE = 10.0
"""Seconds a Parallel / Map waits for running branches after one failed."""


def wait_settled(join: Join, frames: list[Frame], grace: float) -> list[Any]:
    """``join.wait()`` that, on a failure, also waits (up to ``grace``) for the calls
    still running to end before it raises (the failure has cancelled their scope)."""
    try:
        return join.wait()
    except BaseException:
        if not join.settle(grace):
            running = [f.path for f in frames if f.span is not None and f.span.end_ns is None]
            warnings.warn(
                f"abandoned after the {grace:g} s grace, still running although their run "
                f"was cancelled: {', '.join(running) or 'branches'} (check "
                "chainlab.cancelled() in long Python functions)",
                RuntimeWarning,
                stacklevel=2,
            )
        raise
