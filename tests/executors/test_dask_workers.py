"""DaskExecutor checks, on connecting, that every worker has this process's chainlab.

The mismatch is real, not mocked: two ``dask worker`` processes are started with a
fake ``chainlab`` first on their path, one that fails to import and one of another
version, and the executor's own check (``client.run`` of the probe) finds them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import chainlab
from chainlab import DaskExecutor, RunnableLambda
from chainlab.executors import IncompatibleWorkersError
from chainlab.executors.dask_check import check_workers
from chainlab.executors.probe import chainlab_on_worker

distributed = pytest.importorskip("distributed")

MISSING = 'raise ModuleNotFoundError("No module named \'chainlab\'", name="chainlab")\n'


def fake_chainlab(root: Path, init: str) -> Path:
    """A folder holding a package ``chainlab`` whose ``__init__`` is ``init``."""
    package = root / "chainlab"
    (package / "executors").mkdir(parents=True)
    (package / "__init__.py").write_text(init)
    (package / "executors" / "__init__.py").write_text("")
    (package / "executors" / "worker.py").write_text("")
    return root


def start_worker(address: str, name: str, path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "distributed.cli.dask_worker", address]
    command += ["--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
    command += ["--host", "127.0.0.1", "--death-timeout", "60"]
    env = {**os.environ, "PYTHONPATH": str(path)}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def mismatched_cluster(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """A scheduler on 127.0.0.1 with two worker processes: ``missing`` cannot import
    chainlab, ``old`` has chainlab 0.0.1. Yields ``(client, {name: address})``."""
    cluster = distributed.LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )
    client = distributed.Client(cluster, set_as_default=False)
    workers = [
        start_worker(cluster.scheduler_address, "missing", fake_chainlab(tmp_path / "a", MISSING)),
        start_worker(
            cluster.scheduler_address,
            "old",
            fake_chainlab(tmp_path / "b", '__version__ = "0.0.1"\n'),
        ),
    ]
    try:
        client.wait_for_workers(2, timeout=60)
        info = client.scheduler_info(n_workers=-1)["workers"]
        yield client, {w["name"]: address for address, w in info.items()}
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        client.close()
        cluster.close()


def test_workers_lacking_this_chainlab_are_named_before_any_call(
    mismatched_cluster: tuple[Any, dict[str, str]],
) -> None:
    client, address = mismatched_cluster
    executor = DaskExecutor(client.scheduler.address)
    with pytest.raises(IncompatibleWorkersError) as info:
        RunnableLambda(lambda x: x + 1).invoke(1, {"executor": executor})
    message = str(info.value)
    assert f"every Dask worker needs chainlab {chainlab.__version__}" in message
    assert f"{address['missing']} cannot import chainlab (ModuleNotFoundError: " in message
    assert f"{address['old']} has chainlab 0.0.1" in message
    assert executor._client is None  # not connected: the next call checks again
    assert not any(client.processing().values())  # no task was sent
    # a client of yours is checked the same way, and stays open
    with pytest.raises(IncompatibleWorkersError):
        RunnableLambda(lambda x: x).invoke(1, {"executor": DaskExecutor(client)})
    assert client.status == "running"


def test_workers_with_this_chainlab_pass(dask_inproc: DaskExecutor) -> None:
    client = dask_inproc.client
    answers = client.run(chainlab_on_worker)
    assert set(answers.values()) == {(chainlab.__version__, "")}
    check_workers(client)  # silent
    executor = DaskExecutor(client)
    assert RunnableLambda(lambda x: x + 1).invoke(1, {"executor": executor}) == 2
