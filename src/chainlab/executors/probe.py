"""What a Dask worker is asked before chainlab sends it leaf calls.

Leaf calls run ``chainlab.executors.worker.run_on_dask``, which Dask pickles *by
reference*: a worker without chainlab fails every call with ``ModuleNotFoundError``.
This module is pickled *by value* instead (``dask_check.py`` registers it with cloudpickle),
so the probe runs, and answers, even where chainlab is missing. Keep it free of
chainlab imports at module level.
"""

from __future__ import annotations

import sys


def chainlab_on_worker() -> tuple[str | None, str]:
    """``(version, "")`` of the chainlab this worker would use, or ``(None, why)``."""
    try:
        pass  # what leaf calls need (and the worker's chainlab)
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    # the version of whatever chainlab that import found (maybe an older one, with no
    # chainlab._version): read off the loaded package, not through this chainlab's API
    return str(getattr(sys.modules["chainlab"], "__version__", "?")), ""
