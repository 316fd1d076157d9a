"""LangChain's own runnables tests, run on chainlab (see README.md in this folder).

Skipped as a whole when langchain_core is not installed (it is a dev dependency).
Async tests run through anyio's pytest plugin on asyncio (langchain_core's own suite
uses pytest-asyncio for the same thing).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

if importlib.util.find_spec("langchain_core") is None:  # pragma: no cover
    collect_ignore_glob = ["test_*.py"]

os.environ["LANGSMITH_TRACING"] = "false"  # as langchain_core's conftest: nothing leaves


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
