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


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.xfail(
    strict=False,
    reason="known defect, open: once in a loaded full run this script hung past 100 s at exit "
    "(with the pool's wait for every worker to report ready); passes alone",
)
def test_exit_does_not_wait_for_a_call_a_timeout_gave_up_on(tmp_path: Path) -> None:
    script = tmp_path / "hangs.py"
    script.write_text(HANGS)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=100
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timed out"
    assert took < 20, f"the interpreter waited {took:.0f} s for the abandoned call"


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
