"""LC2.1.4 Fan-out patterns: the exercises and the quiz.

The checks build their own simulated sources from the learner's library (see
:func:`chainlab.lessons.exercises.lc2_1_3.sim_for`), count the calls and watch which
ones overlap.
"""

from __future__ import annotations

from typing import Any

from chainlab.lessons.exercises import Exercise, Question
from chainlab.lessons.exercises.lc2_1_3 import callable_named, in_flight_together, sim_for

TICKET = "My parallel chain raises a rate limit error"

# -- Exercise: a support-ticket triage step ----------------------------------------------


def check_triage(build_triage: Any) -> None:
    callable_named(build_triage, "build_triage")
    sim = sim_for(build_triage)
    model = sim.FakeChatModel("triage-model", latency=0.3)
    classify = (
        sim.ChatPromptTemplate.from_template("Which team should handle this ticket? {ticket}")
        | model
        | sim.StrOutputParser()
    )
    docs = sim.FakeRetriever(latency=0.5, k=2, name="ticket_docs")
    triage = build_triage(classify, docs)
    out, together = in_flight_together([model, docs], lambda: triage.invoke(TICKET))
    assert isinstance(out, dict), f"expected a dict, got {type(out).__name__}"
    assert set(out) == {"category", "context", "ticket"}, f"the keys are {sorted(out)}"
    assert out["ticket"] == TICKET, "the ticket should pass through unchanged"
    assert isinstance(out["category"], str), "category should be the classifier's text"
    assert len(out["context"]) == 2, "context should be the retriever's two documents"
    assert model.calls == docs.calls == 1, "call the classifier and the retriever once each"
    assert together, "the classifier and the retrieval should be in flight at the same time"


TRIAGE_SOLUTION = """\
def build_triage(classify, docs):
    return RunnableParallel(category=classify, context=docs, ticket=RunnablePassthrough())
"""

# -- Exercise: multi-query retrieval with .map() -----------------------------------------


def check_multi_query(build_multi_query: Any) -> None:
    callable_named(build_multi_query, "build_multi_query")
    sim = sim_for(build_multi_query)
    planner = sim.generate_queries(n=4, latency=0.3)
    retriever = sim.FakeRetriever(latency=0.5, k=3, name="mq_retriever")
    out = build_multi_query(planner, retriever).invoke("How do I merge parallel results?")
    assert isinstance(out, list), f"expected a list, got {type(out).__name__}"
    assert len(out) == 4, f"expected one result per sub-query (4), got {len(out)}"
    assert all(isinstance(docs, list) and len(docs) == 3 for docs in out), (
        "each item should be the retriever's list of 3 documents"
    )
    assert retriever.calls == 4, f"the retriever was called {retriever.calls} times, not 4"
    assert retriever.max_in_flight == 4, (
        f"at most {retriever.max_in_flight} retrievals ran at once, not all 4: use .map()"
    )


MULTI_QUERY_SOLUTION = """\
def build_multi_query(planner, retriever):
    return planner | retriever.map()
"""

# -- Debugging exercise: a branch that changes the shared input --------------------------

REVIEW = "Great Camera, Poor Battery"


def check_review_step(build_review_step: Any) -> None:
    callable_named(build_review_step, "build_review_step")
    step = build_review_step()
    given = {"review": REVIEW}
    out = step.invoke(given)
    assert given == {"review": REVIEW}, f"the caller's dict was changed: {given}"
    assert set(out) == {"clean", "read"}, f"the keys are {sorted(out)}"
    assert out["read"] == REVIEW, f"the reading branch saw {out['read']!r}, not the review"
    assert out["clean"] == {"review": "great camera poor battery"}, (
        f"the cleaning branch should return its cleaned copy, got {out['clean']!r}"
    )


REVIEW_SOLUTION = """\
def clean_copy(x):
    # a new dict: the input every branch shares stays as it was
    return {**x, "review": x["review"].lower().replace(",", "")}


def build_review_step():
    return RunnableParallel(clean=clean_copy, read=read_later)
"""

EXERCISES = {
    "triage fan-out": Exercise(
        check=check_triage,
        hints=(
            "Three keys, three branches of one parallel; one of them is the ticket itself.",
            "RunnableParallel(category=classify, context=docs, ticket=RunnablePassthrough())",
        ),
        solution=TRIAGE_SOLUTION,
    ),
    "multi-query retrieval": Exercise(
        check=check_multi_query,
        hints=(
            "The planner returns a list; which runnable takes a list and runs one "
            "step on every item at once?",
            "planner | retriever.map()",
        ),
        solution=MULTI_QUERY_SOLUTION,
    ),
    "shared input": Exercise(
        check=check_review_step,
        hints=(
            "Print the caller's dict after the call: who changed it, and which sibling "
            "read the changed text?",
            "Make the cleaning branch build a new dict ({**x, 'review': ...}) and return "
            "it, instead of assigning into x.",
        ),
        solution=REVIEW_SOLUTION,
        debugging=True,
    ),
}

QUIZ = [
    Question(
        "Three branches take 0.6 s, 0.3 s and 0.4 s. How long does the parallel take?",
        choices=("about 0.3 s", "about 0.6 s", "about 1.3 s"),
        answer=1,
        why="all three start together; the parallel returns when the slowest is done.",
    ),
    Question(
        "{'context': retriever, 'question': RunnablePassthrough()}: what does the "
        "parallel save over calling the retriever alone?",
        choices=("half the time", "nothing measurable", "the model's latency"),
        answer=1,
        why="the passthrough takes microseconds; a parallel is as slow as its slowest "
        "branch, here the retriever. It shapes the prompt's input, it saves no time.",
    ),
    Question(
        "On langchain_core, search.map() over 12 queries of 0.5 s each, default config, "
        "on a 2-core machine. How long?",
        choices=("about 0.5 s", "about 1.0 s", "about 6 s"),
        answer=1,
        why="batch (and so .map()) runs on a thread pool of min(32, cpus + 4) = 6 "
        "threads when max_concurrency is not set: two waves of 6.",
    ),
    Question(
        "How do you let langchain_core run all 12 at once?",
        choices=(
            "nothing: it already does",
            "config={'max_concurrency': 12}",
            "wrap the search in a RunnableParallel",
        ),
        answer=1,
        why="max_concurrency sizes the pool of that batch; without it Python's "
        "default pool size applies.",
    ),
    Question(
        "When is .map() the right tool rather than batch?",
        choices=(
            "when the list is produced by the previous step of the chain",
            "when the list is long",
            "never: they differ in speed",
        ),
        answer=0,
        why="batch is a call you make on a list you hold; .map() is a step, fed by the "
        "chain. Both run the same machinery.",
    ),
]
