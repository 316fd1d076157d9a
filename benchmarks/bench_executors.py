"""CPU-bound leaves on each executor: why processes (or Dask workers) beat threads.

8 branches of pure-Python CPU work (``chainlab.sim.cpu.cpu_work``, sized to ~0.25 s
each here) on this machine's cores, run

* sequentially (a plain loop: the baseline),
* on threads (the default executor): the GIL lets one thread compute at a time,
  so this is no faster than the loop (the lesson's point),
* on a :class:`~chainlab.ProcessExecutor` (one worker process per core),
* on Dask: a ``LocalCluster`` of worker processes (``DaskExecutor()``), and an
  in-process Dask cluster whose workers are threads (GIL-bound again).

Pools are started (and warmed up) before timing: their start-up is printed apart.
Each figure is the median of ``--repeat`` runs. Run from the repository root::

    python -m benchmarks.bench_executors [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from chainlab import DaskExecutor, ProcessExecutor, RunnableParallel
from chainlab.sim.cpu import cpu_work, seconds_per_iteration

LEAVES = 8
LEAF_SECONDS = 0.25
TARGETS = {"threads": "~1.0×", "processes": "≤ 0.6×", "dask (processes)": "≤ 0.7×"}


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(repeat: int = 3) -> dict[str, Any]:
    """Seconds per run of the 8-leaf fan-out on each backend (plus start-up costs)."""
    iterations = round(LEAF_SECONDS / seconds_per_iteration())
    chain = RunnableParallel({f"leaf{i}": cpu_work for i in range(LEAVES)})
    expected = {f"leaf{i}": cpu_work(1000) for i in range(LEAVES)}
    results: dict[str, Any] = {"cores": os.cpu_count(), "iterations": iterations}
    seconds: dict[str, float] = {}

    seconds["sequential"] = median_seconds(
        lambda: [cpu_work(iterations) for _ in range(LEAVES)], repeat
    )
    seconds["threads"] = median_seconds(lambda: chain.invoke(iterations), repeat)

    processes = ProcessExecutor()
    try:
        results["processes_start_s"] = timed(processes.warm_up)
        config: dict[str, Any] = {"executor": processes}
        assert chain.invoke(1000, config) == expected
        seconds["processes"] = median_seconds(lambda: chain.invoke(iterations, config), repeat)
    finally:
        processes.close()

    if importlib.util.find_spec("distributed") is None:  # pip install chainlab[dask]
        results["seconds"] = seconds
        return results
    import distributed

    dask = DaskExecutor()  # a LocalCluster: one single-threaded worker process per core
    try:
        config = {"executor": dask}
        results["dask_start_s"] = timed(lambda: chain.invoke(1000, config))
        seconds["dask (processes)"] = median_seconds(
            lambda: chain.invoke(iterations, config), repeat
        )
    finally:
        dask.close()

    cluster = distributed.LocalCluster(
        processes=False,
        n_workers=1,
        threads_per_worker=os.cpu_count() or 1,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        worker_dashboard_address="127.0.0.1:0",
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        config = {"executor": DaskExecutor(client)}
        assert chain.invoke(1000, config) == expected
        seconds["dask (in-process threads)"] = median_seconds(
            lambda: chain.invoke(iterations, config), repeat
        )
    finally:
        client.close()
        cluster.close()

    results["seconds"] = seconds
    return results


def table(results: dict[str, Any]) -> str:
    seconds = results["seconds"]
    base = seconds["sequential"]
    lines = [
        f"{LEAVES} CPU-bound leaves of ~{LEAF_SECONDS} s on {results['cores']} cores "
        f"(median of the runs; pools warm)\n",
        "| executor | seconds | × sequential | target |",
        "|---|---|---|---|",
    ]
    for name, value in seconds.items():
        target = TARGETS.get(name, "")
        lines.append(f"| {name} | {value:.2f} | {value / base:.2f}× | {target} |")
    startup = f"\nstart-up, not in the table: process pool {results['processes_start_s']:.2f} s"
    if "dask_start_s" in results:
        startup += f", Dask LocalCluster {results['dask_start_s']:.2f} s"
    lines.append(startup)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per backend (median)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv if argv is not None else [])
    results = measure(args.repeat)
    if args.json:
        print(json.dumps(results))
    else:
        print("## Executors: CPU-bound leaves\n")
        print(table(results))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
