"""Shared helpers for the chainlab.sim tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from chainlab.sim import set_time_scale


@pytest.fixture
def real_time() -> Iterator[None]:
    """Pin the time scale to 1.0, whatever CHAINLAB_TIME_SCALE the CI sets."""
    with set_time_scale(1.0):
        yield


Waiter = Callable[[Callable[[], bool]], bool]


def _wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


@pytest.fixture
def wait_until() -> Waiter:
    """``wait_until(condition)``: poll up to 3 s (for effects that land just after)."""
    return _wait_until
