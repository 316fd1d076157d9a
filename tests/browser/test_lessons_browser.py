"""A lesson's quiz and ``lessons.solution(insert=True)`` in a real JupyterLab (Chromium).

Picks every right answer, presses "Check answers": each question is marked right and
shows its explanation; one wrong pick is marked "not quite". ``solution(name,
insert=True)`` must put the solution into a new cell below in JupyterLab.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from chainlab.lessons.exercises import exercises, quiz_questions
from tests.browser.conftest import ARTIFACTS, Lab
from tests.browser.test_livegraph_browser import KERNEL_IDLE, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.xdist_group("browser"),
]

CELLS = [
    "from chainlab import lessons\nform = lessons.quiz('LC2.1.1')",
    "lessons.solution('review analysis', insert=True)",
]


def test_quiz_marks_answers_and_solution_fills_next_cell(browser: Any, lab: Lab) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / "quiz.ipynb")
    questions = quiz_questions("LC2.1.1")
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    page = context.new_page()
    try:
        page.goto(lab.url("lab/tree/quiz.ipynb"), wait_until="domcontentloaded")
        wait_for(page, KERNEL_IDLE, 120, "the notebook's kernel")
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        wait_for(
            page,
            "() => document.querySelectorAll('.jp-Cell').length >= 3",
            120,
            "the inserted solution cell",
        )
        quiz = page.locator(".widget-vbox").first
        quiz.get_by_role("button", name="Check answers").wait_for(timeout=120_000)
        radios = quiz.locator(".widget-radio-box")
        assert radios.count() == len(questions)
        static = page.locator(".chainlab-static").filter(has_text="Quiz: LC2.1.1")
        assert static.count() == 1  # the copy for pages without widgets is there ...
        assert not static.is_visible()  # ... and hidden where the form itself renders
        for i, q in enumerate(questions):
            radios.nth(i).locator("label").nth(q.answer).click()
        quiz.get_by_role("button", name="Check answers").click()
        right = quiz.get_by_text("[right]")
        page.wait_for_function(
            "n => document.body.innerText.split('[right]').length - 1 === n",
            arg=len(questions),
            timeout=60_000,
        )
        assert right.count() == len(questions)
        text = quiz.inner_text()
        assert f"{len(questions)} of {len(questions)} right" in text
        for q in questions:
            assert " ".join(q.why.replace("`", "").split()) in " ".join(text.split())
        ARTIFACTS.mkdir(exist_ok=True)
        quiz.screenshot(path=str(ARTIFACTS / "browser-quiz.png"))
        wrong = (questions[0].answer + 1) % len(questions[0].choices)
        radios.nth(0).locator("label").nth(wrong).click()
        quiz.get_by_role("button", name="Check answers").click()
        quiz.get_by_text("[not quite]").wait_for(timeout=60_000)
        assert f"{len(questions) - 1} of {len(questions)} right" in quiz.inner_text()
        third = page.locator(".jp-Cell").nth(2).locator(".jp-InputArea").inner_text()
    finally:
        context.close()
    first_line = exercises("LC2.1.1")["review analysis"].solution.strip().splitlines()[0]
    assert first_line in third
