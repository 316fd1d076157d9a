"""The docstring examples are part of the teaching material: they must stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import chainlab

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(chainlab.__path__, "chainlab.")
    if not info.name.startswith(("chainlab.widgets", "chainlab.jupyter", "chainlab.executors"))
    and info.name != "chainlab.cli"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_engine_modules_have_examples() -> None:
    with_examples = [
        name
        for name in MODULES
        if name.startswith("chainlab.engine.")
        and doctest.DocTestFinder().find(importlib.import_module(name))
        and any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(name)))
    ]
    assert len(with_examples) >= 8, with_examples
