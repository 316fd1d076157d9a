"""The executor boundary: where a leaf call runs.

Orchestration (fan-out, limits, tracing, cancellation) always stays in the calling
process; only leaf calls travel. An executor is chosen by the ``executor`` config key:

* ``"threads"`` (default): the leaf runs in the engine's thread that reached it.
* ``"processes"`` / ``"dask"``: registered by ``chainlab.executors`` when it is
  imported (``import chainlab`` does), which also has the ``ProcessExecutor`` and
  ``DaskExecutor`` classes. The engine never imports that layer itself.
* any object with ``call(frame, fn, args)`` and ``acall(frame, fn, args)``: see
  :class:`LeafExecutor`.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable

    from chainlab.engine.run import Frame


@runtime_checkable
class LeafExecutor(Protocol):
    """Runs one leaf call somewhere else (another process, another machine)."""

    def call(self, frame: Frame, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run ``fn(*args)`` and return its result; blocks the calling thread."""
        ...

    async def acall(self, frame: Frame, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run ``fn(*args)`` and return its result without blocking the event loop."""
        ...


_NAMED: dict[str, Callable[[], LeafExecutor]] = {}


def register_executor(name: str, factory: Callable[[], LeafExecutor]) -> None:
    """Make ``config={"executor": name}`` use the executor ``factory()`` builds (once)."""
    _NAMED[name] = factory


_instances: dict[str, LeafExecutor] = {}


def close_named_executors() -> None:
    """Stop the executors created by name (``"processes"``, ``"dask"``): their worker
    processes end now instead of being reaped at exit (no leaked-semaphore warnings).
    They start again on the next call that names them."""
    while _instances:
        _, executor = _instances.popitem()
        close = getattr(executor, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # shutting down: nothing useful to do with the error
                pass


def resolve_executor(spec: Any) -> LeafExecutor:
    """The executor object for a config's ``executor`` value."""
    if isinstance(spec, str):
        if spec not in _instances:
            if spec not in _NAMED:
                known = ", ".join(sorted(["threads", *_NAMED]))
                hint = "" if _NAMED else " ('processes' and 'dask' come with chainlab.executors)"
                raise ValueError(f"unknown executor {spec!r}; known executors: {known}{hint}")
            if not _instances:
                atexit.register(close_named_executors)
            _instances[spec] = _NAMED[spec]()
        return _instances[spec]
    if isinstance(spec, LeafExecutor):
        return spec
    raise TypeError(
        f"executor must be a name ('threads', ...) or an object with call() and acall(), "
        f"got {spec!r}"
    )
