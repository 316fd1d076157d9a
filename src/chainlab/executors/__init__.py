"""Where leaf calls run when threads are not enough: other processes, other machines.

The engine has one executor boundary (``chainlab.engine.executors``): a sync leaf call
goes to the executor named by the ``executor`` config key. Three backends:

==============================  ============================================  ==========
``executor=``                   runs each leaf call                           for
==============================  ============================================  ==========
``"threads"`` (default)         in the engine thread that reached it          I/O-bound
``"processes"`` or              in a reused pool of worker processes          CPU-bound
:class:`ProcessExecutor(n)`
``"dask"`` or                   as a task on a Dask ``distributed`` cluster   > 1 machine
:class:`DaskExecutor(client)`
==============================  ============================================  ==========

Choose per run (``chain.invoke(x, config={"executor": "processes"})``) or per runnable
(``step.with_config(executor=ProcessExecutor(4))``; the innermost binding wins).

Whatever the backend, orchestration stays in the calling process: fan-out,
``max_concurrency`` (one global limit), tracing, fail-fast and cancellation. Only leaf
calls travel, so nested parallels never deadlock on worker slots. What differs:

* the function and its input must pickle (cloudpickle: lambdas and notebook functions
  are fine; locks, sockets and generators are not): :class:`UnpicklableError` names
  the branch and the object, before anything is sent;
* a remote leaf works on copies: changing a global or a captured list there is not
  seen by the caller;
* ``chainlab.cancelled()`` is False on the other side: cancelling a running remote call
  is best effort (one not started yet is dropped). One that started runs to its end
  and counts as running work until then, as a thread would: it keeps its
  ``max_concurrency`` slot, and once the caller stopped waiting for it (a
  ``with_timeout``, a cancelled task under ``ainvoke``, Ctrl-C) ``abandoned_calls()``
  counts it until its future is done;
* every Dask worker needs the caller's chainlab (same version): checked on connecting;
* a remote leaf's span gets the real start and end of the remote execution and a lane
  naming the worker (``"process-1234"``, ``"dask:tcp://127.0.0.1:40215"``), so a
  timeline shows the processes as lanes (listeners' ``on_start`` still sees the local
  thread; ``on_end`` sees the remote lane and times);
* ``async def`` leaves always run on the calling process's event loop.
"""

from chainlab.engine import register_executor
from chainlab.executors.dask import DaskExecutor
from chainlab.executors.errors import (
    IncompatibleWorkersError,
    RemoteError,
    RemoteTraceback,
    UnpicklableError,
)
from chainlab.executors.processes import ProcessExecutor
from chainlab.executors.remote import RemoteExecutor

register_executor("processes", ProcessExecutor)
register_executor("dask", DaskExecutor)

__all__ = [
    "DaskExecutor",
    "IncompatibleWorkersError",
    "ProcessExecutor",
    "RemoteError",
    "RemoteExecutor",
    "RemoteTraceback",
    "UnpicklableError",
]
