"""chainlab: learn, see and measure parallel execution of LLM-style chains.

The runnables mirror ``langchain_core.runnables``: code written against chainlab runs
on LangChain by changing the import.

>>> from chainlab import RunnableParallel, RunnableLambda
>>> chain = RunnableParallel(up=str.upper, n=len) | (lambda d: f"{d['up']}:{d['n']}")
>>> chain.invoke("abc")
'ABC:3'
"""

from chainlab.engine import (
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
    RunnableWithFallbacks,
    Span,
    asleep,
    cancelled,
    chain,
    coerce_to_runnable,
    listen,
    sleep,
)

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "Listener",
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
    "RunnableWithFallbacks",
    "Span",
    "__version__",
    "asleep",
    "cancelled",
    "chain",
    "coerce_to_runnable",
    "listen",
    "sleep",
]
