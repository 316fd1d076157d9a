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
"""

from __future__ import annotations

import math
import os
import threading
from types import TracebackType

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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def __repr__(self) -> str:
        return f"set_time_scale({self.scale})"
