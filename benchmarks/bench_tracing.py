"""Tracing overhead: the same 1,000-branch run with and without ``chainlab.record()``.

Run it from the repo root: ``python -m benchmarks.bench_tracing``. Each row is the
median of several interleaved runs: unrecorded, with a listener that does nothing (the
cost of the engine's span events alone) and inside ``record()``. The target for the
headline row is a recorded run at most 1.3x the unrecorded one.
The last rows time what happens *after* a run, when you look at a recording.
:func:`probe_overhead` times the event-loop stall probe alone: the 1,000-branch async
run recorded with and without it (target: at most 5 % slower).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from chainlab import RunnableParallel, listen, record

BRANCHES = 1000
TARGET = 1.3
PROBE_TARGET = 1.05


async def _asleep(x: Any) -> Any:
    await asyncio.sleep(0.05)
    return x


async def _atrivial(x: Any) -> Any:
    return x


def _sleep(x: Any) -> Any:
    time.sleep(0.02)
    return x


class _NoOp:
    """A listener that does nothing: what the engine's span events cost by themselves."""

    def on_start(self, span: Any) -> None:
        pass

    def on_end(self, span: Any) -> None:
        pass


def _timed(run: Callable[[], Any], how: str) -> float:
    context: AbstractContextManager[Any] = (
        nullcontext() if how == "plain" else listen(_NoOp()) if how == "noop" else record()
    )
    with context:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start


def overhead(run: Callable[[], Any], repeat: int = 7) -> dict[str, float]:
    """Median wall time of ``run`` unrecorded, with a no-op listener and recorded
    (interleaved, after a warm-up)."""
    run()
    times: dict[str, list[float]] = {"plain": [], "noop": [], "record": []}
    for _ in range(repeat):
        for how, samples in times.items():
            samples.append(_timed(run, how))
    return {how: statistics.median(samples) for how, samples in times.items()}


def measure(repeat: int = 7) -> list[dict[str, Any]]:
    """The rows of the table, as dicts (``label``, ``plain_s``, ``recorded_s``, ``ratio``)."""
    wide_sleep = RunnableParallel({f"q{i}": _asleep for i in range(BRANCHES)})
    wide_trivial = RunnableParallel({f"q{i}": _atrivial for i in range(BRANCHES)})
    wide_threads = RunnableParallel({f"q{i}": _sleep for i in range(200)})
    scenarios: list[tuple[str, Callable[[], Any], str]] = [
        (
            f"{BRANCHES:,} branches × asyncio.sleep(0.05), ainvoke",
            lambda: asyncio.run(wide_sleep.ainvoke(1)),
            f"≤ {TARGET}×",
        ),
        (
            f"{BRANCHES:,} trivial async branches, ainvoke (worst case)",
            lambda: asyncio.run(wide_trivial.ainvoke(1)),
            "",
        ),
        ("200 branches × time.sleep(0.02), invoke", lambda: wide_threads.invoke(1), ""),
    ]
    rows = []
    for label, run, target in scenarios:
        t = overhead(run, repeat)
        rows.append(
            {
                "label": label,
                "plain_s": t["plain"],
                "noop_s": t["noop"],
                "recorded_s": t["record"],
                "ratio": t["record"] / t["plain"],
                "target": target,
            }
        )
    return rows


def after_the_run() -> list[tuple[str, float]]:
    """Seconds to convert, analyse and plot a 1,000-leaf recording."""
    chain = RunnableParallel({f"q{i}": _asleep for i in range(BRANCHES)})
    with record() as rec:
        asyncio.run(chain.ainvoke(1))
    out = []
    start = time.perf_counter()
    _ = rec.spans
    out.append(("rec.spans (1,001 spans)", time.perf_counter() - start))
    start = time.perf_counter()
    rec.analysis()
    out.append(("rec.analysis(): critical path, lanes, gaps", time.perf_counter() - start))
    try:
        import matplotlib

        matplotlib.use("Agg")
        start = time.perf_counter()
        rec.plot().savefig(__import__("io").BytesIO(), format="png")
        out.append(("rec.plot() + savefig PNG", time.perf_counter() - start))
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    return out


def probe_overhead(repeat: int = 9) -> dict[str, float]:
    """Median wall and CPU time of the 1,000-branch ``asyncio.sleep(0.05)`` run recorded
    without and with the stall probe (interleaved, after a warm-up), and their ratios.

    The CPU time (of the whole process, the probe's thread included) is the steadier
    number on a shared machine: the probe's cost is CPU work, and the wall time of a
    run that mostly sleeps moves with the machine's load.
    """
    chain = RunnableParallel({f"q{i}": _asleep for i in range(BRANCHES)})

    def timed(watch: bool) -> tuple[float, float]:
        with record(watch_loops=watch):
            cpu, start = time.process_time(), time.perf_counter()
            asyncio.run(chain.ainvoke(1))
            return time.perf_counter() - start, time.process_time() - cpu

    timed(True)
    samples: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(repeat):
        for watch, found in samples.items():
            found.append(timed(watch))
    out = {}
    for watch, label in ((False, "without"), (True, "with")):
        out[f"{label}_s"] = statistics.median(w for w, _ in samples[watch])
        out[f"{label}_cpu_s"] = statistics.median(c for _, c in samples[watch])
    out["ratio"] = out["with_s"] / out["without_s"]
    out["cpu_ratio"] = out["with_cpu_s"] / out["without_cpu_s"]
    return out


def probe_table(t: dict[str, float]) -> str:
    return "\n".join(
        [
            "| stall probe, 1,000 branches × asyncio.sleep(0.05), ainvoke "
            "| recorded, no probe | recorded, probe | ratio | target |",
            "|---|---|---|---|---|",
            f"| wall time | {t['without_s']:.3f} s | {t['with_s']:.3f} s "
            f"| {t['ratio']:.3f}× | ≤ {PROBE_TARGET}× |",
            f"| CPU time (process) | {t['without_cpu_s']:.3f} s | {t['with_cpu_s']:.3f} s "
            f"| {t['cpu_ratio']:.3f}× | ≤ {PROBE_TARGET}× |",
        ]
    )


def table(rows: list[dict[str, Any]], post: list[tuple[str, float]]) -> str:
    lines = [
        "| tracing overhead | unrecorded | no-op listener | recorded "
        "| recorded / unrecorded | target |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['plain_s']:.3f} s | {row['noop_s']:.3f} s "
            f"| {row['recorded_s']:.3f} s | {row['ratio']:.2f}× | {row['target']} |"
        )
    lines += ["", "| after the run | time |", "|---|---|"]
    lines += [f"| {label} | {seconds * 1e3:.0f} ms |" for label, seconds in post]
    return "\n".join(lines)


def main() -> None:
    """Print the tracing tables (called by ``python -m benchmarks`` too)."""
    print("## Tracing\n")
    print(table(measure(), after_the_run()))
    print()
    print(probe_table(probe_overhead()))


if __name__ == "__main__":
    main()
