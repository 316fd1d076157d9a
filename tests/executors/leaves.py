"""Leaves for the conformance suites, and the test-side handles that read their evidence.

A leaf may run in another process (a pool worker, a Dask worker), where changing a
list of the test changes a copy. So these leaves *return* what they saw (pids, wall
clock times, attempt numbers) or leave it in files of a folder the test gives them
(files work across processes, unlike the test's memory).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

HOLD_LIMIT_S = 20.0
"""A held leaf ends by itself after this long, even if the test never releases it."""


class Boom(Exception):
    """A user-defined error type: it must come back as itself, not as a stand-in."""


def stamp(x: Any) -> tuple[int, int]:
    """``(pid, wall-clock time)`` of the call."""
    return os.getpid(), time.time_ns()


def nap(x: Any, seconds: float = 0.05) -> tuple[int, int]:
    """Sleep; return the wall-clock interval it ran in (comparable across processes)."""
    start = time.time_ns()
    time.sleep(seconds)
    return start, time.time_ns()


def long_nap(x: Any) -> tuple[int, int]:
    """:func:`nap` for half a second: long enough to overlap a sibling on a busy machine."""
    return nap(x, 0.5)


def fail_soon(x: Any) -> Any:
    time.sleep(0.05)
    raise Boom(f"bad input {x!r}")


def fail_key(x: Any) -> Any:
    time.sleep(0.05)
    raise KeyError(f"no key {x!r}")


def fail_once_started(x: Any, folder: str) -> Any:
    """Once the :func:`hold` leaf of ``folder`` has started, write ``failed`` and raise
    :class:`Boom`."""
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not Path(folder, "started").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    Path(folder, "failed").touch()
    raise Boom("failed while a sibling runs")


def hold(x: Any, folder: str, until: str = "release") -> tuple[int, int]:
    """Write ``started``, wait until the file ``until`` appears in ``folder`` (the test
    writes ``release``), write ``ended`` (its wall-clock time); return
    ``(pid, end time)``."""
    where = Path(folder)
    (where / "started").write_text(str(os.getpid()))
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not (where / until).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    end = time.time_ns()
    (where / "ended").write_text(str(end))
    return os.getpid(), end


def attempt(folder: str, failures: int, error: type[Exception] = ConnectionError) -> Any:
    """Record one attempt (a file ``attempt-<n>`` holding the pid); the first
    ``failures`` attempts raise ``error``. Returns ``[pid of attempt 1, 2, ...]``."""
    n = 1
    while True:
        try:
            with open(os.path.join(folder, f"attempt-{n}"), "x") as file:
                file.write(str(os.getpid()))
            break
        except FileExistsError:
            n += 1
    if n <= failures:
        raise error(f"attempt {n} fails")
    return [int(Path(folder, f"attempt-{i}").read_text()) for i in range(1, n + 1)]


class Gate:
    """The test's side of :func:`hold`: a leaf that runs until :meth:`release`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        where = str(folder)
        self.leaf = lambda x: hold(x, where)  # travels by value; ``hold`` by reference

    @property
    def started(self) -> bool:
        return (self.folder / "started").exists()

    @property
    def ended(self) -> bool:
        return (self.folder / "ended").exists()

    @property
    def end_ns(self) -> int:
        return int((self.folder / "ended").read_text())

    def release(self) -> None:
        (self.folder / "release").touch()

    def wait_until(self, condition: str, timeout: float = 10.0) -> bool:
        """Wait until ``started`` or ``ended`` (True), or ``timeout`` s (False)."""
        deadline = time.monotonic() + timeout
        while not getattr(self, condition) and time.monotonic() < deadline:
            time.sleep(0.005)
        return bool(getattr(self, condition))


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def meet(x: Any, folder: str, me: str, other: str) -> bool:
    """Say "I started" (a file ``me``), then wait for ``other`` to say so too: True if
    it did within :data:`HOLD_LIMIT_S`. Two calls that run at once both see each other
    at once; two calls run one after the other cannot (the first gives up after 20 s).
    Structure, not timing: no speed of the machine makes it pass or fail."""
    Path(folder, me).touch()
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not Path(folder, other).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True
