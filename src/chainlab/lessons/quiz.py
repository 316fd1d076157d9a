"""A lesson's closing quiz as an ipywidgets form: pick, check, read why."""

from __future__ import annotations

import html
import re
from typing import Any

from chainlab.lessons.exercises import Question, quiz_questions
from chainlab.widgets.outputs import STATIC_CLASS, static_html

QUIZ_CLASS = "chainlab-quiz"
# where the form renders, the static copy right after it is hidden (as a LiveGraph's)
HIDE_STATIC = (
    f".jp-OutputArea-child:has(.{QUIZ_CLASS}) + .jp-OutputArea-child:has(.{STATIC_CLASS})"
    " { display: none; }"
)
RIGHT = "#1b5e20"
WRONG = "#b71c1c"


def inline(text: str) -> str:
    """Escape ``text`` for HTML, showing its `code` spans as code (not raw backticks)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


class Quiz:
    """Radio buttons per question and a "Check answers" button that marks each answer
    right or wrong and shows why. ``choose(i, choice)`` and ``check()`` do the same
    from code."""

    def __init__(self, lesson_id: str, questions: list[Question]) -> None:
        import ipywidgets as widgets

        self.lesson_id = lesson_id
        self.questions = questions
        self.radios = [
            widgets.RadioButtons(options=list(q.choices), value=None, layout={"width": "auto"})
            for q in questions
        ]
        self.feedback = [widgets.HTML("") for _ in questions]
        self.button = widgets.Button(description="Check answers", button_style="primary")
        self.score_line = widgets.HTML("")
        self.button.on_click(lambda _button: self.check())
        rows: list[Any] = [widgets.HTML(f"<b>Quiz: {html.escape(lesson_id)}</b>")]
        for number, (q, radio, note) in enumerate(
            zip(questions, self.radios, self.feedback, strict=True), 1
        ):
            rows += [widgets.HTML(f"<b>{number}.</b> {inline(q.text)}"), radio, note]
        rows += [self.button, self.score_line]
        self.widget = widgets.VBox(rows)
        self.widget.add_class(QUIZ_CLASS)

    def choose(self, index: int, choice: str) -> None:
        """Select ``choice`` for question ``index`` (0-based)."""
        if choice not in self.questions[index].choices:
            raise ValueError(f"question {index + 1}: {choice!r} is not one of its choices")
        self.radios[index].value = choice

    def check(self) -> int:
        """Mark every answer; the number right."""
        right = 0
        for q, radio, note in zip(self.questions, self.radios, self.feedback, strict=True):
            correct = q.choices[q.answer]
            why = inline(q.why)
            if radio.value is None:
                note.value = "<i>no answer yet</i>"
            elif radio.value == correct:
                right += 1
                note.value = f"<span style='color:{RIGHT}'>[right]</span> {why}"
            else:
                note.value = (
                    f"<span style='color:{WRONG}'>[not quite]</span> the answer is "
                    f"<b>{inline(correct)}</b>. {why}"
                )
        self.score_line.value = f"{right} of {len(self.questions)} right"
        return right

    def static(self) -> str:
        """The quiz as HTML for a page without widgets (a docs site, nbconvert): the
        questions and choices, each answer and why folded under "answer"."""
        parts = [f"<style>{HIDE_STATIC}</style>", f"<b>Quiz: {html.escape(self.lesson_id)}</b>"]
        for number, q in enumerate(self.questions, 1):
            choices = "".join(f"<li>{inline(c)}</li>" for c in q.choices)
            parts.append(
                f"<p><b>{number}.</b> {inline(q.text)}</p><ol type='a'>{choices}</ol>"
                f"<details><summary>answer</summary><b>{inline(q.choices[q.answer])}</b>. "
                f"{inline(q.why)}</details>"
            )
        return static_html("".join(parts))

    def text(self) -> str:
        """The questions as plain text (for a context without widgets)."""
        lines = [f"Quiz: {self.lesson_id}"]
        for number, q in enumerate(self.questions, 1):
            lines.append(f"{number}. {q.text}")
            lines += [f"   {chr(97 + i)}) {c}" for i, c in enumerate(q.choices)]
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        """Already shown when it was made."""


def quiz(lesson_id: str) -> Quiz:
    """Show lesson ``lesson_id``'s quiz: a widget form in a notebook, text elsewhere."""
    form = Quiz(lesson_id, quiz_questions(lesson_id))
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is a dependency
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(form.widget)
        display({"text/html": form.static(), "text/plain": form.text()}, raw=True)
    else:
        print(form.text())
    return form
