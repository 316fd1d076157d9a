"""LC2.1.3 Result merging: the exercises and the quiz.

Each check builds its own simulated sources, from the same library as the learner's
code (chainlab's or, in the LangChain version of the lesson, langchain_core's), so
it can count calls and see which calls overlapped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from chainlab.engine import now
from chainlab.engine.clock_hooks import current_clock
from chainlab.lessons.exercises import Exercise, Question
from chainlab.sim.timescale import time_scale

QUESTION = "why use max_concurrency with rate limits?"


def sim_for(fn: Callable[..., Any]) -> ModuleType:
    """``chainlab.sim``, or ``chainlab.sim.langchain`` when the notebook that defined
    ``fn`` imports its runnables from langchain_core."""
    parallel = getattr(fn, "__globals__", {}).get("RunnableParallel")
    if str(getattr(parallel, "__module__", "")).startswith("langchain_core"):
        from chainlab.sim import langchain

        return langchain
    import chainlab.sim

    return chainlab.sim


def in_flight_together(services: Iterable[Any], run: Callable[[], Any]) -> tuple[Any, bool]:
    """``run()``'s result, and whether every service was busy at one moment."""
    services = list(services)
    if current_clock() is not None:  # virtual: no real moment to watch; the run took
        start = now()  # less than the services one after another only if they overlapped
        out = run()
        one_by_one = sum(service.latency for service in services) * time_scale()
        return out, now() - start < one_by_one - 1e-6
    seen, finished = threading.Event(), threading.Event()

    def watch() -> None:
        while not (finished.is_set() or seen.is_set()):
            if all(service.in_flight for service in services):
                seen.set()
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return run(), seen.is_set()
    finally:
        finished.set()
        watcher.join()


def callable_named(obj: Any, what: str) -> None:
    assert callable(obj), f"pass the function {what} itself (not its result), got {obj!r:.60}"


# -- Exercise: one deduplicated list of sources ------------------------------------------


def check_sources(build_sources: Any) -> None:
    callable_named(build_sources, "build_sources")
    sim = sim_for(build_sources)
    kb = sim.FakeRetriever(latency=0.5, k=2, name="kb")
    web = sim.FakeWebSearch(latency=0.7, results=4, name="web")
    chain = build_sources(kb, web)
    texts = [d.page_content for d in kb.invoke(QUESTION)]
    texts += [hit["snippet"] for hit in web.invoke(QUESTION)]
    expected = list(dict.fromkeys(texts))
    kb.reset()
    web.reset()
    out, together = in_flight_together([kb, web], lambda: chain.invoke(QUESTION))
    assert isinstance(out, dict), f"expected a dict, got {type(out).__name__}"
    assert set(out) == {"question", "sources"}, f"the keys are {sorted(out)}"
    assert out["question"] == QUESTION, "the question should pass through unchanged"
    assert len(out["sources"]) == len(expected), (
        f"expected {len(expected)} different texts, got {len(out['sources'])}"
    )
    assert out["sources"] == expected, "kb texts first, then web snippets, each once"
    assert kb.calls == web.calls == 1, "search kb and web once each"
    assert together, "kb and web should be searched at the same time (one parallel)"


SOURCES_SOLUTION = """\
def merge_sources(results):
    texts = [doc.page_content for doc in results["kb"]]
    texts += [hit["snippet"] for hit in results["web"]]
    # dict.fromkeys keeps the first occurrence of each text, in order
    return {"question": results["question"], "sources": list(dict.fromkeys(texts))}


def build_sources(kb, web):
    return RunnableParallel(question=RunnablePassthrough(), kb=kb, web=web) | merge_sources
"""


# -- Debugging exercise: the question that never reached the prompt ----------------------


def check_qa(build_qa: Any) -> None:
    callable_named(build_qa, "build_qa")
    sim = sim_for(build_qa)
    retriever = sim.FakeRetriever(latency=0.3, k=2, name="retriever")
    model = sim.FakeChatModel("echo", latency=0.2, responses=lambda prompt: prompt)
    chain = build_qa(retriever, model)
    try:
        prompt = chain.invoke(QUESTION)
    except KeyError as err:
        first_line = str(err).strip("\"'").splitlines()[0]
        raise AssertionError(f"the prompt is still missing a variable: {first_line}") from None
    assert isinstance(prompt, str), f"the chain should end with the parser's str, got {prompt!r}"
    assert QUESTION in prompt, "the question should reach the prompt"
    passages = [d.page_content for d in retriever.invoke(QUESTION)]
    assert all(p in prompt for p in passages), "the retrieved passages should reach the prompt"
    assert model.calls == 1, f"the model was called {model.calls} times, not once"


