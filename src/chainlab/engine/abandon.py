"""Calls the engine stopped waiting for while their thread still runs.

Python cannot stop a thread. When a sync call is given up on (a ``with_timeout``
deadline under ``invoke``, or its task cancelled under ``ainvoke``), its thread runs on
until the call returns; its result is dropped. :func:`abandoned_calls` counts those
threads, so a learner (or a test) can see that nothing is left behind once they end.
"""

from __future__ import annotations

import threading

_abandoned = 0
_abandoned_lock = threading.Lock()


def abandoned_calls() -> int:
    """Given-up sync calls whose thread is still running (they end on their own)."""
    return _abandoned


def _track(delta: int) -> None:
    global _abandoned
    with _abandoned_lock:
        _abandoned += delta


class AbandonableCall:
    """Counts one call in :func:`abandoned_calls` from :meth:`abandon` until :meth:`ended`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended = False
        self._abandoned = False

    def abandon(self) -> None:
        with self._lock:
            if not self._ended and not self._abandoned:
                self._abandoned = True
                _track(+1)

    def ended(self) -> None:
        with self._lock:
            self._ended = True
            if self._abandoned:
                self._abandoned = False
                _track(-1)
