"""Small instruments for engine tests: concurrency gauges and slow functions."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import chainlab
from chainlab.engine.clock_hooks import current_clock


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
        """A sync function that sleeps inside the gauge and returns its input: like
        ``time.sleep`` (nothing interrupts it), yet virtual seconds on a virtual clock,
        where a peak is exact (every call that can start has before time moves on)."""

        def sleep(x: Any) -> Any:
            with self:
                chainlab.sleep(seconds, cancellable=False)
            return x

        return sleep

    def asleeper(self, seconds: float) -> Any:
        """An async function that sleeps inside the gauge and returns its input
        (``asyncio.sleep``; on a virtual clock, ``chainlab.asleep``)."""

        async def asleep(x: Any) -> Any:
            with self:
                if current_clock() is None:
                    await asyncio.sleep(seconds)
                else:
                    await chainlab.asleep(seconds)
            return x

        return asleep


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.002) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class LoopThread:
    """An event loop running forever in a daemon thread: a second driver, as a
    Jupyter kernel or a web server would have. Use as a context manager."""

    def __init__(self, name: str = "test-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def __enter__(self) -> LoopThread:
        self.thread.start()
        return self

    def submit(self, coro: Any) -> Any:
        """Schedule ``coro`` on the loop; returns a ``concurrent.futures.Future``."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def __exit__(self, *exc: object) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.submit(cancel_rest()).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Recorder:
    """A thread-safe list of events (for ordering and counting assertions)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Any] = []

    def add(self, item: Any) -> None:
        with self._lock:
            self.items.append(item)

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.items)
