"""Clock-aware timing for learners' cells: ``chainlab.now()`` and ``chainlab.stopwatch()``.

``time.perf_counter()`` always reads the real clock, so on a virtual clock a cell that
times itself with it measures milliseconds of bookkeeping, not the simulated 3 s. These
read the clock runs use: inside a run, that run's clock; elsewhere the innermost
``chainlab.virtual_clock()`` block or ``CHAINLAB_CLOCK=virtual``; otherwise the real
``time.perf_counter``. On a virtual clock a measured speedup is exact (2.000x where the
structure gives 2x); CPU-bound work takes no virtual time there (see
:mod:`chainlab.engine.clock`).

>>> import chainlab
>>> with chainlab.virtual_clock(), chainlab.stopwatch() as watch:
...     chainlab.sleep(1.5)
>>> watch.seconds
1.5
"""

from __future__ import annotations

import time

from chainlab.engine.clock import VirtualClock
from chainlab.engine.clock_hooks import current_clock
from chainlab.engine.run import current_frame


def _clock_now() -> VirtualClock | None:
    frame = current_frame()
    if frame is not None:
        return frame.run.clock  # a run keeps the clock it started on
    return current_clock()


def _read_ns(clock: VirtualClock | None) -> int:
    return time.perf_counter_ns() if clock is None else clock.now_ns()


def now() -> float:
    """Seconds on the clock runs use now: a virtual clock's reading when one is active,
    else ``time.perf_counter()``. Only differences of two readings mean something."""
    return _read_ns(_clock_now()) / 1e9


class stopwatch:  # lower case: used like a function, as chainlab.virtual_clock
    """Time a block on the clock runs use (``with chainlab.stopwatch() as watch:``).

    The clock is chosen when the block starts and read again when it ends, so
    ``watch.seconds`` is exact on a virtual clock and real seconds otherwise. Inside
    the block ``seconds`` is the time so far.

    Attributes:
        virtual: True if the watch reads a virtual clock.
    """

    def __init__(self) -> None:
        self._clock: VirtualClock | None = None
        self._start: int | None = None
        self._end: int | None = None
        self.virtual = False

    def __enter__(self) -> stopwatch:
        if self._start is not None:
            raise RuntimeError("this chainlab.stopwatch() was already started; make a new one")
        self._clock = _clock_now()
        self.virtual = self._clock is not None
        self._start = _read_ns(self._clock)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._end = _read_ns(self._clock)

    @property
    def seconds(self) -> float:
        """Seconds from the start of the block to its end (or to now, inside it)."""
        if self._start is None:
            raise RuntimeError(
                "chainlab.stopwatch() has not started: use it as `with chainlab.stopwatch()"
                " as watch:` and read watch.seconds inside or after the block"
            )
        end = self._end if self._end is not None else _read_ns(self._clock)
        return (end - self._start) / 1e9

    def __repr__(self) -> str:
        if self._start is None:
            return "<stopwatch (not started)>"
        clock = "virtual" if self.virtual else "real"
        state = "" if self._end is not None else ", running"
        return f"<stopwatch {self.seconds:.3f} s on the {clock} clock{state}>"
