"""The DESIGN.md target table, measured for one library in this process.

The same scenario code runs on ``chainlab`` and on ``langchain_core.runnables``: the
APIs match, so only the import differs. Run ``python -m benchmarks`` for the
side-by-side table; this module prints JSON for one library:

    python -m benchmarks.engine chainlab
    python -m benchmarks.engine langchain_core
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def load(lib: str) -> Any:
    return importlib.import_module("chainlab" if lib == "chainlab" else "langchain_core.runnables")


def per_call(fn: Callable[[], Any], *, seconds: float = 0.5, repeat: int = 5) -> float:
    """Median seconds per call over ``repeat`` timed loops of about ``seconds`` each."""
    for _ in range(20):
        fn()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 0.05:
        fn()
        n += 1
    loops = max(1, int(n * seconds / 0.05 / repeat))
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - t) / loops)
    return statistics.median(samples)


def wall(fn: Callable[[], Any], repeat: int = 3) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wide_async(lib: Any, n: int = 10_000) -> tuple[float, float]:
    """n branches of asyncio.sleep(0.05) under ainvoke: (seconds, MB of peak RSS growth)."""

    async def nap(x: Any) -> Any:
        await asyncio.sleep(0.05)
        return x

    par = lib.RunnableParallel({f"b{i}": lib.RunnableLambda(nap) for i in range(n)})
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    asyncio.run(par.ainvoke(1))
    return time.perf_counter() - t, rss_mb() - before


def fail_fast(lib: Any) -> float:
    release = threading.Event()

    def slow(x: Any) -> Any:
        release.wait(1.0)
        return x

    def fail(x: Any) -> Any:
        time.sleep(0.05)
        raise ValueError("boom")

    par = lib.RunnableParallel(slow=slow, fail=fail)
    t = time.perf_counter()
    try:
        par.invoke(1)
    except ValueError:
        pass
    elapsed = time.perf_counter() - t
    release.set()
    time.sleep(0.05)
    return elapsed


def peak_concurrency(lib: Any, limit: int = 2) -> int:
    """Nested parallels (2 x 4 leaves) at max_concurrency=limit: leaves at once."""
    lock, now, peak = threading.Lock(), [0], [0]

    def leaf(x: Any) -> Any:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.02)
        with lock:
            now[0] -= 1
        return x

    inner = lib.RunnableParallel({f"l{i}": leaf for i in range(4)})
    lib.RunnableParallel(a=inner, b=inner).invoke(1, {"max_concurrency": limit})
    return peak[0]


def abatch_after_failure(lib: Any) -> int:
    """abatch of 20 items at max_concurrency=2 where item 0 fails: items ever started
    (counted 0.3 s after the error, so items still starting in the background count)."""
    started = []

    async def work(x: int) -> int:
        started.append(x)
        await asyncio.sleep(0.01)
        if x == 0:
            raise ValueError("item 0")
        return x

    async def main() -> None:
        try:
            await lib.RunnableLambda(work).abatch(list(range(20)), {"max_concurrency": 2})
        except ValueError:
            pass
        await asyncio.sleep(0.3)

    asyncio.run(main())
    return len(started)


def error_names_branch(lib: Any) -> bool:
    def bad(x: Any) -> Any:
        raise ValueError("boom")

    try:
        lib.RunnableParallel(joke=lambda x: x, poem=bad).invoke(1)
    except ValueError as exc:
        return any("poem" in note for note in getattr(exc, "__notes__", []))
    return False


def measure(lib_name: str) -> dict[str, Any]:
    lib = load(lib_name)
    results: dict[str, Any] = {}
    results["wide_async_s"], results["wide_async_mb"] = wide_async(lib)  # first: clean RSS
    identity = lib.RunnableLambda(lambda x: x)
    results["lambda_us"] = per_call(lambda: identity.invoke(1)) * 1e6
    seq = identity | lib.RunnableLambda(lambda x: x) | lib.RunnableLambda(lambda x: x)
    results["sequence_us"] = per_call(lambda: seq.invoke(1)) * 1e6
    par8 = lib.RunnableParallel({f"b{i}": lib.RunnableLambda(lambda x: x) for i in range(8)})
    results["parallel8_ms"] = per_call(lambda: par8.invoke(1), seconds=1.0) * 1e3

    def nap(x: Any) -> Any:
        time.sleep(0.05)
        return x

    par32 = lib.RunnableParallel({f"b{i}": lib.RunnableLambda(nap) for i in range(32)})
    results["sleep32_invoke_s"] = wall(lambda: par32.invoke(1))
    results["sleep32_ainvoke_s"] = wall(lambda: asyncio.run(par32.ainvoke(1)))
    results["fail_fast_s"] = fail_fast(lib)
    results["peak_at_limit2"] = peak_concurrency(lib)
    results["abatch_started_after_failure"] = abatch_after_failure(lib)
    results["error_names_branch"] = error_names_branch(lib)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1] if len(sys.argv) > 1 else "chainlab")))
