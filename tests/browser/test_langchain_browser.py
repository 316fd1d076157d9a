"""A LangChain chain lighting up live in a real JupyterLab, in headless Chromium.

The notebook builds a 3-branch ``langchain_core`` parallel of ``prompt | model |
parser`` (``chainlab.sim.langchain``: real LangChain components) and shows it with
``chainlab.show`` and ``%%chain``. A MutationObserver installed before the run sees
each branch's nodes (9 leaves) go running, then done while the chain still runs, and
the final picture exact. Screenshot: ``test-artifacts/browser-langchain.png``.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from tests.browser.conftest import ARTIFACTS, Lab
from tests.browser.test_livegraph_browser import KERNEL_IDLE, OBSERVER, wait_for

pytest.importorskip("langchain_core.runnables")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.xdist_group("browser"),
]

NOTEBOOK = [
    """\
%load_ext chainlab
import chainlab
from langchain_core.runnables import RunnableParallel
from chainlab.sim.langchain import ChatPromptTemplate, FakeChatModel, StrOutputParser

prompt = ChatPromptTemplate.from_template("Tell me a {kind} about {topic}")
chain = RunnableParallel(**{
    k: prompt | FakeChatModel(k, latency=0.4 + 0.4 * i) | StrOutputParser()
    for i, k in enumerate(("joke", "poem", "fact"))
})
x = {"topic": "cats", "kind": "story"}
""",
    "dash = chainlab.show(chain, x)",
    "%%chain --input x -o magic\nchain",
    "print('RESULT', dash.error is None, len(dash.recording.leaf_spans),"
    " len(magic.recording.leaf_spans), type(chain).__module__)",
]

RESULT = """() => [...document.querySelectorAll(".jp-OutputArea-output")]
  .map(el => el.innerText.trim()).filter(t => t.startsWith("RESULT "))"""


def test_a_langchain_chain_lights_up_live(browser: Any, lab: Lab) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / "langchain.ipynb")
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    try:
        page.goto(lab.url("lab/tree/langchain.ipynb"), wait_until="domcontentloaded")
        wait_for(page, KERNEL_IDLE, 120, "the notebook's kernel")
        page.evaluate(OBSERVER)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        ARTIFACTS.mkdir(exist_ok=True)
        wait_for(page, "() => window.__cl.both", 120, "LangChain nodes running and done at once")
        page.screenshot(path=str(ARTIFACTS / "browser-langchain-running.png"))
        wait_for(page, RESULT + ".length > 0", 120, "the last cell's output")
        log = page.evaluate("() => window.__cl")
        result = page.evaluate(RESULT)[0]
        final = page.evaluate(
            "() => [...document.querySelectorAll('.chainlab-livegraph')].map(root =>"
            " Object.fromEntries([...root.querySelectorAll('g.node')]"
            ".map(g => [g.id, g.dataset.state])))"
        )
        text = page.evaluate("() => document.body.innerText")
        page.locator(".chainlab-dashboard").first.scroll_into_view_if_needed()
        page.locator(".chainlab-dashboard").first.screenshot(
            path=str(ARTIFACTS / "browser-langchain.png")
        )
    finally:
        context.close()

    leaves = {f"root/{k}/{i}" for k in ("joke", "poem", "fact") for i in range(3)}
    running: set[str] = set()
    done_while_running: set[str] = set()
    for _, graph, node_id, state, status in log["nodes"]:
        if graph != 0:
            continue
        if state == "running":
            running.add(node_id)
        elif state == "done" and node_id in running and status == "running":
            done_while_running.add(node_id)
    # every branch is its own nodes, and the models ran live, one after the other ended
    assert {f"root/{k}/1" for k in ("joke", "poem", "fact")} <= running, sorted(running)
    # the joke and poem models end while the slower fact model still runs (the fact
    # model's end is the run's end, so it may be published with the run's status)
    assert {"root/joke/1", "root/poem/1"} <= done_while_running, sorted(done_while_running)
    assert len(final) == 2  # show() and the %%chain cell
    for states in final:
        assert leaves <= set(states), sorted(states)
        assert set(states.values()) == {"done"}, states
    _, ok, spans, magic_spans, module = result.split()
    assert (ok, spans, magic_spans) == ("True", "9", "9")
    assert module == "langchain_core.runnables.base"  # LangChain's engine ran it
    assert "Traceback" not in text
    assert (ARTIFACTS / "browser-langchain.png").stat().st_size > 10_000
