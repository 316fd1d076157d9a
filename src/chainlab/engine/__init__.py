"""The parallel-runnable engine: LangChain's LCEL API, built to fan out fast.

Read in this order: ``base`` (the interface), ``sequence`` and ``parallel`` (composition),
``fanout`` (how branches run at once), ``leaf`` (where user code runs), ``run``
(what a call shares with its tree), ``limiter``, ``pool``, ``cancel``, ``tracing``
(docs/engine.md has the map).

``__all__`` is the whole API the other packages use: the runnables, and the extension
API that simulators, executors, traces, views and workflows build on: frames, leaf
running, spans and listeners, executors, cancel scopes, the graph and its views.
"""

from chainlab.engine import clock_threads as clock_threads  # follows langchain_core's pools
from chainlab.engine import interop
from chainlab.engine.base import Runnable, RunnableBinding, coerce_to_runnable
from chainlab.engine.cancel import (
    Cancelled,
    CancelScope,
    asleep,
    cancelled,
    current_scope,
    sleep,
)
from chainlab.engine.chunks import AddableDict
from chainlab.engine.config import RunnableConfig, merge_configs
from chainlab.engine.each import RunnableEach
from chainlab.engine.errors import BranchError
from chainlab.engine.executors import close_named_executors, register_executor
from chainlab.engine.fallbacks import RunnableWithFallbacks
from chainlab.engine.graph import Graph, GraphEdge, GraphNode, build_graph
from chainlab.engine.lambdas import RunnableLambda, call_with_config, chain
from chainlab.engine.leaf import abandon_call, arun_leaf, arun_sync_leaf, run_leaf
from chainlab.engine.parallel import RunnableMap, RunnableParallel
from chainlab.engine.passthrough import RunnableAssign, RunnablePassthrough, RunnablePick
from chainlab.engine.retry import RunnableRetry
from chainlab.engine.run import _RUN_KEY as RUN_KEY
from chainlab.engine.run import Frame, call_node, current_frame, run_status, task_lane
from chainlab.engine.run import _current as CURRENT_FRAME
from chainlab.engine.sequence import RunnableSequence
from chainlab.engine.stopwatch import now, stopwatch
from chainlab.engine.timeout import RunnableTimeout, abandoned_calls
from chainlab.engine.tracing import (
    Listener,
    Span,
    Tracer,
    add_listener,
    global_listeners,
    listen,
    preview,
    remove_listener,
)
from chainlab.engine.views import register_view, view

interop.install()  # chainlab runnables are LangChain runnables, once LangChain loads

# the runnables (chainlab re-exports these)
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
    "now",
    "sleep",
    "stopwatch",
]

# the extension API: frames and configs (run.py, config.py, lambdas.py)
__all__ += [
    "CURRENT_FRAME",
    "RUN_KEY",
    "Frame",
    "call_node",
    "call_with_config",
    "current_frame",
    "merge_configs",
    "task_lane",
]

# leaf running (leaf.py) and executors (executors.py)
__all__ += [
    "abandon_call",
    "arun_leaf",
    "arun_sync_leaf",
    "close_named_executors",
    "register_executor",
    "run_leaf",
]

# spans, listeners and the runs they hear begin and end (tracing.py, run.py)
__all__ += [
    "Tracer",
    "add_listener",
    "global_listeners",
    "preview",
    "remove_listener",
    "run_status",
]

# cancel scopes (cancel.py)
__all__ += [
    "CancelScope",
    "current_scope",
]

# the graph and the views registered from above (graph.py, views.py)
__all__ += [
    "Graph",
    "GraphEdge",
    "GraphNode",
    "build_graph",
    "register_view",
    "view",
]
