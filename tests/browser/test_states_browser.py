"""The final states a learner sees in a real JupyterLab: a failure, a fallback, badges.

A fail-fast chain whose ``papers`` branch is down, and a chain a fallback saves, each
through ``chainlab.show`` (and the failing one once more through ``%%chain``). The test
reads the widgets' DOM once the cells have run:

* the failure is red and said once, in plain words, with no speedup claimed; the
  cancelled siblings are grey; the graph's own error line stays hidden in a dashboard;
* the fallback-saved run is green with the failed primary amber ("fallback used"), no
  red anywhere, the unused fallback skipped and the progress bar at 100 %;
* no time badge covers an edge's arrowhead, and none says "0 ms".

Screenshots land in test-artifacts/ (browser-failed.png, browser-fallback.png).
"""

from __future__ import annotations

from typing import Any

import nbformat

from tests.browser.conftest import ARTIFACTS, Lab
from tests.browser.test_livegraph_browser import KERNEL_IDLE, pytestmark, wait_for

__all__ = ["pytestmark"]  # the same marks: browser, slow, timeout, one xdist group

NOTEBOOK = [
    """\
%load_ext chainlab
import chainlab
from chainlab import RunnableParallel
from chainlab.sim import ChatPromptTemplate, FakeChatModel, StrOutputParser

prompt = ChatPromptTemplate.from_template("Find sources about {topic}")
parser = StrOutputParser()
research = RunnableParallel(
    news=prompt | FakeChatModel("news", latency=0.5) | parser,
    papers=prompt | FakeChatModel("papers", latency=0.2, failure_rate=1.0) | parser,
    archive=prompt | FakeChatModel("archive", latency=2.0) | parser,
)
big = FakeChatModel("big-model", latency=0.3, failure_rate=1.0)
answer = prompt | big.with_fallbacks(
    [FakeChatModel("small-model", latency=0.1), FakeChatModel("spare-model", latency=0.1)]
) | parser
""",
    "failed = chainlab.show(research, {'topic': 'solar storms'})",
    "saved = chainlab.show(answer, {'topic': 'tides'})",
    '%%chain --input \'{"topic": "solar storms"}\' -o magic\nresearch',
    "print('DONE', type(failed.error).__name__, saved.error is None)",
]

FINAL = """() => [...document.querySelectorAll(".chainlab-dashboard")].map((dash) => {
  const live = dash.querySelector(".chainlab-livegraph");
  const cell = dash.closest(".jp-Cell");
  const svg = live.querySelector(".cl-graph svg");
  const box = (el) => {
    const b = el.getBBox();
    const m = el.getCTM();  // into the svg's user space
    const pts = [[b.x, b.y], [b.x + b.width, b.y + b.height]].map(([x, y]) => {
      const p = svg.createSVGPoint(); p.x = x; p.y = y; return p.matrixTransform(m);
    });
    return [pts[0].x, pts[0].y, pts[1].x, pts[1].y];
  };
  const badges = [...live.querySelectorAll("g.cl-badge")]
    .filter((b) => b.style.display !== "none")
    .map((b) => [b.closest("g.node").id, b.textContent, box(b.querySelector("rect"))]);
  const arrows = [...live.querySelectorAll("g.edge polygon")].map(box);
  return {
    status: live.dataset.status,
    states: Object.fromEntries([...live.querySelectorAll("g.node")]
      .map((g) => [g.id, g.dataset.state])),
    result: dash.querySelector(".chainlab-result").innerText,
    errorLine: live.querySelector(".cl-errors").innerText,
    progress: live.querySelector(".cl-progress-text").innerText,
    fill: live.querySelector(".cl-progress-fill").style.width,
    legend: [...live.querySelectorAll(".cl-legend-item")].map((i) => i.innerText),
    cellText: cell ? cell.querySelector(".jp-Cell-outputWrapper").innerText : "",
    badges,
    arrows,
  };
})"""

DONE = """() => [...document.querySelectorAll(".jp-OutputArea-output")]
  .some((el) => el.innerText.trim().startsWith("DONE "))"""


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_failures_fallbacks_and_badges_in_the_final_state(browser: Any, lab: Lab) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / "states.ipynb")
    context = browser.new_context(viewport={"width": 1280, "height": 3200})
    page = context.new_page()
    try:
        page.goto(lab.url("lab/tree/states.ipynb"), wait_until="domcontentloaded")
        wait_for(page, KERNEL_IDLE, 120, "the notebook's kernel")
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        wait_for(page, DONE, 180, "the last cell's output")
        wait_for(
            page,
            "() => document.querySelectorAll('img.chainlab-timeline').length >= 3",
            60,
            "the timelines",
        )
        done_text = page.evaluate(
            "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".map(el => el.innerText.trim()).filter(t => t.startsWith('DONE '))[0]"
        )
        final = page.evaluate(FINAL)
        ARTIFACTS.mkdir(exist_ok=True)
        dashboards = page.locator(".chainlab-dashboard")
        for i, name in ((0, "browser-failed.png"), (1, "browser-fallback.png")):
            dashboards.nth(i).scroll_into_view_if_needed()
            dashboards.nth(i).screenshot(path=str(ARTIFACTS / name))
        page.locator(".jp-Cell").nth(3).screenshot(path=str(ARTIFACTS / "browser-failed-magic.png"))
    finally:
        context.close()

    assert done_text == "DONE SimulatedError True"
    failed, saved, magic = final
    # -- the failure: red, once, in plain words, no speedup ---------------------------
    for view in (failed, magic):
        assert view["status"] == "failed"
        assert view["states"]["root/papers/1"] == "failed"
        assert view["states"]["root/news/1"] == view["states"]["root/archive/1"] == "cancelled"
        assert "branch `papers` failed: SimulatedError: papers" in view["result"]
        assert "speedup" not in view["result"]
        assert view["errorLine"] == ""  # the dashboard says it in its result, not twice
        assert view["cellText"].count("branch `papers` failed") == 1, view["cellText"]
        assert "root/papers" not in view["result"]  # no internal paths
    # the %%chain cell adds the learner's traceback below, once
    assert magic["cellText"].count("Traceback") <= 1
    # -- the fallback: green, the primary amber, no red, 100 % ------------------------
    assert saved["status"] == "done"
    assert saved["states"]["root/1/0"] == "handled"  # big-model failed, small-model took over
    assert saved["states"]["root/1/1"] == "done"
    assert saved["states"]["root/1/2"] == "skipped"  # the unused spare
    assert "failed" not in saved["states"].values()
    assert float(saved["fill"].rstrip("%")) == 100
    assert "1 fallback used" in saved["progress"]
    assert "1 skipped" in saved["progress"]
    assert "fallback used" in saved["result"]
    assert "fallback used" in saved["legend"]
    assert saved["errorLine"] == ""
    # -- badges: never on an arrowhead, never "0 ms" ----------------------------------
    for view in final:
        assert view["badges"], view
        for node, text, rect in view["badges"]:
            assert text != "0 ms", node
            for arrow in view["arrows"]:
                assert not overlaps(rect, arrow), (node, text, rect, arrow)
    for name in ("browser-failed.png", "browser-fallback.png"):
        assert (ARTIFACTS / name).stat().st_size > 5_000
