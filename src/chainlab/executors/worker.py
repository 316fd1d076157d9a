"""The code that runs on the other side: in a worker process or on a Dask worker.

A leaf travels as bytes, ``cloudpickle.dumps((fn, args))``, and comes back as bytes,
``cloudpickle.dumps((ok, value, traceback, start_ns, end_ns, lane))``:

* the worker never raises: an exception is sent back as a value, so the caller
  re-raises the original type (and Dask logs no "Compute Failed" noise);
* ``start_ns`` / ``end_ns`` are wall-clock times (``time.time_ns()``) of the real
  execution, which the caller converts to its own clock for the span;
* ``lane`` names the worker (``"process-1234"``, ``"dask:tcp://127.0.0.1:40215"``, plus
  ``"#<thread>"`` on a Dask worker with several threads), so a timeline shows one lane
  per process.

This module is imported in every worker: keep its imports light.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
from typing import Any

import cloudpickle

from chainlab.executors.errors import RemoteError, UnpicklableError


def run_payload(payload: bytes, lane: str) -> bytes:
    """Unpickle ``(fn, args)``, call ``fn(*args)`` and pickle the outcome."""
    start = time.time_ns()
    try:
        fn, args = cloudpickle.loads(payload)
        value: Any = fn(*args)
        ok, tb = True, ""
    except BaseException as exc:  # sent back, re-raised by the caller
        value, ok, tb = exc, False, traceback.format_exc()
    end = time.time_ns()
    return _dump_outcome(ok, value, tb, start, end, lane)


def run_in_process(payload: bytes) -> bytes:
    """The entry point of a process-pool worker."""
    return run_payload(payload, f"process-{os.getpid()}")


def run_on_dask(payload: bytes) -> bytes:
    """The entry point on a Dask worker: the lane names the worker (and its thread,
    when the worker runs several at once)."""
    from distributed import get_worker

    quiet_dask_logs()
    try:
        worker = get_worker()
    except ValueError:  # not on a worker (dask's synchronous scheduler)
        return run_payload(payload, f"process-{os.getpid()}")
    lane = f"dask:{worker.address}"
    state = getattr(worker, "state", None)
    if state is not None and state.nthreads > 1:
        lane += f"#{threading.current_thread().name.rsplit('-', 1)[-1]}"
    return run_payload(payload, lane)


KEY_PREFIX = "chainlab-"
"""Dask keys of chainlab's tasks start with this."""

_NOISE = ("Compute Failed", "ended with CancelledError", "was cancelled")


class _DropTaskNoise(logging.Filter):
    """Drops Dask's log reports about chainlab's own tasks ("Compute Failed", a
    cancelled task's "ended with CancelledError"): the caller already gets the
    exception, and cancelling siblings is how fail-fast works."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        return not (KEY_PREFIX in message and any(n in message for n in _NOISE))


_filter = _DropTaskNoise()


def quiet_dask_logs() -> None:
    """Keep that noise out of notebooks (installed once per process, on both sides)."""
    for name in ("distributed.worker", "distributed.worker.state_machine"):
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


def ignore_sigint() -> None:
    """Pool worker initializer: Ctrl-C (or a Jupyter interrupt, which signals the whole
    process group) is for the caller, which stops waiting; it must not kill workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_worker(ready: Any) -> None:
    """Process-pool initializer: :func:`ignore_sigint`, then say "ready" (this pid) on
    the ``ready`` queue, so the pool can wait until every worker takes calls."""
    ignore_sigint()
    ready.put(os.getpid())


def _dump_outcome(ok: bool, value: Any, tb: str, start: int, end: int, lane: str) -> bytes:
    if not ok:
        value = _sendable(value)
    try:
        return cloudpickle.dumps((ok, value, tb, start, end, lane))
    except Exception as exc:  # only a result can fail here: errors were made sendable
        error = UnpicklableError(
            f"the leaf's result, a {type(value).__name__}, cannot be pickled to send it "
            f"back from the worker: {exc}"
        )
        return cloudpickle.dumps((False, error, tb, start, end, lane))


def _sendable(exc: BaseException) -> BaseException:
    """``exc``, or the closest exception that survives the trip back: the same type
    rebuilt from its args without the attributes that do not pickle, else a
    :class:`RemoteError` naming the type."""
    if _round_trips(exc):
        return exc
    try:
        clone = type(exc).__new__(type(exc), *exc.args)
        clone.args = exc.args
        for name, attr in vars(exc).items():
            if _round_trips(attr):
                setattr(clone, name, attr)
        if _round_trips(clone):
            return clone
    except Exception:
        pass
    return RemoteError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")


def _round_trips(obj: Any) -> bool:
    try:
        cloudpickle.loads(cloudpickle.dumps(obj))
    except Exception:
        return False
    return True
