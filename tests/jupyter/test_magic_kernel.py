"""%%chain in a real kernel: what the notebook shows, and Ctrl-C during a run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

pytestmark = pytest.mark.notebook

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """\
%load_ext chainlab
import time
import chainlab
from chainlab import RunnableLambda

def nap(x):
    chainlab.sleep(0.05)
    return x
"""


def execute(*cells: str) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), *(nbformat.v4.new_code_cell(c) for c in cells)]
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True).execute()
    return nb


def mimes(cell: Any) -> set[str]:
    return {m for out in cell.outputs for m in out.get("data", {})}


def text(cell: Any) -> str:
    parts = [out.get("text", "") for out in cell.outputs if out.output_type == "stream"]
    parts += [out["data"].get("text/plain", "") for out in cell.outputs if "data" in out]
    return "\n".join(parts)


def test_default_view_is_the_dashboard_with_a_static_fallback() -> None:
    nb = execute("%%chain --input 3 -o rep\n{'a': nap, 'b': nap, 'c': nap}", "print(rep)")
    cell = nb.cells[1]
    assert WIDGET in mimes(cell)
    assert "text/html" in mimes(cell)  # the picture for places without a kernel
    assert "output={'a': 3, 'b': 3, 'c': 3}" in text(nb.cells[2])


def test_compare_mode_shows_the_comparison_figure() -> None:
    nb = execute(
        # 0.3 s branches: a busy kernel's overhead cannot eat the 3x (1.5x is asserted)
        "def doze(x):\n    chainlab.sleep(0.3)\n    return x",
        "%%chain --input 3 --mode compare --view timeline -o rep\n"
        "{'a': doze, 'b': doze, 'c': doze}",
        "print(round(rep.comparison.speedup, 1) > 1.5)",
    )
    assert "image/png" in mimes(nb.cells[2])
    assert "True" in text(nb.cells[3])


def test_graph_view_and_async_mode() -> None:
    nb = execute(
        "%%chain --async --input 2 --view graph -o arep\n"
        "async def twice(x):\n    await chainlab.asleep(0.02)\n    return 2 * x\n"
        "{'a': twice, 'b': twice}",
        "print(arep.output)",
    )
    assert WIDGET in mimes(nb.cells[1])
    assert "image/svg+xml" in mimes(nb.cells[1])
    assert "{'a': 4, 'b': 4}" in text(nb.cells[2])
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    graphs = [s["state"] for s in states.values() if s["state"].get("svg")]
    assert graphs
    assert {v["state"] for v in graphs[-1]["states"].values()} == {"done"}


def test_branch_error_shows_branch_and_user_frames_and_raise_fails_the_cell() -> None:
    bad = "def fussy(x):\n    raise ValueError('no rhyme')\n{'ok': nap, 'poem': fussy}"
    nb = execute(f"%%chain --input 1 --view none\n{bad}")
    stderr = text(nb.cells[1])
    assert "in branch 'poem'" in stderr
    assert "in fussy" in stderr
    nb2 = nbformat.v4.new_notebook()
    raising = f"%%chain --input 1 --raise --view none\n{bad}"
    nb2.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(raising)]
    with pytest.raises(Exception, match="no rhyme"):
        NotebookClient(nb2, timeout=60, kernel_name="python3").execute()


@pytest.fixture
def kernel() -> Iterator[tuple[KernelManager, Any]]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    yield km, client
    client.stop_channels()
    km.shutdown_kernel(now=True)


# An interrupted cell is sent with stop_on_error=False: by default the kernel aborts the
# requests that reach it while it handles that cell's error, and on a busy machine the
# check sent after the error reply was one of them ('aborted').


def run(client: Any, code: str, timeout: float = 30) -> dict[str, Any]:
    msg_id = client.execute(code)
    return reply_to(client, msg_id, timeout)


def reply_to(client: Any, msg_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def wait_for_prints(client: Any, text: str, count: int, timeout: float = 60) -> None:
    """Read IOPub until ``text`` was printed ``count`` times: the branches are running
    (a fixed sleep is not enough on a loaded machine: the cell may not have started)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < count:
        msg = client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["msg_type"] == "stream":
            seen += msg["content"]["text"].count(text)


