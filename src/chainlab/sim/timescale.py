"""One knob for all simulated latency: the *time scale*.

Every simulated delay (model latency, jitter, retriever and search latency) is multiplied
by :func:`time_scale`, so a lesson written with realistic half-second model calls runs in
a twentieth of the time in CI while every ratio (speedups, which branch finishes first)
stays the same.

The scale comes from the ``CHAINLAB_TIME_SCALE`` environment variable (a float, default
``1.0``; ``0`` removes all simulated latency), unless a program overrides it:

>>> from chainlab.sim import set_time_scale, time_scale
>>> with set_time_scale(0.1):      # just for this block
...     time_scale()
0.1
>>> scale = set_time_scale(0.5)    # or for the rest of the program
>>> time_scale()
0.5
>>> scale.restore()                # back to the environment's value

The second knob is the *clock*. On the real clock (the default) a simulated 3 s run
takes 3 s. On a virtual clock it takes milliseconds and still says 3.000 s: time jumps
ahead whenever every running leaf waits on a simulated delay (see
:mod:`chainlab.engine.clock`). Ask for it per block, or for a whole program with
``CHAINLAB_CLOCK=virtual``:

>>> import chainlab
>>> from chainlab.sim import FakeChatModel
>>> trio = chainlab.RunnableParallel(
...     a=FakeChatModel("a", latency=3), b=FakeChatModel("b", latency=3),
...     c=FakeChatModel("c", latency=3))
>>> with set_time_scale(1.0), virtual_clock() as clock:
...     start = clock.now()
...     _ = trio.invoke("hi")       # returns at once
...     round(clock.now() - start, 3)
3.0

CPU-bound work is real work: the clock never jumps while it runs, and it takes no
virtual time (a timeline shows it as instant). Measure CPU costs on the real clock.
"""

from __future__ import annotations

import math
import os
import threading

from chainlab.engine.clock import VirtualClock
from chainlab.engine.clock_hooks import CHOICES, pop_clock, push_clock
from chainlab.engine.run import current_frame

ENV_VAR = "CHAINLAB_TIME_SCALE"

_lock = threading.Lock()
_override: list[float] = []  # a stack: the last entry wins


def _check(value: float, source: str) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{source} must be a finite number >= 0, got {value!r}")
    return value


def _from_env() -> float:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_VAR} must be a number such as 0.1, got {raw!r}") from None
    return _check(value, ENV_VAR)


def time_scale() -> float:
    """The factor every simulated latency is multiplied by (1.0 = real time)."""
    if _override:
        return _override[-1]
    return _from_env()


def scaled(seconds: float) -> float:
    """``seconds`` of simulated time in real seconds (never negative)."""
    return max(0.0, seconds) * time_scale()


class set_time_scale:  # lower case: used like a function, as decimal.localcontext
    """Set the time scale for the whole process; as a context manager, only inside
    the ``with`` block.

    Args:
        scale: the new factor, ``>= 0``.

    Overrides nest: leaving a ``with`` block (or calling :meth:`restore`) brings back
    the value that was in force before.
    """

    def __init__(self, scale: float) -> None:
        value = _check(float(scale), "the time scale")
        with _lock:
            _override.append(value)
        self.scale = value
        self._active = True

    def restore(self) -> None:
        """Undo this override (idempotent)."""
        with _lock:
            if not self._active:
                return
            self._active = False
            # remove this override (the most recent one with this value)
            for i in range(len(_override) - 1, -1, -1):
                if _override[i] == self.scale:
                    del _override[i]
                    break

    def __enter__(self) -> float:
        return self.scale

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def __repr__(self) -> str:
        return f"set_time_scale({self.scale})"


class virtual_clock:  # lower case: used like a function, as set_time_scale
    """Run the simulated world on a virtual clock inside the ``with`` block.

    Runs started inside the block (``invoke``, ``ainvoke``, ``batch``, ...) read their
    time from a fresh :class:`~chainlab.engine.clock.VirtualClock` (``as clock``), and
    so do ``chainlab.sleep`` / ``asleep``, simulated latencies, retries' waits,
    timeouts and the spans of ``chainlab.record()``. A run keeps the clock it started
    on. Inside a run that is already on a virtual clock the block changes nothing.

    CPU-bound work is real work: the clock does not jump while a leaf computes, and
    the computing takes no virtual time (measure it on the real clock). The clock
    follows the main thread, this block's thread, chainlab's own threads and every
    ``ThreadPoolExecutor`` made while it is in use (langchain_core's included: see
    :mod:`chainlab.engine.clock_threads`); a run started on another thread raises
    ``RuntimeError`` naming it, since the clock could not see it start.

    Raises:
        RuntimeError: inside a run already on the real clock (enter the block before
            the run starts, or set ``CHAINLAB_CLOCK=virtual`` for the whole program).
    """

    def __init__(self) -> None:
        frame = current_frame()
        if frame is not None and frame.run.clock is None:
            raise RuntimeError(
                f"chainlab.virtual_clock() was asked for inside a run that is already on "
                f"the real clock (at {frame.path!r}); a run keeps the clock it started "
                "on. Enter the block before the run starts, or start the program with "
                f"CHAINLAB_CLOCK=virtual. The clocks: {' or '.join(map(repr, CHOICES))} "
                "(the default is 'real')."
            )
        running = frame.run.clock if frame is not None else None
        self.clock: VirtualClock = running if running is not None else VirtualClock()
        self._pushed = False

    def __enter__(self) -> VirtualClock:
        self.clock.owners.add(threading.get_ident())  # runs may start in this thread
        push_clock(self.clock)
        self._pushed = True
        return self.clock

    def __exit__(self, *exc_info: object) -> None:
        if self._pushed:
            self._pushed = False
            pop_clock(self.clock)
