"""LC2.1.5 fan-in patterns: the exercises' checks, hints and solutions, and the quiz.

Each check builds its test chains from the library the learner's code uses: chainlab's,
or langchain_core's in the swapped lesson (:mod:`chainlab.lessons.exercises.library`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainlab.engine import now
from chainlab.lessons.exercises import Exercise, Question
from chainlab.lessons.exercises.library import Library, library_of
from chainlab.sim.timescale import time_scale

#: the ids reciprocal rank fusion ranks first on the lesson's multi-query lists
MULTI_QUERY_TOP3 = ["fan-out", "runnable-parallel", "lcel"]
QUESTION = "how does RunnableParallel fan out"


def _docs(library: Library, *ids: str) -> list[Any]:
    return [library.sim.Document(f"text of {i}", {"id": i}) for i in ids]


def _multi_query_lists(library: Library) -> list[Any]:
    sim = library.sim
    queries = sim.generate_queries(n=4, latency=0)
    return (queries | sim.FakeRetriever(latency=0, k=3).map()).invoke(QUESTION)


def check_fuse(fuse: Callable[..., list[str]]) -> None:
    library = library_of(fuse)
    toy = [_docs(library, "p", "q"), _docs(library, "p", "r"), _docs(library, "q")]
    got = fuse(toy, k=3)
    assert got == ["p", "q", "r"], f"fuse(toy, k=3) gave {got}, expected ['p', 'q', 'r']"
    assert fuse(toy, k=1) == ["p"], "return only the k best ids"
    toy2 = [_docs(library, "x", "y"), _docs(library, "y", "x"), _docs(library, "y", "z")]
    got = fuse(toy2, k=3)
    assert got == ["y", "x", "z"], f"fuse on [[x, y], [y, x], [y, z]] gave {got}"
    real = fuse(_multi_query_lists(library), k=3)
    assert real == MULTI_QUERY_TOP3, (
        f"on the multi-query lists: {real}, expected {MULTI_QUERY_TOP3}"
    )


def _wait(seconds: float) -> float:
    from chainlab.engine import sleep

    sleep(seconds * time_scale())  # chainlab.sleep: a plain sleep outside a chainlab run
    return seconds


def lookup_chain(learner_code: Any) -> tuple[str, Any]:
    """(library, a runnable that waits its input's seconds) on the learner's library."""
    library = library_of(learner_code)
    return library.name, library.runnables.RunnableLambda(_wait)


def check_first_k(first_k: Callable[..., list[int]]) -> None:
    delays = [0.9, 0.2, 0.6, 0.3, 1.0]
    library = library_of(first_k)
    finished: list[tuple[int, float]] = []  # (index, when) as each lookup's call returned

    def lookup(seconds: float) -> float:
        _wait(seconds)
        finished.append((delays.index(seconds), now()))
        return seconds

    chain = library.runnables.RunnableLambda(lookup)
    start = now()
    got = first_k(chain, delays, 2)
    took = (now() - start) / time_scale()
    assert finished, f"on {library.name}: no lookup ran; call the chain on the inputs"
    order = [index for index, _ in finished]
    assert _same_finish_order(got, finished), (
        f"on {library.name}: expected [1, 3] (0.2 s and 0.3 s: the first two to finish, "
        f"here {order[:2]}), got {got}"
    )
    # one after another: 3.0 s; at once: 0.3 s (chainlab) or 1.0 s (langchain_core)
    assert took < 2.5, f"on {library.name}: took {took:.2f} s; run the lookups at the same time"


def _same_finish_order(got: Any, finished: list[tuple[int, float]], tie: float = 0.005) -> bool:
    """``got`` lists the first calls in the order they returned, as ``finished`` recorded.

    The record is taken inside each call, a moment before the library sees it finish,
    so two calls that returned within ``tie`` seconds of each other may come either way
    round: on a busy machine the measured order, not the delays, is the truth.
    """
    if not isinstance(got, list) or len(got) != 2 or len(set(got)) != 2 or len(finished) < 2:
        return False
    when = dict(finished)
    return all(
        index in when and abs(when[index] - finished[position][1]) <= tie
        for position, index in enumerate(got)
    )


def check_in_input_order(in_input_order: Callable[..., list[Any]]) -> None:
    delays = [0.5, 0.1, 0.4, 0.2, 0.3]
    library, chain = lookup_chain(in_input_order)
    seen: list[int] = []
    got = in_input_order(chain, delays, seen.append)
    assert got == delays, (
        f"on {library}: got {got}; each output belongs at its input's index {delays}"
    )
    assert sorted(seen) == list(range(len(delays))), (
        f"on {library}: on_result saw indices {seen}; call it once per finished input"
    )
    assert seen != list(range(len(delays))), (
        f"on {library}: on_result saw the inputs in input order; it should see each as "
        "it completes (fastest first)"
    )


FIRST_K_SOLUTION = """\
def first_k(chain, inputs, k):
    done = []
    for index, _output in chain.batch_as_completed(inputs):
        done.append(index)
        if len(done) == k:
            break
    return done
"""

EXERCISES = {
    "reciprocal rank fusion": Exercise(
        check=check_fuse,
        hints=(
            "Give every document id a running score in a dict; each list it appears in adds "
            "1 / (60 + rank).",
            "for rank, doc in enumerate(docs, start=1): scores[id] = scores.get(id, 0) + "
            "1 / (60 + rank); then sorted(scores, key=scores.get, reverse=True)[:k]",
        ),
        solution="""\
def fuse(doc_lists, k=3):
    scores = {}
    for docs in doc_lists:
        for rank, doc in enumerate(docs, start=1):
            doc_id = doc.metadata["id"]
            scores[doc_id] = scores.get(doc_id, 0.0) + 1 / (60 + rank)
    return sorted(scores, key=scores.get, reverse=True)[:k]
""",
    ),
    "first k to finish": Exercise(
        check=check_first_k,
        hints=(
            "batch_as_completed yields (index, output) pairs in the order the inputs finish.",
            "for index, _ in chain.batch_as_completed(inputs): collect index; break once you "
            "have k of them",
        ),
        solution=FIRST_K_SOLUTION,
    ),
    "answers in the wrong places": Exercise(
        check=check_in_input_order,
        debugging=True,
        hints=(
            "Compare the printed outputs with the inputs: which order are they in?",
            "batch_as_completed gives the index of each output: put the output at "
            "results[index] in a list made with [None] * len(inputs)",
        ),
        solution="""\
def in_input_order(chain, inputs, on_result):
    results = [None] * len(inputs)
    for index, output in chain.batch_as_completed(inputs):
        on_result(index)  # use each result as soon as it is in
        results[index] = output  # and put it back in its place
    return results
""",
    ),
}

QUIZ = [
    Question(
        "A RunnableParallel has branches of 0.2 s, 0.5 s and 1.2 s, followed by a reducer. "
        "When does the reducer start?",
        choices=("after 0.2 s", "after 0.5 s", "after 1.2 s", "after 1.9 s"),
        answer=2,
        why="The end of a parallel is a barrier: the next step needs every result, so it "
        "starts when the slowest branch (1.2 s) is done.",
    ),
    Question(
        "You stream `panel | combine` where `combine` needs the whole dict. When does the "
        "first output arrive?",
        choices=(
            "as soon as the fastest branch finishes",
            "after the slowest branch, because combine needs every result",
            "never: a chain with a reducer cannot stream",
        ),
        answer=1,
        why="Streaming passes only through steps that can work on partial input; a reducer "
        "over the whole dict holds the barrier for streaming too.",
    ),
    Question(
        "You leave a `batch_as_completed` loop after the first result, while four calls "
        "are still running. What does langchain_core do?",
        choices=(
            "returns at once and cancels the running calls",
            "returns at once and leaves the calls running in the background",
            "cancels the inputs not started yet, then waits for the running calls to finish",
        ),
        answer=2,
        why="Closing the generator shuts down its thread pool, which waits for the calls "
        "already running; chainlab cancels them and returns at once.",
    ),
    Question(
        "Which reducer gives the same answer whatever order the results arrive in?",
        choices=(
            "keep the first three documents that arrive",
            "count votes per document id with a Counter, then sort by (-votes, id)",
            "dedupe with 'first occurrence wins', without sorting",
        ),
        answer=1,
        why="A counter is order-independent, and the final sort on (-votes, id) breaks ties "
        "the same way every time.",
    ),
    Question(
        "A consumer spends 0.3 s on each result of `batch_as_completed` over 1,000 inputs "
        "of 0.2 s. What bounds the results waiting for it?",
        choices=(
            "batch_as_completed waits for the consumer before starting more calls",
            "nothing: the calls run ahead and their results wait in memory, unless you feed "
            "the inputs in windows",
            "max_concurrency bounds the results waiting",
        ),
        answer=1,
        why="batch_as_completed has no backpressure: max_concurrency bounds the calls in "
        "flight, not the finished results queued for a slow consumer.",
    ),
]