def test_kernel_interrupt_cancels_the_branches_and_the_kernel_stays_usable(
    kernel: tuple[KernelManager, Any],
) -> None:
    km, client = kernel
    assert run(client, SETUP)["status"] == "ok"
    cell = (
        "%%chain --input 1 --view graph -o rep\n"
        "def slow(x):\n    print('started', flush=True)\n    chainlab.sleep(30)\n"
        "    return x\n"
        "{'a': slow, 'b': slow, 'c': slow}"
    )
    msg_id = client.execute(cell, stop_on_error=False)  # see above run()
    wait_for_prints(client, "started", 3)
    time.sleep(0.3)  # the branches are running
    start = time.monotonic()
    km.interrupt_kernel()
    reply = reply_to(client, msg_id, timeout=20)
    assert reply["status"] == "error"
    assert reply["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - start < 10  # not the 30 s the branches would take
    check = (
        "time.sleep(0.5)\n"
        "leaves = [s.status for s in rep.recording.spans if s.is_leaf]\n"
        "assert leaves == ['cancelled'] * 3, leaves\n"
        "shown = {k: rep.view.states[k]['state'] for k in ('root/a', 'root/b', 'root/c')}\n"
        "assert set(shown.values()) == {'cancelled'}, shown\n"
        "print('usable', 1 + 1)"
    )
    after = run(client, check)
    assert after["status"] == "ok", after


def test_kernel_interrupt_cancels_an_async_run_at_once(
    kernel: tuple[KernelManager, Any],
) -> None:
    km, client = kernel
    assert (
        run(client, SETUP + "import asyncio, signal\nbefore = signal.getsignal(2)")["status"]
        == "ok"
    )
    cell = (
        "%%chain --async --input 1 --view graph -o arep\n"
        "async def slow(x):\n    print('started', flush=True)\n"
        "    await asyncio.sleep(30)\n    return x\n"
        "{'a': slow, 'b': slow}"
    )
    msg_id = client.execute(cell, stop_on_error=False)  # see above run()
    wait_for_prints(client, "started", 2)
    time.sleep(0.3)  # both branches are awaiting
    start = time.monotonic()
    km.interrupt_kernel()
    reply = reply_to(client, msg_id, timeout=25)
    assert time.monotonic() - start < 10  # not the 28 s left of the branches' sleep
    assert reply["status"] == "error"
    assert reply["ename"] == "KeyboardInterrupt"
    assert "/chainlab/" not in "".join(reply["traceback"])  # none of our frames
    check = (
        "assert isinstance(arep.error, KeyboardInterrupt), arep  # -o stored it\n"
        "assert arep.view.progress['status'] == 'cancelled', arep.view.progress\n"
        "shown = {k: arep.view.states[k]['state'] for k in ('root/a', 'root/b')}\n"
        "assert set(shown.values()) == {'cancelled'}, shown\n"
        "leaves = [s.status for s in arep.recording.spans if s.is_leaf]\n"
        "assert leaves == ['cancelled'] * 2, leaves\n"
        "assert signal.getsignal(2) is before  # the kernel's own handler is back\n"
    )
    assert run(client, check)["status"] == "ok", run(client, "print(arep)")
    again = (
        "%%chain --async --input 2 --view none -o again\n"
        "async def quick(x):\n    await asyncio.sleep(0.01)\n    return x\n"
        "{'a': quick}"
    )
    assert run(client, again)["status"] == "ok"
    assert run(client, "assert again.output == {'a': 2}")["status"] == "ok"


def test_ctrl_c_in_the_dashboard_is_cancelled_and_stubborn_threads_are_abandoned(
    kernel: tuple[KernelManager, Any],
) -> None:
    km, client = kernel
    setup = SETUP + "import matplotlib.pyplot, threading\nrelease = threading.Event()"
    assert run(client, setup)["status"] == "ok"
    cell = (
        "%%chain --input 1 -o rep\n"
        "def stubborn(x):\n    print('started', flush=True)\n"
        "    release.wait(30)  # never looks at chainlab.cancelled()\n"
        "    return x\n"
        "{'a': stubborn, 'b': stubborn, 'c': stubborn}"
    )
    msg_id = client.execute(cell, stop_on_error=False)  # see above run()
    wait_for_prints(client, "started", 3)
    time.sleep(0.3)
    start = time.monotonic()
    km.interrupt_kernel()
    reply = reply_to(client, msg_id, timeout=30)
    assert time.monotonic() - start < 7  # the threads wait for `release`: not waited for
    assert reply["ename"] == "KeyboardInterrupt"
    assert "/chainlab/" not in "".join(reply["traceback"])  # none of our frames
    check = (
        "d = rep.view\n"
        "assert isinstance(rep.error, KeyboardInterrupt), rep  # filled after Ctrl-C\n"
        "assert rep.recording is d.recording and rep.recording is not None\n"
        "assert d.live.progress['status'] == 'cancelled', d.live.progress\n"
        "assert d.live.progress['abandoned'] == 3, d.live.progress\n"
        "final = {k: v['state'] for k, v in d.live.states.items()}\n"
        "assert {final[k] for k in ('root/a', 'root/b', 'root/c')} == {'cancelled'}, final\n"
        "assert 'cancelled' in d.output.value and 'failed' not in d.output.value\n"
        "sent = d.live.messages\n"
        "board = d.live.board\n"
        "assert len(board._ignored) >= 3, board._ignored  # their ends are still to come\n"
        "release.set()  # the abandoned threads end now\n"
        "deadline = time.monotonic() + 20\n"
        "while board._ignored and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "assert not board._ignored, board._ignored  # their late ends were dropped\n"
        "with d.live.publisher._lock:  # ... and handled to the end\n"
        "    pass\n"
        "later = {k: v['state'] for k, v in d.live.states.items()}\n"
        "assert later == final, later\n"
        "assert d.live.messages == sent\n"
        "assert d.live.progress['status'] == 'cancelled'\n"
    )
    after = run(client, check, timeout=40)
    assert after["status"] == "ok", after
