"""A real lesson's live graph in a real browser, without Graphviz, in two front ends.

The kernel runs LC2.1.1 (at the CI time scale) with ``dot`` gone from its PATH, so the
graph is laid out by chainlab's own Python layout (``chainlab.viz.layout``); the test
checks that every node of the lesson's live graph is drawn and ends ``done``, first in
JupyterLab, then in Jupyter Notebook 7 (same server, the ``/notebooks/`` UI). A
screenshot of each goes to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import ARTIFACTS, Lab
from tests.browser.test_livegraph_browser import KERNEL_IDLE, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.xdist_group("browser"),
]

ROOT = Path(__file__).resolve().parents[2]
LESSON = next((ROOT / "lessons").glob("LC2.1.1-*.ipynb"))

NO_DOT = """\
import os, shutil
os.environ["PATH"] = "/nonexistent"     # no Graphviz here: the live graph must cope
os.environ["CHAINLAB_TIME_SCALE"] = "0.2"
assert shutil.which("dot") is None
print("NO DOT")"""

# the lesson's live graphs once every cell ran: [{node id: state}] per graph
FINAL = """() => [...document.querySelectorAll(".chainlab-livegraph")].map(root =>
  Object.fromEntries([...root.querySelectorAll("g.node")].map(g => [g.id, g.dataset.state])))"""

ALL_DONE = (
    "() => { const g = [...document.querySelectorAll('.chainlab-livegraph')];"
    " return g.length > 0 && g.every(root => root.querySelectorAll('g.node').length > 2 &&"
    " [...root.querySelectorAll('g.node')].every(n => n.dataset.state === 'done')); }"
)


def lesson_without_dot(lab: Lab, name: str) -> int:
    """LC2.1.1 with the no-dot cell first, into the server's folder; its live graphs."""
    nb = nbformat.read(LESSON, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(NO_DOT))
    nbformat.write(nb, lab.root / name)
    code = "".join(c.source for c in nb.cells if c.cell_type == "code")
    return code.count("chainlab.show(") + code.count("LiveGraph(")


def check_graphs(page: Any, shows: int, front_end: str) -> None:
    wait_for(page, ALL_DONE, 240, f"every node of the lesson's live graph done in {front_end}")
    final = page.evaluate(FINAL)
    assert len(final) >= shows >= 1, final
    for graph in final:
        assert "__input__" in graph
        assert "__output__" in graph
        assert set(graph.values()) == {"done"}, graph
    text = page.evaluate("() => document.body.innerText")
    assert "NO DOT" in text  # the kernel really had no dot
    assert "(the graph could not be drawn)" not in text
    assert "Graphviz" not in page.evaluate(
        "() => [...document.querySelectorAll('.chainlab-livegraph')].map(e => e.innerText).join()"
    )


def screenshot(page: Any, name: str) -> None:
    """The first live graph, once the notebook stopped scrolling after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    graph = page.locator(".chainlab-livegraph").first
    for _ in range(3):  # JupyterLab follows the running cell: scroll back until it stays
        graph.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
    box = graph.bounding_box()
    assert box is not None
    page.screenshot(path=str(ARTIFACTS / name), clip=box)


def run_all_in_jupyterlab(page: Any) -> None:
    wait_for(page, KERNEL_IDLE, 120, "the notebook's kernel")
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


FIRST_CELL_RAN = """() => {
  const prompt = document.querySelector(".jp-CodeCell .jp-InputPrompt");
  return !!prompt && /\\[(\\*|\\d+)\\]/.test(prompt.innerText);
}"""


DIALOG = """() => [...document.querySelectorAll(".jp-Dialog")].map(d => d.innerText.trim())"""


def run_all_in_notebook_7(page: Any) -> None:
    """Run All from Notebook 7's own menu, as a user would, once its kernel is connected
    (its indicator can read idle before: a Run All then is dropped, or asks for a kernel
    in a dialog, which is answered with its default and named if nothing ran)."""
    page.wait_for_selector("#main-panel .jp-Notebook", timeout=120_000)  # Notebook 7's shell
    dialogs: list[str] = []
    for _ in range(3):
        wait_for(page, KERNEL_IDLE, 120, "Notebook 7's kernel")
        for text in page.evaluate(DIALOG):
            dialogs.append(text)
            page.locator(".jp-Dialog .jp-mod-accept").first.click()
        page.get_by_role("menuitem", name="Run").click()
        page.locator("li[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(FIRST_CELL_RAN, timeout=30_000)
            return
        except Exception:  # playwright's TimeoutError: nothing ran
            page.keyboard.press("Escape")
    raise AssertionError(f"Notebook 7 never ran the notebook's cells (dialogs: {dialogs})")


FRONT_ENDS = {
    "JupyterLab": ("lab/tree/{}", run_all_in_jupyterlab),
    "Notebook 7": ("notebooks/{}", run_all_in_notebook_7),
}


@pytest.mark.parametrize("front_end", list(FRONT_ENDS))
def test_a_lessons_live_graph_renders_without_dot(browser: Any, lab: Lab, front_end: str) -> None:
    url, run_all = FRONT_ENDS[front_end]
    slug = front_end.lower().replace(" ", "")
    name = f"lesson-no-dot-{slug}.ipynb"
    shows = lesson_without_dot(lab, name)
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    page = context.new_page()
    try:
        page.goto(lab.url(url.format(name)), wait_until="domcontentloaded")
        run_all(page)
        try:
            check_graphs(page, shows, front_end)
        except AssertionError:  # what the page showed, to see why
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"browser-no-dot-{slug}-failed.png"))
            raise
        screenshot(page, f"browser-no-dot-{slug}.png")
    finally:
        context.close()
