"""The promise "change the import and it runs on LangChain", tested.

Every lesson and demo notebook runs in a real kernel with its runnables imported from
``langchain_core.runnables`` and its ``chainlab-only`` cells removed
(:func:`chainlab.lessons.swap.to_langchain`). No cell may raise, the result checks
left in must hold, and the hidden solutions must pass their self-checks. The simulated
world comes from ``chainlab.sim.langchain`` (real LangChain chat models, retrievers,
prompts and parsers), so LangChain's engine runs every runnable: counted by module in
the kernel after the run. The lesson helpers stay chainlab's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from chainlab.lessons.exercises import exercises, lesson_id_of
from chainlab.lessons.runner import execute_notebook
from chainlab.lessons.solutions import is_second_edition
from chainlab.lessons.swap import (
    CHAINLAB_ONLY,
    is_chainlab_only,
    runnable_names,
    swap_imports,
    to_langchain,
)
from tests.lessons.helpers import clock_for

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("LC2.1.*.ipynb"))
# benchmark.ipynb runs both libraries side by side already; workflow.ipynb has no runnables
DEMOS = [
    ROOT / "notebooks" / name
    for name in ("tour.ipynb", "rag-fan-out.ipynb", "research-agent.ipynb")
]

# what only chainlab has: a cell using any of these must be tagged chainlab-only
CHAINLAB_ONLY_API = re.compile(
    r"chainlab\.(show|compare|acompare|record|cancelled|abandoned_calls|listen)\b"
    r"|^%%?chain|with_timeout|with_partial_results|with_error_group|BranchError"
    r"|\.recording\b|\.comparison\b|cancelled_calls|[\"']executor[\"']",
    re.MULTILINE,
)
IMPORT = re.compile(r"\s*(from \S+ import|import |%load_ext )|\s+\w+,$")  # and import lists


def code_cells(path: Path) -> list[tuple[int, Any]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


# -- the transformation (no kernel) --------------------------------------------------------


def test_swap_imports_moves_only_the_runnables() -> None:
    source = (
        "%load_ext chainlab\n"
        "import chainlab\n"
        "from chainlab import BranchError, RunnableLambda, RunnableParallel, lessons\n"
        "from chainlab.sim import FakeChatModel\n"
        "x = 1\n"
    )
    assert swap_imports(source) == (
        "%load_ext chainlab\n"
        "import chainlab\n"
        "from langchain_core.runnables import RunnableLambda, RunnableParallel\n"
        "from chainlab import BranchError, lessons\n"
        "from chainlab.sim.langchain import FakeChatModel\n"
        "x = 1\n"
    )


def test_every_swapped_name_imports_from_langchain_core() -> None:
    names = runnable_names()
    assert {"Runnable", "RunnableLambda", "RunnableParallel", "RunnablePassthrough"} <= names
    assert "chain" in names
    namespace: dict[str, Any] = {}
    exec(swap_imports(f"from chainlab import {', '.join(sorted(names))}"), namespace)
    assert all(namespace[n].__module__.startswith("langchain_core.") for n in names)


def test_swap_imports_handles_parentheses_aliases_comments_and_indentation() -> None:
    source = (
        "from chainlab import (\n"
        "    RunnablePassthrough,  # the input\n"
        "    chain as step,\n"
        "    lessons,\n"
        ")\n"
    )
    assert swap_imports(source) == (
        "from langchain_core.runnables import RunnablePassthrough, chain as step\n"
        "from chainlab import lessons\n"
    )
    assert swap_imports("if True:\n    from chainlab import Runnable\n") == (
        "if True:\n    from langchain_core.runnables import Runnable\n"
    )
    assert swap_imports("from chainlab import lessons") == "from chainlab import lessons"
    for name in ("RunnableMap", "RunnableAssign", "RunnablePick", "RunnableSequence"):
        assert swap_imports(f"from chainlab import {name}") == (
            f"from langchain_core.runnables import {name}"
        )
    # langchain_core.runnables does not export RunnableEach: the import stays chainlab's
    # (the hand-written list of names once swapped it into an ImportError)
    assert swap_imports("from chainlab import RunnableEach") == "from chainlab import RunnableEach"
    untouched = "import chainlab.lessons\nfrom chainlab.simulate import x\n"
    assert swap_imports(untouched) == untouched
    assert swap_imports("from chainlab.sim import (\n    FakeChatModel,\n)") == (
        "from chainlab.sim.langchain import (\n    FakeChatModel,\n)"
    )
    assert swap_imports("import chainlab.sim as sim") == "import chainlab.sim.langchain as sim"


def test_to_langchain_drops_chainlab_only_cells_and_leaves_the_original_alone() -> None:
    nb = new_notebook(
        cells=[
            new_markdown_cell("from chainlab import RunnableParallel"),  # prose stays as is
            new_code_cell("from chainlab import RunnableParallel, lessons"),
            new_code_cell("chainlab.show(chain, 1)", metadata={"tags": [CHAINLAB_ONLY]}),
            new_code_cell("chain.invoke(1)", metadata={"tags": ["check"]}),
        ]
    )
    swapped = to_langchain(nb)
    assert [c.source for c in swapped.cells] == [
        "from chainlab import RunnableParallel",
        "from langchain_core.runnables import RunnableParallel\nfrom chainlab import lessons",
        "chain.invoke(1)",
    ]
    assert len(nb.cells) == 4
    assert nb.cells[1].source == "from chainlab import RunnableParallel, lessons"


# -- the notebooks say which cells are chainlab only (no kernel) ---------------------------


@pytest.mark.parametrize("path", LESSONS + DEMOS, ids=lambda p: p.name)
def test_cells_using_chainlab_extras_are_tagged_and_announced(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        code = [line for line in cell.source.splitlines() if not IMPORT.match(line)]
        uses = CHAINLAB_ONLY_API.search("\n".join(code))
        if uses:
            assert is_chainlab_only(cell), (
                f"{path.name} cell {index} uses {uses.group(0)!r}: tag it {CHAINLAB_ONLY!r}"
            )
        if is_chainlab_only(cell):
            assert announced(nb.cells, index), (
                f"{path.name} cell {index} is chainlab-only: say so in it or in the text above"
            )


def announced(cells: list[Any], index: int) -> bool:
    """The cell, or the markdown above a run of chainlab-only cells, says 'chainlab only'."""
    for cell in reversed(cells[: index + 1]):
        if "chainlab only" in cell.source.lower():
            return True
        if cell.cell_type == "markdown" or not is_chainlab_only(cell):
            return False
    return False


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_lesson_has_portable_exercises(path: Path) -> None:
    portable = [c for _, c in code_cells(path) if not is_chainlab_only(c)]
    setup = portable[0].source
    assert re.search(r"from chainlab import .*Runnable", setup), f"{path.name}: setup imports"
    if is_second_edition(nbformat.read(path, as_version=4)):
        names = {c.metadata["chainlab"]["exercise"] for c in portable if "chainlab" in c.metadata}
        known = exercises(lesson_id_of(path))
        assert any(known[n].portable for n in names if n in known), (
            f"{path.name}: at least one exercise (portable=True, not chainlab-only) "
            "should run on LangChain"
        )
        return
    solved = [c for c in portable if "solution" in c.metadata.get("tags", [])]
    assert solved, f"{path.name}: at least one exercise should run on LangChain"


# -- the notebooks, on langchain_core, in real kernels -------------------------------------


@pytest.mark.notebook
@pytest.mark.parametrize("path", LESSONS + DEMOS, ids=lambda p: p.name)
def test_notebook_runs_on_langchain_core(path: Path) -> None:
    pytest.importorskip("langchain_core.runnables")
    second_edition = path in LESSONS and is_second_edition(nbformat.read(path, as_version=4))
    run = execute_notebook(
        path,
        solutions=second_edition,  # the solutions put in, on langchain_core
        **clock_for(path),  # langchain_core's threads are followed on the virtual clock
        timeout=120,
        transform=with_census,
        store_widget_state=False,
    )
    assert run.error is None, f"{path.name} on langchain_core: {run.error}"
    census = runnable_census(run.notebook)
    assert census["chainlab"] == {}, f"{path.name}: chainlab runnables left: {census}"
    assert sum(census["langchain_core"].values()) >= 3, census
    if "from chainlab.sim" in "".join(c.source for _, c in code_cells(path)):
        assert census["langchain_core"].get("chainlab.sim.langchain"), census
    setup = next(c.source for c in run.notebook.cells if "from chainlab" in c.source)
    assert "from langchain_core.runnables import" in setup, setup
    failed = [c for c in run.checks if c.kind == "result" and not c.passed]
    assert not failed, f"{path.name} on langchain_core: " + "; ".join(
        f"{c.name}: {c.message}" for c in failed
    )
    solutions = [c for c in run.checks if "solution" in c.extra.get("cell_tags", [])]
    for check in solutions:
        assert check.passed, (
            f"{path.name} on langchain_core, solution of {check.name!r}: {check.message}"
        )
    if second_edition:  # each portable exercise's solution passes on langchain_core
        known = exercises(lesson_id_of(path))
        portable = [c for c in run.checks if c.kind == "exercise" and known[c.name].portable]
        assert portable, f"{path.name}: no portable exercise ran on langchain_core"
        for check in portable:
            assert check.passed, (
                f"{path.name} on langchain_core, solution of {check.name!r}: {check.message}"
            )
    elif path in LESSONS:
        assert solutions, f"{path.name}: no solution ran on langchain_core"


# -- which engine's runnables the swapped kernel holds --------------------------------------

CENSUS = """
import gc as _gc, json as _json
from langchain_core.runnables import Runnable as _LCRunnable
from chainlab.engine.base import Runnable as _CLRunnable
_gc.collect()
_census = {"chainlab": {}, "langchain_core": {}}
_objects = _gc.get_objects()
# the chainlab twin behind a chainlab.sim.langchain component is its simulation, not a step
_twins = {
    id(vars(_o).get("service")) for _o in _objects if isinstance(_o, _LCRunnable)
}
for _o in _objects:
    for _engine, _cls in (("chainlab", _CLRunnable), ("langchain_core", _LCRunnable)):
        if isinstance(_o, _cls) and id(_o) not in _twins:
            _m = type(_o).__module__
            _census[_engine][_m] = _census[_engine].get(_m, 0) + 1
