"""CPU-bound work in pure Python: the case threads cannot speed up.

:func:`cpu_work` spins a plain arithmetic loop that holds the GIL the whole time (it
never sleeps and calls no C code that releases the GIL), so two threads running it take
as long as running it twice in a row. It is a module-level function of picklable
arguments, so a process pool can run it on another core.

``DEFAULT_ITERATIONS`` takes about 0.25 s on the idle reference machine (2 cores, CPython
3.11) and is multiplied by :func:`~chainlab.sim.time_scale` when no size is given, so
CI shrinks CPU work along with simulated latency. Time it on your machine with
:func:`seconds_per_iteration`.

>>> cpu_work(4)                       # 0 + 1 + 4 + 9
14
>>> count_primes(100)
25
"""

from __future__ import annotations

import time
from typing import Any

from chainlab.engine.cancel import Cancelled, cancelled
from chainlab.engine.leaf import arun_sync_leaf, run_leaf
from chainlab.engine.run import Frame
from chainlab.sim.service import InstantLeaf
from chainlab.sim.timescale import time_scale

DEFAULT_ITERATIONS = 2_500_000
"""Iterations of :func:`cpu_work` for about 0.25 s on the reference machine."""

MODULUS = 1_000_003
"""``cpu_work`` sums squares modulo this prime (keeps integers small, cost linear)."""

_CHUNK = 1 << 16  # iterations between two looks at chainlab.cancelled()


def default_iterations() -> int:
    """``DEFAULT_ITERATIONS`` times the current time scale (at least 1)."""
    return max(1, round(DEFAULT_ITERATIONS * time_scale()))


def cpu_work(iterations: int | None = None) -> int:
    """Burn CPU in pure Python: ``sum(i * i for i in range(iterations)) % MODULUS``.

    The cost is linear in ``iterations`` (``None``: :func:`default_iterations`, about
    0.25 s). Inside a chainlab run it stops with :class:`chainlab.Cancelled` soon after
    the run is cancelled (it checks every 65,536 iterations).
    """
    n = default_iterations() if iterations is None else int(iterations)
    if n < 0:
        raise ValueError(f"iterations must be >= 0, got {n}")
    total = 0
    for start in range(0, n, _CHUNK):
        if cancelled():
            raise Cancelled(f"cpu_work stopped after {start} of {n} iterations: run cancelled")
        for i in range(start, min(start + _CHUNK, n)):
            total = (total + i * i) % MODULUS
    return total


def count_primes(limit: int) -> int:
    """How many primes are below ``limit``, by trial division (slow on purpose).

    >>> count_primes(10_000)
    1229
    """
    count = 0
    for k in range(2, limit):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def seconds_per_iteration(sample: int = 200_000) -> float:
    """Measure :func:`cpu_work`'s speed here (to size work for a wanted duration)."""
    start = time.perf_counter()
    cpu_work(sample)
    return (time.perf_counter() - start) / sample


class CpuWork(InstantLeaf):
    """:func:`cpu_work` as a runnable leaf: a CPU-bound branch for parallel demos.

    Args:
        iterations: fixed size of each call. None: an int input is the size, any
            other input means :func:`default_iterations` (about 0.25 s).
        name: the node's name in graphs (default ``"cpu_work"``).

    Returns the checksum :func:`cpu_work` computes. Under ``ainvoke`` it runs on the
    engine's thread pool (never blocking the event loop); with a process executor in
    the config it runs in another process.
    """

    def __init__(self, iterations: int | None = None, *, name: str = "cpu_work") -> None:
        self.iterations = iterations
        self.name = name

    def _size(self, input: Any) -> int:
        if self.iterations is not None:
            return self.iterations
        if isinstance(input, int) and not isinstance(input, bool):
            return input
        return default_iterations()  # decided here, not in a worker process

    def _invoke(self, input: Any, frame: Frame) -> int:
        return int(run_leaf(frame, cpu_work, self._size(input)))

    async def _ainvoke(self, input: Any, frame: Frame) -> int:
        return int(await arun_sync_leaf(frame, cpu_work, self._size(input)))
