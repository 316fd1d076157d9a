"""DaskExecutor: leaf calls on a Dask ``distributed`` cluster, for more than one machine.

>>> from chainlab import DaskExecutor, RunnableParallel
>>> from distributed import Client, LocalCluster
>>> cluster = LocalCluster(processes=False, dashboard_address=None, n_workers=1)
>>> dask = DaskExecutor(Client(cluster, set_as_default=False))
>>> RunnableParallel(a=str.upper, b=len).invoke("abc", config={"executor": dask})
{'a': 'ABC', 'b': 3}
>>> dask.client.close(); cluster.close()

Only leaf calls go to Dask; the chain's structure, its limits, tracing and
cancellation stay in the calling process. Each leaf call is one Dask task:

* ``pure=False`` and a fresh key every time: two identical model calls are two calls,
  never one cached result;
* the function and its input travel packed in one argument, so no keyword of yours
  can collide with Dask's own (``key``, ``workers``, ``retries``, ``pure``...);
* exceptions come back with their original type and the remote traceback; the
  worker reports no "Compute Failed" (the task itself never fails);
* every worker needs the caller's chainlab (the task runs
  ``chainlab.executors.worker.run_on_dask``): on connecting to a cluster you gave it,
  the executor asks every worker and raises :class:`IncompatibleWorkersError` naming
  those that lack chainlab or have another version (see ``dask_check.py``);
* cancelling is best effort: a task no worker has yet is dropped; one a worker already
  has runs to its end and its result is thrown away. Until then it counts as running
  work (``abandoned_calls()``, its ``max_concurrency`` slot), as a thread would.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
import weakref
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from chainlab.executors.dask_check import check_workers
from chainlab.executors.remote import RemoteExecutor
from chainlab.executors.worker import KEY_PREFIX, quiet_dask_logs, run_on_dask

if TYPE_CHECKING:
    from chainlab.engine import Frame


class DaskExecutor(RemoteExecutor):
    """Run leaf calls as tasks of a Dask cluster.

    Args:
        client_or_address: a ``distributed.Client``, a cluster object, or a scheduler
            address (``"tcp://10.0.0.5:8786"``). None (default): start a
            ``LocalCluster`` on this machine, one single-threaded worker process per
            core, on 127.0.0.1 with no dashboard, when the first call arrives.

    Clients and clusters you pass in stay yours: :meth:`close` only closes what the
    executor started itself.
    """

    where = "Dask"

    def __init__(self, client_or_address: Any = None) -> None:
        self._spec = client_or_address
        self._client: Any = None
        self._cluster: Any = None
        self._owns_client = False
        self._executor: Any = None  # distributed's ClientExecutor
        self._keys: weakref.WeakKeyDictionary[Future[bytes], str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        spec = self._spec
        if spec is None:
            return "DaskExecutor()"
        return f"DaskExecutor({spec if isinstance(spec, str) else type(spec).__name__!r})"

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connected, or the local cluster started, on first
        use)."""
        self._connect()
        return self._client

    def close(self) -> None:
        """Close the client and cluster this executor started (not ones passed in)."""
        with self._lock:
            executor, client, cluster = self._executor, self._client, self._cluster
            owns = self._owns_client
            self._executor = self._client = self._cluster = None
        if executor is not None:
            executor.shutdown(wait=False)
        if owns and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def _submit(self, payload: bytes, frame: Frame) -> Future[bytes]:
        executor = self._connect()
        key = f"{KEY_PREFIX}{_slug(frame.segment)}-{uuid.uuid4().hex}"
        future: Future[bytes] = executor.submit(run_on_dask, payload, key=key)
        self._keys[future] = key
        return future

    def _cancel(self, future: Future[bytes]) -> None:
        """Drop the task unless a worker has it (in a thread: this asks the scheduler)."""
        key, client = self._keys.get(future), self._client
        if key is None or client is None:
            future.cancel()
            return
        threading.Thread(
            target=_drop_unless_started, args=(client, future, key), daemon=True
        ).start()

    def _connect(self) -> Any:
        with self._lock:
            if self._executor is None:
                client, cluster, owns = _open(self._spec)
                if self._spec is not None:  # a cluster we did not start: check it
                    try:
                        check_workers(client)
                    except BaseException:
                        if owns:
                            client.close()
                        raise
                self._client, self._cluster, self._owns_client = client, cluster, owns
                self._executor = client.get_executor(pure=False)
                quiet_dask_logs()  # for in-process workers
            return self._executor


def _open(spec: Any) -> tuple[Any, Any, bool]:
    """``(client, cluster we started or None, whether we own the client)``."""
    import distributed

    if spec is None:
        cluster = distributed.LocalCluster(
            n_workers=os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard, and its HTTP server on a free port of 127.0.0.1 (not :8787)
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
        return distributed.Client(cluster, set_as_default=False), cluster, True
    if isinstance(spec, distributed.Client):
        if spec.asynchronous:
            raise ValueError(
                "DaskExecutor needs a synchronous Client (Client(..., asynchronous=False)); "
                "chainlab's ainvoke already awaits it without blocking the event loop"
            )
        return spec, None, False
    if isinstance(spec, str) or hasattr(spec, "scheduler_address"):
        return distributed.Client(spec, set_as_default=False), None, True
    raise TypeError(
        "DaskExecutor expects a distributed.Client, a cluster or a scheduler address, "
        f"got {type(spec).__name__}: {spec!r:.60}"
    )


def _drop_unless_started(client: Any, future: Future[bytes], key: str) -> None:
    """Cancel the task if no worker has it yet. One a worker has keeps its future
    pending until it really ends: cancelling it would mark it done while it runs.
    (Best effort: a task a worker takes between the question and the cancel runs on
    uncounted.)"""
    try:
        on_workers = any(key in keys for keys in client.processing().values())
    except Exception:  # the client is closing: nothing runs for us any more
        on_workers = False
    if not on_workers:
        future.cancel()


def _slug(segment: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", segment)[:40] or "leaf"
