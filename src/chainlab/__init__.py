"""chainlab: learn, see and measure parallel execution of LLM-style chains.

The runnables mirror ``langchain_core.runnables``: code written against chainlab runs
on LangChain by changing the import.

>>> from chainlab import RunnableParallel, RunnableLambda
>>> chain = RunnableParallel(up=str.upper, n=len) | (lambda d: f"{d['up']}:{d['n']}")
>>> chain.invoke("abc")
'ABC:3'
"""

from chainlab import viz  # noqa: F401  (registers the drawings behind draw_*() and .plot())
from chainlab._version import __version__
from chainlab.engine import (
    AddableDict,
    BranchError,
    Cancelled,
    Listener,
    Runnable,
    RunnableAssign,
    RunnableBinding,
    RunnableConfig,
    RunnableEach,
    RunnableLambda,
    RunnableMap,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    RunnableRetry,
    RunnableSequence,
    RunnableTimeout,
    RunnableWithFallbacks,
    Span,
    abandoned_calls,
    asleep,
    cancelled,
    chain,
    coerce_to_runnable,
    listen,
    now,
    sleep,
    stopwatch,
)
from chainlab.executors import (
    DaskExecutor,
    IncompatibleWorkersError,
    ProcessExecutor,
    UnpicklableError,
)
from chainlab.sim.timescale import virtual_clock
from chainlab.trace import Comparison, Recording, compare, record
from chainlab.trace.progress import ProgressBars, progress


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext chainlab``: register the ``%%chain`` and ``%chain_graph`` magics."""
    from chainlab.jupyter import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext chainlab``: remove the magics, stop live widgets' threads."""
    from chainlab.jupyter import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "AddableDict",
    "BranchError",
    "Cancelled",
    "Comparison",
    "DaskExecutor",
    "IncompatibleWorkersError",
    "Listener",
    "LiveGraph",
    "ProcessExecutor",
    "ProgressBars",
    "Recording",
    "Runnable",
    "RunnableAssign",
    "RunnableBinding",
    "RunnableConfig",
    "RunnableEach",
    "RunnableLambda",
    "RunnableMap",
    "RunnableParallel",
    "RunnablePassthrough",
    "RunnablePick",
    "RunnableRetry",
    "RunnableSequence",
    "RunnableTimeout",
    "RunnableWithFallbacks",
    "Span",
    "UnpicklableError",
    "__version__",
    "abandoned_calls",
    "asleep",
    "cancelled",
    "chain",
    "coerce_to_runnable",
    "compare",
    "listen",
    "now",
    "progress",
    "record",
    "show",
    "show_batch",
    "sleep",
    "stopwatch",
    "virtual_clock",
]

# the widgets import ipywidgets: loaded on first use, so `import chainlab` stays light
_LAZY_WIDGETS = ("LiveGraph", "show", "show_batch")


def __getattr__(name: str) -> object:
    if name in _LAZY_WIDGETS:
        import chainlab.widgets

        return getattr(chainlab.widgets, name)
    raise AttributeError(f"module 'chainlab' has no attribute {name!r}")
