"""The widgets' docstring examples stay true (the top-level doctest run skips widgets)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "chainlab.widgets.board",
    "chainlab.widgets.controls",
    "chainlab.widgets.dashboard",
    "chainlab.widgets.livegraph",
    "chainlab.widgets.publisher",
    "chainlab.widgets.static",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
