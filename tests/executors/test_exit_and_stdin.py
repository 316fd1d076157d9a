"""ProcessExecutor in real scripts: the interpreter exits at once after a timeout gave
up on a call that never returns, and a script piped on stdin works."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

HANGS = """
import time
from chainlab import RunnableLambda

def stuck(x):
    time.sleep(30)
    return x

if __name__ == "__main__":
    try:
        RunnableLambda(stuck).with_config(executor="processes").with_timeout(1).invoke(1)
    except TimeoutError:
        print("timed out", flush=True)
"""

PIPED = """
from chainlab import ProcessExecutor, RunnableLambda, RunnableParallel

with ProcessExecutor(max_workers=2) as processes:
    chain = RunnableParallel(a=lambda x: x * 2, b=lambda x: x + 1)
    print(chain.with_config(executor=processes).invoke(21))
"""


def _run_script(tmp_path: Path, source: str) -> tuple[subprocess.CompletedProcess[str], float]:
    script = tmp_path / "script.py"
    script.write_text(source)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=100
    )
    return done, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_exit_does_not_wait_for_a_call_a_timeout_gave_up_on(tmp_path: Path) -> None:
    done, took = _run_script(tmp_path, HANGS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timed out"
    assert took < 20, f"the interpreter waited {took:.0f} s for the abandoned call"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_exit_does_not_wait_for_workers_a_timeout_left_starting(tmp_path: Path) -> None:
    """The hang once seen under load, made certain: the timeout gives up before the
    pool is up, so no call reaches it; its idle workers were never told to stop and
    the exit waited for them forever."""
    done, took = _run_script(tmp_path, HANGS.replace("with_timeout(1)", "with_timeout(0.01)"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timed out"
    assert took < 20, f"the interpreter waited {took:.0f} s for workers still starting"


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("close", ["", "processes.close()"])
def test_exit_stops_a_warm_pool_that_never_took_a_call(tmp_path: Path, close: str) -> None:
    source = (
        "from chainlab import ProcessExecutor\n"
        "if __name__ == '__main__':\n"
        "    processes = ProcessExecutor(2).warm_up()\n"
        f"    print(processes.ready_workers); {close}\n"
    )
    done, took = _run_script(tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert took < 30, f"the interpreter waited {took:.0f} s for idle workers"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_script_piped_on_stdin_can_use_processes() -> None:
    """``python - < script.py``: spawn could not re-import a ``__main__`` without a file,
    and the worker's death read as "killed, out of memory, or a crash in C code"."""
    done = subprocess.run(
        [sys.executable, "-"], input=PIPED, capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'a': 42, 'b': 22}"
