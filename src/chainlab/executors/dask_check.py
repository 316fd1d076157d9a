"""Before the first leaf call: does every Dask worker have this chainlab?

A leaf call runs ``chainlab.executors.worker.run_on_dask`` on a worker, and Dask
pickles that function by reference: a worker without chainlab (or with another
version) fails every call with ``ModuleNotFoundError`` (or worse, subtly), and Dask
logs "Compute Failed" for each. :func:`check_workers` asks every worker once, with
``client.run``, and names the ones that would fail.
"""

from __future__ import annotations

from typing import Any

import cloudpickle

from chainlab.executors import probe
from chainlab.executors.errors import IncompatibleWorkersError

# Dask then pickles the probe by value: it runs on workers that lack chainlab
cloudpickle.register_pickle_by_value(probe)


def check_workers(client: Any) -> None:
    """Raise :class:`IncompatibleWorkersError` naming the workers of ``client``'s
    cluster that cannot import chainlab or have another version of it.

    Workers that join later are not checked (a worker that lacks chainlab then fails
    its calls with ``ModuleNotFoundError``).
    """
    from chainlab._version import __version__

    answers = client.run(probe.chainlab_on_worker, on_error="return")
    problems = []
    for address, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            problems.append(f"{address} did not answer ({type(answer).__name__}: {answer})")
            continue
        version, why = answer
        if version is None:
            problems.append(f"{address} cannot import chainlab ({why})")
        elif version != __version__:
            problems.append(f"{address} has chainlab {version}")
    if problems:
        raise IncompatibleWorkersError(
            f"every Dask worker needs chainlab {__version__}, the version of this process "
            "(leaf calls run chainlab.executors.worker there), but:\n  "
            + "\n  ".join(problems)
            + f"\nInstall chainlab=={__version__} where the workers run (their environment "
            "or image), restart them, then call again."
        )