QA_SOLUTION = """\
def build_qa(retriever, model):
    # the question must travel through the parallel: the prompt needs it too
    inputs = RunnableParallel(context=retriever | join_docs, question=RunnablePassthrough())
    return inputs | qa_prompt | model | StrOutputParser()
"""


# -- Debugging exercise: a streamed answer that keeps only its last piece ----------------

PIECES: list[dict[str, Any]] = [
    {"answer": "Fan"},
    {"docs": ["d1"]},
    {"answer": "-out"},
    {"docs": ["d2"]},
    {"answer": " wins"},
]


def check_merge_chunks(merge_chunks: Any) -> None:
    callable_named(merge_chunks, "merge_chunks")
    got = merge_chunks(iter([dict(p) for p in PIECES]))
    assert isinstance(got, dict), f"expected a dict, got {type(got).__name__}"
    assert got.get("answer") == "Fan-out wins", (
        f"answer is {got.get('answer')!r}: the pieces of one key should add up"
    )
    assert got.get("docs") == ["d1", "d2"], f"docs is {got.get('docs')!r}: lists should extend"
    assert list(got) == ["answer", "docs"], "keys should stay in the order they first arrived"
    whole = merge_chunks(iter([{"a": 1}, {"b": "x"}]))
    assert whole == {"a": 1, "b": "x"}, f"one chunk per key should stay as it is, got {whole}"


MERGE_CHUNKS_SOLUTION = """\
def merge_chunks(chunks):
    merged = {}
    for chunk in chunks:
        for key, value in chunk.items():
            # a key seen before: add the new piece to what came before
            merged[key] = merged[key] + value if key in merged else value
    return merged
"""


EXERCISES = {
    "merged sources": Exercise(
        check=check_sources,
        hints=(
            "One RunnableParallel with three branches: the question itself, kb and web; "
            "then a plain function after it.",
            "RunnableParallel(question=RunnablePassthrough(), kb=kb, web=web) | merge_sources; "
            "list(dict.fromkeys(texts)) drops repeats and keeps the order.",
        ),
        solution=SOURCES_SOLUTION,
    ),
    "lost question": Exercise(
        check=check_qa,
        hints=(
            "Read the error: which prompt variable is missing, and which branch should "
            "have produced it?",
            "A branch only exists if you write it: add question=RunnablePassthrough() "
            "to the parallel.",
        ),
        solution=QA_SOLUTION,
        debugging=True,
    ),
    "merge chunks": Exercise(
        check=check_merge_chunks,
        hints=(
            "Print merged after each chunk: what happens to 'Fan' when '-out' arrives?",
            "update() replaces a key's value; for a key already there, store "
            "merged[key] + value instead.",
        ),
        solution=MERGE_CHUNKS_SOLUTION,
        debugging=True,
    ),
}

QUIZ = [
    Question(
        "Branches answer, web, docs (written in that order) take 1.2 s, 0.8 s and 0.4 s. "
        "In which order are the keys of invoke's dict?",
        choices=("answer, web, docs", "docs, web, answer", "it varies from run to run"),
        answer=0,
        why="invoke waits for every branch, then builds the dict in the order the "
        "branches were written.",
    ),
    Question(
        "The same parallel with .stream(): which chunk comes first?",
        choices=("answer", "web", "docs"),
        answer=2,
        why="stream() hands each chunk over as soon as its branch produces it: the "
        "0.4 s docs branch is first on both libraries.",
    ),
    Question(
        "How many chunks does (research | merge).stream(q) yield, merge being a plain "
        "function of the whole dict?",
        choices=("one per branch", "one", "none"),
        answer=1,
        why="a plain function needs its whole input, so it runs once, at the end, and "
        "yields one value.",
    ),
    Question(
        "On langchain_core, the loop reading a parallel's stream does slow work per "
        "chunk. What does a branch that streams many chunks do meanwhile?",
        choices=(
            "it keeps producing; chunks pile up in a queue",
            "it waits: it produces its next chunk only after the loop took the last one",
            "it is cancelled",
        ),
        answer=1,
        why="langchain_core asks each branch's generator for one chunk at a time, so "
        "a slow reader slows the branches down (measured in section 5b); chainlab's "
        "branches run ahead into a queue.",
    ),
    Question(
        "A judge model merges three panel answers (0.6 s, 0.9 s, 1.2 s). When does "
        "the judge start?",
        choices=("at 0.6 s", "at 0.9 s", "at 1.2 s, when the slowest answer is in"),
        answer=2,
        why="a merge step needs the whole dict, so it waits for the join: the slowest branch.",
    ),
]
