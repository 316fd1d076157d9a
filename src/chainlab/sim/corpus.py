"""A small built-in corpus about LangChain and parallelism, for the fake retriever and
the fake web search, plus the keyword scoring both use."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from chainlab.sim.messages import Document

_TEXTS: list[tuple[str, str]] = [
    (
        "lcel",
        "LCEL, the LangChain Expression Language, composes runnables with the | "
        "operator: prompt | model | parser is a RunnableSequence.",
    ),
    (
        "runnable-parallel",
        "RunnableParallel runs several runnables on the same input at "
        "once and returns a dict of their outputs; a dict literal inside a chain is one too.",
    ),
    (
        "fan-out",
        "Fan-out starts independent branches concurrently; fan-in waits for all "
        "of them and merges their results. The wall time is that of the slowest branch.",
    ),
    (
        "map",
        "runnable.map() applies one runnable to every item of a list in parallel, "
        "for example one web search per generated sub-query.",
    ),
    (
        "batch",
        "batch() runs a runnable on many inputs at once; max_concurrency in the "
        "config bounds how many calls run at the same time.",
    ),
    (
        "max-concurrency",
        "max_concurrency protects rate-limited APIs: it caps the number "
        "of model calls in flight, trading some speed for no 429 rate limit errors.",
    ),
    (
        "gil",
        "The GIL lets only one thread run Python bytecode at a time, so threads speed "
        "up I/O-bound work such as model calls but not CPU-bound pure Python work.",
    ),
    (
        "processes",
        "CPU-bound work needs processes (or native code that releases the GIL) "
        "to use several cores; arguments and results must then be pickled.",
    ),
    (
        "asyncio",
        "asyncio runs thousands of concurrent I/O waits on one thread: ainvoke "
        "turns parallel branches into tasks instead of threads.",
    ),
    (
        "retries",
        "with_retry re-runs a failing runnable with exponential backoff and "
        "jitter; with_fallbacks tries a backup runnable when the primary raises.",
    ),
    (
        "rag",
        "Retrieval-augmented generation retrieves relevant documents for a question "
        "and passes them to the model as context alongside the question.",
    ),
    (
        "amdahl",
        "Amdahl's law: the sequential part of a program bounds its speedup; the "
        "critical path is the longest chain of dependent steps.",
    ),
]

CORPUS: list[Document] = [
    Document(text, {"source": f"docs/{slug}", "id": slug}) for slug, text in _TEXTS
]
"""The default documents of :class:`~chainlab.sim.FakeRetriever`."""

_STOPWORD_TEXT = (
    "a an and are as at be but by can do does for from how in is it its of on or so "
    "than that the their then them there these this to too was what when where which "
    "who why will with you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def terms(text: str) -> list[str]:
    """Lower-case keywords of ``text`` (words of 2+ letters, no stopwords)."""
    words = re.findall(r"[a-z0-9_]+", text.lower())
    return [w for w in words if len(w) > 1 and w not in _STOPWORDS]


def score(query_terms: Iterable[str], text: str) -> int:
    """How many query terms occur in ``text`` (plural-insensitive, crude but stable)."""
    words = set(terms(text))
    stems = {w.rstrip("s") for w in words}
    return sum(1 for t in set(query_terms) if t in words or t.rstrip("s") in stems)


def rank(query: str, docs: Sequence[Document], k: int) -> list[Document]:
    """The ``k`` best documents for ``query`` by keyword score (ties: corpus order)."""
    query_terms = terms(query)
    scored = sorted(range(len(docs)), key=lambda i: (-score(query_terms, docs[i].page_content), i))
    return [docs[i] for i in scored[:k]]
