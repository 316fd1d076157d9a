"""Small instruments for engine tests: concurrency gauges and slow functions."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any


class Gauge:
    """Counts how many calls are inside at once (thread-safe), and the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.calls = 0

    def __enter__(self) -> Gauge:
        with self._lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1

    def sleeper(self, seconds: float) -> Any:
        """A sync function that sleeps inside the gauge and returns its input."""

        def sleep(x: Any) -> Any:
            with self:
                time.sleep(seconds)
            return x

        return sleep

    def asleeper(self, seconds: float) -> Any:
        """An async function that sleeps inside the gauge and returns its input."""

        async def asleep(x: Any) -> Any:
            with self:
                await asyncio.sleep(seconds)
            return x

        return asleep
