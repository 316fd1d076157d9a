"""``compare(chain, input)``: the same chain run one leaf at a time, then in parallel.

The sequential run adds ``max_concurrency=1`` to the config: one global limit over the
whole run tree, so exactly one leaf runs at any moment. The parallel run uses the
config as given. Both are recorded, so the comparison can say *why* parallel won (or
did not): speedup = sequential wall / parallel wall, efficiency = speedup / lanes used,
and the ceiling = work / critical path of the parallel run, the best any number of
workers could do with the same bars. The ceiling comes from one run and the speedup from
two, so noise (a slower sequential run, a warm-up) can put the speedup a little above
the ceiling; the summary says so when it happens.

>>> import chainlab
>>> def slow(x):
...     chainlab.sleep(0.02)  # a simulated 20 ms call
...     return x
>>> with chainlab.virtual_clock():  # simulated time: exact figures, on any machine
...     cmp = chainlab.compare(chainlab.RunnableParallel(a=slow, b=slow, c=slow), 1)
>>> cmp.output
{'a': 1, 'b': 1, 'c': 1}
>>> round(cmp.speedup, 3), round(cmp.ceiling, 3)
(3.0, 3.0)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chainlab.engine import coerce_to_runnable, merge_configs, view
from chainlab.trace.recording import Recording
from chainlab.trace.runs import median_run, run_on_fresh_loop

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from chainlab.trace.analysis import Failure


class Comparison:
    """A sequential and a parallel recording of the same chain on the same input.

    Attributes:
        sequential / parallel: the two :class:`Recording` objects (the median runs).
        sequential_s / parallel_s: their wall times in seconds.
        speedup: ``sequential_s / parallel_s``.
        efficiency: ``speedup / lanes used`` in the parallel run.
        ceiling: the parallel run's work / critical path.
        output: the parallel run's output.
        error: the first exception a run raised (``compare(..., raise_errors=False)``).
        sequential_runs_s / parallel_runs_s: every run's wall time (``repeat`` > 1).
    """

    def __init__(
        self,
        name: str,
        sequential: list[Recording],
        parallel: list[Recording],
        output: Any,
    ) -> None:
        self.name = name
        self.sequential_runs_s = [r.wall_s for r in sequential]
        self.parallel_runs_s = [r.wall_s for r in parallel]
        self.sequential = median_run(sequential)
        self.parallel = median_run(parallel)
        self.output = output
        self.error: Exception | None = None

    @property
    def sequential_s(self) -> float:
        return self.sequential.wall_s

    @property
    def parallel_s(self) -> float:
        return self.parallel.wall_s

    @property
    def speedup(self) -> float:
        return self.sequential_s / self.parallel_s if self.parallel_s > 0 else 0.0

    @property
    def lanes_used(self) -> int:
        return self.parallel.lanes_used

    @property
    def efficiency(self) -> float:
        return self.speedup / self.lanes_used if self.lanes_used else 0.0

    @property
    def ceiling(self) -> float:
        return self.parallel.ceiling

    @property
    def failure(self) -> Failure | None:
        """Where a run failed (the parallel run's failure first), or None: a failed
        comparison has no speedup to speak of, and its views say so."""
        return self.parallel.analysis().failure or self.sequential.analysis().failure

    @property
    def failed_run(self) -> str | None:
        """``"parallel"`` or ``"sequential"``: the run :attr:`failure` is about."""
        if self.parallel.analysis().failure is not None:
            return "parallel"
        return "sequential" if self.sequential.analysis().failure is not None else None

    def summary_lines(self) -> list[str]:
        runs = len(self.parallel_runs_s)
        median = f" (median of {runs} runs)" if runs > 1 else ""
        failure = self.failure
        if failure is not None:
            return [
                f"{self.name}{median}",
                f"  {self.failed_run} run: {failure.describe()}",
                f"  ({failure.status} after {failure.after_s:.3f} s: no speedup to measure)",
            ]
        lanes = "lane" if self.lanes_used == 1 else "lanes"
        return [
            f"{self.name}{median}",
            f"  sequential  {self.sequential_s:8.3f} s   max_concurrency=1",
            f"  parallel    {self.parallel_s:8.3f} s   {self.lanes_used} {lanes} at once",
            f"  speedup     {self.speedup:8.2f} x   = sequential / parallel",
            f"  efficiency  {self.efficiency:8.0%}     = speedup / lanes",
            f"  ceiling     {self.ceiling:8.2f} x   = work / critical path "
            f"({self.parallel.work_s:.3f} s / {self.parallel.critical_s:.3f} s)",
            *self._above_ceiling_note(),
        ]

    def _above_ceiling_note(self) -> list[str]:
        if self.speedup <= self.ceiling * 1.02:
            return []
        return [
            "  (speedup above the ceiling: the sequential run's steps took longer than the "
            "parallel run's - noise or warm-up; try repeat=3)"
        ]

    def __repr__(self) -> str:
        return "\n".join(["Comparison: " + self.summary_lines()[0], *self.summary_lines()[1:]])

    def plot(self, **kwargs: Any) -> Figure:
        """Sequential above parallel on one time axis, with speedup, efficiency, ceiling."""
        return view("plot_comparison")(self, **kwargs)


def compare(
    chain: Any,
    input: Any,
    *,
    config: Mapping[str, Any] | None = None,
    repeat: int = 1,
    driver: str = "invoke",
    engines: Sequence[str] | None = None,
    raise_errors: bool = True,
) -> Any:
    """Run ``chain`` sequentially (``max_concurrency=1``) and in parallel; compare.

    With ``engines=("langchain_core", "chainlab")`` a langchain_core chain runs once on
    each engine instead (see :mod:`chainlab.trace.engines`) and an
    :class:`~chainlab.trace.engines.EngineComparison` is returned.

    Args:
        chain: a runnable (or anything ``coerce_to_runnable`` accepts: a dict, a
            function), or a langchain_core runnable (run by LangChain, with its own
            ``max_concurrency=1``, and recorded through the LangChain bridge).
        input: the input of both runs.
        config: the config of the parallel run; the sequential run adds
            ``max_concurrency=1`` to it.
        repeat: run each mode this many times (alternating) and keep the median run.
        driver: ``"invoke"`` (threads) or ``"ainvoke"`` (asyncio tasks; run on an event
            loop in a helper thread, so it works inside Jupyter too).
        raise_errors: re-raise the chain's exception (default). With False, a failing
            run is recorded and the comparison returned: its :attr:`~Comparison.failure`
            says where it failed, its plot says so instead of a speedup, and its
            ``output`` is None (``error`` holds the exception).

    Returns:
        A :class:`Comparison` (an ``EngineComparison`` with ``engines``).
    """
    if engines is not None:
        from chainlab.trace.engines import compare_engines

        return compare_engines(
            chain, input, engines=engines, config=config, repeat=repeat, driver=driver
        )
    target = _Target(chain, config)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    if driver not in ("invoke", "ainvoke"):
        raise ValueError(f"driver must be 'invoke' or 'ainvoke', got {driver!r}")
    sequential: list[Recording] = []
    parallel: list[Recording] = []
    outputs: list[Any] = []
    errors: list[Exception] = []
    for _ in range(repeat):
        for limit, runs in ((1, sequential), (None, parallel)):
            rec = Recording("sequential" if limit == 1 else "parallel")
            cfg = target.config(rec, limit)
            try:
                if driver == "invoke":
                    output = target.runnable.invoke(input, cfg)
                else:
                    run = functools.partial(target.runnable.ainvoke, input, cfg)
                    output = run_on_fresh_loop(run)
            except Exception as exc:
                if raise_errors:
                    raise
                errors.append(exc)
                output = None
            runs.append(rec)
            if limit is None:
                outputs.append(output)
    middle = parallel.index(median_run(parallel))
    result = Comparison(target.name, sequential, parallel, outputs[middle])
    result.error = errors[0] if errors else None
    return result


async def acompare(
    chain: Any, input: Any, *, config: Mapping[str, Any] | None = None, repeat: int = 1
) -> Comparison:
    """:func:`compare` with ``ainvoke``, awaited on the running loop (``await acompare(...)``)."""
    target = _Target(chain, config)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    sequential: list[Recording] = []
    parallel: list[Recording] = []
    outputs: list[Any] = []
    for _ in range(repeat):
        for limit, runs in ((1, sequential), (None, parallel)):
            rec = Recording("sequential" if limit == 1 else "parallel")
            output = await target.runnable.ainvoke(input, target.config(rec, limit))
            runs.append(rec)
            if limit is None:
                outputs.append(output)
    middle = parallel.index(median_run(parallel))
    return Comparison(target.name, sequential, parallel, outputs[middle])


class _Target:
    """What compare runs, and the config of each run: a chainlab runnable records
    through the config's callbacks; a langchain_core one through the LangChain bridge."""

    def __init__(self, chain: Any, config: Mapping[str, Any] | None) -> None:
        from chainlab.trace.lcchain import as_langchain_chain

        lc = as_langchain_chain(chain)
        # a LangChain chain: its listeners (this recording, a live graph) hear it
        # through the LangChain bridge (chainlab.trace.lcchain)
        self.runnable: Any = lc if lc is not None else coerce_to_runnable(chain)
        self.name = str(self.runnable.get_name())
        self.base = dict(config or {})

    def config(self, rec: Recording, limit: int | None) -> dict[str, Any]:
        extra: dict[str, Any] = {"callbacks": [rec]}
        if limit is not None:  # LangChain's limit is per level: 1 at every level is sequential
            extra["max_concurrency"] = limit
        return merge_configs(self.base, extra)
