"""Calls the engine stopped waiting for while their thread still runs.

Python cannot stop a thread. When a sync call is given up on (a ``with_timeout``
deadline under ``invoke``, its task cancelled under ``ainvoke``, a fail-fast sibling
still running when the fan-out raised, Ctrl-C), its thread runs on until the call
returns; its result is dropped. :func:`abandoned_calls` counts those calls.

An abandoned thread leaves the engine's pool (``pool.detach``): it never holds a place
that healthy work needs. Abandoned calls have a budget of their own instead,
``CHAINLAB_MAX_ABANDONED`` (default 1024): once that many are still running, a new run
fails at once with :class:`AbandonedWorkError`, which names them, rather than piling
up threads that may never end.
"""

from __future__ import annotations

import os
import threading
import time

from chainlab.engine.pool import get_pool

MAX_ABANDONED = max(1, int(os.environ.get("CHAINLAB_MAX_ABANDONED", "1024")))

_abandoned: dict[int, tuple[str, float]] = {}  # id(call) -> (path, when it was given up)
_abandoned_lock = threading.Lock()


class AbandonedWorkError(RuntimeError):
    """Too many abandoned calls are still running: a new run is refused at once."""


def abandoned_calls() -> int:
    """Given-up sync calls whose thread is still running (they end on their own)."""
    return len(_abandoned)


def abandoned_work() -> list[tuple[str, float]]:
    """``(path, seconds since it was given up)`` of each abandoned call, oldest first."""
    now = time.monotonic()
    with _abandoned_lock:
        entries = sorted(_abandoned.values(), key=lambda entry: entry[1])
    return [(path, now - since) for path, since in entries]


def check_budget(limit: int | None = None) -> None:
    """Raise :class:`AbandonedWorkError` if the abandoned calls use up their budget."""
    limit = MAX_ABANDONED if limit is None else limit
    if len(_abandoned) < limit:
        return
    work = abandoned_work()
    shown = ", ".join(f"{path} ({age:.0f} s ago)" for path, age in work[:3])
    more = f" and {len(work) - 3} more" if len(work) > 3 else ""
    raise AbandonedWorkError(
        f"{len(work)} abandoned calls are still running (the budget is "
        f"CHAINLAB_MAX_ABANDONED={limit}): {shown}{more}. chainlab gave up on them "
        "(a timeout, a failed sibling, Ctrl-C) but Python cannot stop a thread; new runs "
        "are refused until some end. Make the function return when "
        "chainlab.cancelled() is true, or sleep with chainlab.sleep()."
    )


class AbandonableCall:
    """Counts one call in :func:`abandoned_calls` from :meth:`abandon` until :meth:`ended`."""

    __slots__ = ("_abandoned", "_ended", "_lock", "path", "thread")

    def __init__(self, path: str = "", thread: threading.Thread | None = None) -> None:
        self._lock = threading.Lock()
        self._ended = False
        self._abandoned = False
        self.path = path
        self.thread = thread
        """The thread that runs the call, once known (it leaves the pool if abandoned)."""

    def started(self, thread: threading.Thread) -> None:
        """The call runs in ``thread`` now (detached at once if already abandoned)."""
        with self._lock:
            self.thread = thread
            if not self._abandoned:
                return
        get_pool().detach(thread)

    def abandon(self) -> None:
        with self._lock:
            if self._ended or self._abandoned:
                return
            self._abandoned = True
            thread = self.thread
            with _abandoned_lock:
                _abandoned[id(self)] = (self.path, time.monotonic())
        if thread is not None:
            get_pool().detach(thread)

    def ended(self) -> None:
        with self._lock:
            self._ended = True
            if self._abandoned:
                self._abandoned = False
                with _abandoned_lock:
                    _abandoned.pop(id(self), None)
