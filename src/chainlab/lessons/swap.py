"""Turn a lesson into its LangChain version: the promise "change the import" made testable.

A lesson's code cells run on ``langchain_core.runnables`` once the runnables are
imported from there and the simulated world from :mod:`chainlab.sim.langchain` (the
same models, prompts, parsers, retrievers and searches as real LangChain components),
except cells tagged ``chainlab-only`` (they show what chainlab adds: live graphs,
``compare``, ``record``, timeouts, ...). :func:`to_langchain` rewrites the imports and
drops those cells; the test suite runs the result, so LangChain's engine runs every
runnable of the lesson.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

CHAINLAB_ONLY = "chainlab-only"


@functools.cache
def runnable_names() -> frozenset[str]:
    """The names that ``from chainlab import ...`` takes from ``langchain_core.runnables``
    instead: every runnable name both export (chainlab's mirror LangChain's)."""
    import langchain_core.runnables

    from chainlab import engine

    return frozenset(name for name in engine.__all__ if hasattr(langchain_core.runnables, name))


# ``from chainlab import a, b`` or ``from chainlab import (a,\n b,\n)``; not chainlab.sim
_IMPORT = re.compile(r"^([ \t]*)from chainlab import (\([^)]*\)|[^\n]*)", re.MULTILINE)
_SIM_IMPORT = re.compile(r"^([ \t]*)from chainlab\.sim import\b", re.MULTILINE)
_SIM_MODULE = re.compile(r"^([ \t]*)import chainlab\.sim as (\w+)", re.MULTILINE)


def swap_imports(source: str) -> str:
    """Import the runnable names of ``from chainlab import ...`` from LangChain instead,
    and ``from chainlab.sim import ...`` from :mod:`chainlab.sim.langchain`.

    Other names (``lessons``, ``BranchError``, ...) stay with chainlab, and so does
    ``import chainlab``.
    """

    def rewrite(match: re.Match[str]) -> str:
        indent, names = match.group(1), match.group(2)
        names = re.sub(r"#[^\n]*", "", names).strip("() \t\n")
        parts = [" ".join(part.split()) for part in names.split(",") if part.strip()]
        runnables = [p for p in parts if p.split(" as ")[0].strip() in runnable_names()]
        others = [p for p in parts if p not in runnables]
        lines = []
        if runnables:
            lines.append(f"{indent}from langchain_core.runnables import {', '.join(runnables)}")
        if others:
            lines.append(f"{indent}from chainlab import {', '.join(others)}")
        return "\n".join(lines) or f"{indent}pass"

    source = _SIM_IMPORT.sub(r"\1from chainlab.sim.langchain import", source)
    source = _SIM_MODULE.sub(r"\1import chainlab.sim.langchain as \2", source)
    return _IMPORT.sub(rewrite, source)


def is_chainlab_only(cell: Any) -> bool:
    return CHAINLAB_ONLY in cell.get("metadata", {}).get("tags", [])


def to_langchain(nb: Any) -> Any:
    """A copy of the notebook for langchain_core: imports swapped, chainlab-only cells gone."""
    nb = copy.deepcopy(nb)
    nb.cells = [cell for cell in nb.cells if not is_chainlab_only(cell)]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = swap_imports(cell.source)
    return nb
