"""The same LangChain chain on both engines, on one time axis.

``chainlab.compare(chain, x, engines=("langchain_core", "chainlab"))`` runs a
langchain_core chain as it is (LangChain's engine: a thread pool per parallel level,
``max_concurrency`` per level) and rebuilt from chainlab's runnables
(:func:`chainlab.trace.lcconvert.to_chainlab`: one pool, one global limit), with the
same leaves, and records both. The plot puts the two timelines under one time axis, so
a lesson can show LangChain's waves of threads next to chainlab's single wave.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chainlab.engine import merge_configs, view
from chainlab.trace.lcchain import LangChainChain, as_langchain_chain
from chainlab.trace.lcconvert import to_chainlab
from chainlab.trace.recording import Recording
from chainlab.trace.runs import median_run, run_on_fresh_loop

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ENGINES = ("langchain_core", "chainlab")


class EngineComparison:
    """One chain, one input, each engine's (median) run.

    Attributes:
        name: the chain's name.
        engines: the engines, in the order asked.
        recordings: engine -> its :class:`Recording`; outputs: engine -> its output.
        walls_s: engine -> wall seconds; runs_s: engine -> every run's wall seconds.
    """

    def __init__(
        self,
        name: str,
        runs: Mapping[str, list[Recording]],
        outputs: Mapping[str, Any],
    ) -> None:
        self.name = name
        self.engines = tuple(runs)
        self.runs_s = {e: [r.wall_s for r in recs] for e, recs in runs.items()}
        self.recordings = {e: median_run(recs) for e, recs in runs.items()}
        self.outputs = dict(outputs)
        self.walls_s = {e: rec.wall_s for e, rec in self.recordings.items()}

    @property
    def output(self) -> Any:
        """The output of the last engine's run (the engines agree on it)."""
        return self.outputs[self.engines[-1]]

    @property
    def speedup(self) -> float:
        """First engine's wall / last engine's wall (> 1: the last engine was faster)."""
        first, last = self.walls_s[self.engines[0]], self.walls_s[self.engines[-1]]
        return first / last if last > 0 else 0.0

    def summary_lines(self) -> list[str]:
        lines = [f"{self.name}: engines compared"]
        for engine in self.engines:
            rec = self.recordings[engine]
            lines.append(
                f"  {engine:<15} {rec.wall_s:8.3f} s   {rec.lanes_used} lanes at once, "
                f"ceiling {rec.ceiling:.2f}x"
            )
        lines.append(f"  ratio           {self.speedup:8.2f} x   = {' / '.join(self.engines)}")
        return lines

    def __repr__(self) -> str:
        return "EngineComparison: " + "\n".join(self.summary_lines())

    def plot(self, **kwargs: Any) -> Figure:
        """Each engine's timeline, one above the other, on one shared time axis."""
        return view("plot_engines")(self, **kwargs)


def compare_engines(
    chain: Any,
    input: Any,
    *,
    engines: Sequence[str] = ENGINES,
    config: Mapping[str, Any] | None = None,
    repeat: int = 1,
    driver: str = "invoke",
) -> EngineComparison:
    """Run a langchain_core ``chain`` on each of ``engines``; see the module docstring."""
    lc = as_langchain_chain(chain)
    if lc is None:
        raise TypeError(
            f"engines=... compares LangChain's engine with chainlab's on a langchain_core "
            f"chain; got {type(chain).__name__} (a chainlab chain runs on chainlab only)"
        )
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise ValueError(f"engines must be taken from {ENGINES}, got {tuple(engines)!r}")
    runnables: dict[str, Any] = {
        e: lc if e == "langchain_core" else _native(lc) for e in dict.fromkeys(engines)
    }
    runs: dict[str, list[Recording]] = {e: [] for e in runnables}
    outputs: dict[str, Any] = {}
    for _ in range(repeat):
        for engine, runnable in runnables.items():
            rec = Recording(engine)
            cfg = merge_configs(config or {}, {"callbacks": [rec]})
            if driver == "invoke":
                outputs[engine] = runnable.invoke(input, cfg)
            else:
                outputs[engine] = run_on_fresh_loop(functools.partial(runnable.ainvoke, input, cfg))
            runs[engine].append(rec)
    return EngineComparison(lc.get_name(), runs, outputs)


def _native(lc: LangChainChain) -> Any:
    return to_chainlab(lc.runnable)
