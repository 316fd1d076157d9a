"""A fake retriever and a fake web search: I/O-bound leaves with latency, offline.

>>> from chainlab.sim import FakeRetriever, FakeWebSearch
>>> docs = FakeRetriever(latency=0, k=2).invoke("how does RunnableParallel fan out?")
>>> [d.metadata["id"] for d in docs]
['fan-out', 'runnable-parallel']
>>> hit = FakeWebSearch(latency=0, results=1).invoke("python GIL threads")[0]
>>> sorted(hit), hit["url"]
(['snippet', 'title', 'url'], 'https://example.com/python-gil-threads/1')

Both have the timing, failure and rate-limit knobs of
:class:`~chainlab.sim.service.SimulatedService`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

from chainlab.sim.corpus import CORPUS, rank, terms
from chainlab.sim.messages import Document, prompt_text
from chainlab.sim.service import CallInfo, KnobArgs, SimulatedService


def _query(service: str, input: Any) -> str:
    if isinstance(input, str):
        return input
    if isinstance(input, dict):  # {"question": ...} / {"query": ...}, a common slip
        for key in ("query", "question", "input"):
            if isinstance(input.get(key), str):
                return str(input[key])
    try:
        return prompt_text(input)
    except TypeError:
        raise TypeError(
            f"{service} expects a query str, got {type(input).__name__}: {input!r:.60}"
        ) from None


class FakeRetriever(SimulatedService):
    """Query in, the ``k`` best-matching :class:`Document` objects out.

    Args:
        docs: the documents to search (``Document`` or str); default: a built-in
            corpus about LangChain and parallelism (:data:`chainlab.sim.CORPUS`).
        latency: seconds per call (simulated, scaled by ``time_scale()``).
        k: how many documents to return (fewer if the corpus is smaller).
        name: the node's name in graphs (default ``"retriever"``).
        **knobs: ``jitter``, ``seed``, ``failure_rate``, ``rate_limit``, ``error``.

    Ranking is a keyword count, ties broken by corpus order: deterministic.
    """

    def __init__(
        self,
        docs: Sequence[Document | str] | None = None,
        latency: float = 0.2,
        k: int = 4,
        *,
        name: str = "retriever",
        **knobs: Unpack[KnobArgs],
    ) -> None:
        super().__init__(name, latency=latency, **knobs)
        if k < 1:
            raise ValueError(f"{name}: k must be >= 1, got {k}")
        self.k = k
        self.docs = [
            d if isinstance(d, Document) else Document(str(d), {"source": f"doc-{i}"})
            for i, d in enumerate(CORPUS if docs is None else docs)
        ]

    def _text(self, input: Any) -> str:
        return _query(self.get_name(), input)

    def _respond(self, input: Any, call: CallInfo) -> list[Document]:
        return [
            Document(d.page_content, dict(d.metadata)) for d in rank(call.text, self.docs, self.k)
        ]


_DOMAINS = ("example.com", "example.org", "example.net")
_KINDS = ("overview", "guide", "discussion", "tutorial", "reference")


class FakeWebSearch(SimulatedService):
    """Query in, ``results`` search hits out: dicts with ``title``, ``url``, ``snippet``.

    URLs are fake (``example.com`` and friends) and never fetched; snippets come from
    the built-in corpus, best match first; everything is a function of the query.

    Args:
        latency: seconds per call (simulated, scaled by ``time_scale()``).
        results: how many hits per query.
        name: the node's name in graphs (default ``"search"``).
        **knobs: ``jitter``, ``seed``, ``failure_rate``, ``rate_limit``, ``error``.
    """

    def __init__(
        self,
        latency: float = 0.3,
        results: int = 3,
        *,
        name: str = "search",
        **knobs: Unpack[KnobArgs],
    ) -> None:
        super().__init__(name, latency=latency, **knobs)
        if results < 1:
            raise ValueError(f"{name}: results must be >= 1, got {results}")
        self.results = results

    def _text(self, input: Any) -> str:
        return _query(self.get_name(), input)

    def _respond(self, input: Any, call: CallInfo) -> list[dict[str, str]]:
        query = call.text.strip()
        slug = "-".join(terms(query)[:6]) or "search"
        snippets = rank(query, CORPUS, len(CORPUS))
        hits = []
        for i in range(self.results):
            hits.append(
                {
                    "title": f"{query[:60]} — {_KINDS[i % len(_KINDS)]}",
                    "url": f"https://{_DOMAINS[i % len(_DOMAINS)]}/{slug}/{i + 1}",
                    "snippet": snippets[i % len(snippets)].page_content,
                }
            )
        return hits
