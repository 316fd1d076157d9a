"""Fixtures shared by the whole suite."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

Driver = Callable[..., Any]


@pytest.fixture(params=["invoke", "ainvoke"])
def drive(request: pytest.FixtureRequest) -> Driver:
    """Run a runnable through ``invoke`` or ``ainvoke`` (on a fresh event loop)."""

    def run(runnable: Any, input: Any, config: dict[str, Any] | None = None) -> Any:
        if request.param == "invoke":
            return runnable.invoke(input, config)
        return asyncio.run(runnable.ainvoke(input, config))

    run.name = request.param  # type: ignore[attr-defined]
    return run


@pytest.fixture
def virtual() -> Any:
    """The simulated world on a virtual clock (time scale 1): structure tests are exact
    (``clock.now()`` differences are whole simulated seconds) and take no real time."""
    import chainlab
    from chainlab.sim import set_time_scale

    with set_time_scale(1.0), chainlab.virtual_clock() as clock:
        yield clock


@pytest.fixture(autouse=True)
def _no_event_loop_left_running(request: pytest.FixtureRequest) -> Any:
    """A test must not leave an event loop marked as running in this thread: every
    later ``asyncio.run`` would fail with a misleading error. (Playwright's sync API
    runs one while its module-scoped browser is open: checked when that module ends.)"""
    yield
    if request.node.get_closest_marker("browser"):
        return
    loop = asyncio._get_running_loop()
    if loop is not None:
        asyncio._set_running_loop(None)
        pytest.fail(f"the test left an event loop running in the main thread: {loop!r}")


@pytest.fixture(autouse=True, scope="module")
def _no_event_loop_left_running_by_a_module() -> Any:
    yield
    loop = asyncio._get_running_loop()
    if loop is not None:
        asyncio._set_running_loop(None)
        pytest.fail(f"a test module left an event loop running in the main thread: {loop!r}")


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C raises KeyboardInterrupt in the suite, however it was started: a process
    started with SIGINT ignored (a background job of a non-interactive shell, ``nohup
    ./dev test &``) keeps it ignored in Python, and every Ctrl-C test failed there."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _sigint_handler_left_alone() -> Any:
    """A test must leave Ctrl-C as it found it: a SIGINT handler left behind makes every
    later Ctrl-C test in that worker fail with "DID NOT RAISE KeyboardInterrupt"."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"the test left SIGINT handled by {after!r} (it was {before!r})")
