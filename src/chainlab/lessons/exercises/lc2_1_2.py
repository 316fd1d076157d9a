"""LC2.1.2 · Creating parallel chains: exercises and quiz."""

from __future__ import annotations

from typing import Any

from chainlab.engine import now
from chainlab.lessons.exercises import Exercise, Question

LANGUAGES = ["French", "German", "Spanish"]


def _expected_context(question: str) -> str:
    """What the notebook's ``docs_retriever | join_docs`` gives (k=2, built-in corpus)."""
    from chainlab.sim.corpus import CORPUS, Document, rank

    docs = [d if isinstance(d, Document) else Document(str(d)) for d in CORPUS]
    return "\n".join(d.page_content for d in rank(question, docs, 2))


def check_prompt_inputs(inputs: Any) -> None:
    assert hasattr(inputs, "invoke"), (
        f"prompt_inputs is a {type(inputs).__name__}, which has no .invoke: a dict becomes "
        "a parallel only inside a | chain; wrap it in RunnableParallel(...)"
    )
    question = "why use max_concurrency?"
    values = inputs.invoke(question)
    assert isinstance(values, dict), f"expected a dict, got {type(values).__name__}"
    assert set(values) == {"question", "context", "style"}, f"keys: {sorted(values)}"
    assert values["question"] == question, f"question is {values['question']!r}"
    assert values["style"] == "concise", f"style should be 'concise', got {values['style']!r}"
    assert values["context"] == _expected_context(question), (
        "context should be the retrieved documents joined by join_docs"
    )


def check_translator(build: Any) -> None:
    from chainlab.sim import time_scale

    assert callable(build), "pass the function build_translator itself (no brackets)"
    translator = build(list(LANGUAGES))
    start = now()
    out = translator.invoke("good morning")
    took = now() - start
    assert list(out) == LANGUAGES, f"keys should be {LANGUAGES}, got {list(out)}"
    for language in LANGUAGES:
        assert out[language] == f"[{language}] good morning", (
            f"branch {language!r} returned {out[language]!r}: did every branch capture "
            "its own language?"
        )
    assert took < 0.85 * 3 * 0.7 * time_scale(), (
        f"took {took:.2f} s: the translations should run side by side"
    )


EXERCISES = {
    "prompt inputs": Exercise(
        check=check_prompt_inputs,
        hints=(
            "Two things are wrong: what can you call .invoke on, and what may a branch be?",
            "RunnableParallel(...) makes it invokable; a constant branch must be a "
            "function that ignores its input: lambda _: 'concise'.",
        ),
        solution="""\
prompt_inputs = RunnableParallel(
    question=RunnablePassthrough(),
    context=docs_retriever | join_docs,
    style=lambda _: "concise",
)
""",
        debugging=True,
    ),
    "translator": Exercise(
        check=check_translator,
        hints=(
            "A lambda written in a loop reads the loop variable when it is called, after "
            "the loop: give each branch its own language through a factory function.",
            "def with_language(language): return lambda text: {'language': language, "
            "'text': text}; then {lang: with_language(lang) | translate_chain for lang in ...}",
        ),
        solution="""\
def with_language(language):
    return lambda text: {"language": language, "text": text}


def build_translator(languages):
    return RunnableParallel({lang: with_language(lang) | translate_chain for lang in languages})
""",
    ),
}

QUIZ = [
    Question(
        "What is `{'a': f} | {'b': g}` when no runnable is involved?",
        ("A chain of two parallels", "One dict with both keys (Python's dict union)", "An error"),
        1,
        "The | of two dicts is Python's dict union; a dict becomes a parallel only when a "
        "runnable stands on one side of |.",
    ),
    Question(
        "A prompt needs a setting `style='concise'`. How do you pass it as a branch?",
        ("style='concise'", "style=lambda _: 'concise'", "style=RunnablePassthrough('concise')"),
        1,
        "A branch must be runnable, a one-argument function or a dict; a constant becomes "
        "a function that ignores its input.",
    ),
    Question(
        "`RunnableParallel(sources={'wiki': wiki_1_2s, 'web': web_0_8s}, opinion=model_1_0s)`: "
        "about how long does one invoke take?",
        ("1.0 s", "1.2 s", "2.2 s", "3.0 s"),
        1,
        "Every leaf starts at once however deep it sits: the slowest leaf sets the time.",
    ),
    Question(
        "`{lang: (lambda t: f'{lang}: {t}') for lang in ['fr', 'de']}` as branches: what "
        "does the 'fr' branch answer for 'hi'?",
        ("'fr: hi'", "'de: hi'", "an error"),
        1,
        "The lambda looks `lang` up when it runs, after the loop ended on 'de'; a factory "
        "function binds each value.",
    ),
    Question(
        "Which call shows a langchain_core chain's graph as Mermaid text, with no extra package?",
        (
            "chain.get_graph().draw_mermaid()",
            "chain.get_graph().draw_ascii()",
            "chain.draw()",
        ),
        0,
        "draw_mermaid() needs nothing else; draw_ascii() needs the grandalf package.",
    ),
]
