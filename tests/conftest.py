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