print("CENSUS " + _json.dumps(_census))
"""


def with_census(nb: Any) -> Any:
    """The LangChain version of ``nb``, plus a last cell counting the runnable objects
    alive in the kernel by engine and module."""
    nb = to_langchain(nb)
    nb.cells.append(new_code_cell(CENSUS))
    return nb


def runnable_census(nb: Any) -> dict[str, dict[str, int]]:
    import json

    for output in nb.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith("CENSUS "):
                census: dict[str, dict[str, int]] = json.loads(line[len("CENSUS ") :])
                return census
    raise AssertionError(f"no census printed: {nb.cells[-1].get('outputs')}")


def test_the_census_counts_chainlab_runnables_in_an_unswapped_kernel() -> None:
    """The census itself can fail: in a lesson's own (chainlab) kernel it finds chainlab's."""
    nb = new_notebook(
        cells=[
            new_code_cell(
                "from chainlab import RunnableParallel\n"
                "from chainlab.sim import FakeChatModel\n"
                "chain = RunnableParallel(a=FakeChatModel(latency=0), b=FakeChatModel(latency=0))"
            ),
            new_code_cell(CENSUS),
        ]
    )
    path = Path(__file__).with_name("_census_probe.ipynb")
    nbformat.write(nb, path)
    try:
        run = execute_notebook(path, timeout=60, store_widget_state=False)
    finally:
        path.unlink()
    census = runnable_census(run.notebook)
    assert census["chainlab"].get("chainlab.sim.model") == 2
    assert census["chainlab"].get("chainlab.engine.parallel") == 1
