"""The parallel-runnable engine: LangChain's LCEL API, built to fan out fast.

Read in this order: ``base`` (the interface), ``sequence`` and ``parallel`` (composition),
``fanout`` (how branches run at once), ``leaf`` (where user code runs), ``run``
(what a call shares with its tree), ``limiter``, ``pool``, ``cancel``, ``tracing``.
"""

from chainlab.engine import interop
from chainlab.engine.base import Runnable, RunnableBinding, coerce_to_runnable
from chainlab.engine.cancel import Cancelled, asleep, cancelled, sleep
from chainlab.engine.chunks import AddableDict
from chainlab.engine.config import RunnableConfig
from chainlab.engine.each import RunnableEach
from chainlab.engine.errors import BranchError
from chainlab.engine.fallbacks import RunnableWithFallbacks
from chainlab.engine.lambdas import RunnableLambda, chain
from chainlab.engine.parallel import RunnableMap, RunnableParallel
from chainlab.engine.passthrough import RunnableAssign, RunnablePassthrough, RunnablePick
from chainlab.engine.retry import RunnableRetry
from chainlab.engine.sequence import RunnableSequence
from chainlab.engine.timeout import RunnableTimeout, abandoned_calls
from chainlab.engine.tracing import Listener, Span, listen

interop.install()  # chainlab runnables are LangChain runnables, once LangChain loads

__all__ = [
    "AddableDict",
    "BranchError",
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
    "RunnableTimeout",
    "RunnableWithFallbacks",
    "Span",
    "abandoned_calls",
    "asleep",
    "cancelled",
    "chain",
    "coerce_to_runnable",
    "listen",
    "sleep",
]
