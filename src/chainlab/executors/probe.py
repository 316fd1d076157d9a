"""What a Dask worker is asked before chainlab sends it leaf calls.

Leaf calls run ``chainlab.executors.worker.run_on_dask``, which Dask pickles *by
reference*: a worker without chainlab fails every call with ``ModuleNotFoundError``.
This module is pickled *by value* instead (``dask_check.py`` registers it with cloudpickle),
so the probe runs, and answers, even where chainlab is missing. Keep it free of
chainlab imports at module level.
"""

from __future__ import annotations


def chainlab_on_worker() -> tuple[str | None, str]:
    """``(version, "")`` of the chainlab this worker would use, or ``(None, why)``."""
    try:
        import chainlab.executors.worker  # what leaf calls need; binds `chainlab` too
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    # that import bound the name ``chainlab`` to whatever chainlab the worker has (maybe an
    # older one, without chainlab._version): read its version off the package
    return str(getattr(chainlab, "__version__", "?")), ""
