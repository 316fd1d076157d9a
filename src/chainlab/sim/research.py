"""Pieces for the research-agent pattern: generate queries, search each, merge.

    topic ─▶ generate_queries ─▶ [q1, q2, q3] ─▶ search.map() ─▶ [[hits], ...] ─▶ merge

>>> from chainlab.sim import FakeWebSearch, generate_queries, merge_results
>>> chain = generate_queries(n=3, latency=0) | FakeWebSearch(latency=0).map() | merge_results
>>> hits = chain.invoke("parallel runnables")
>>> len(hits), hits[0]["url"]
(9, 'https://example.com/parallel-runnables-overview/1')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

from chainlab.sim.messages import prompt_text
from chainlab.sim.service import CallInfo, KnobArgs, SimulatedService

ANGLES = (
    "overview",
    "best practices",
    "common pitfalls",
    "examples",
    "performance",
    "alternatives",
    "history",
    "latest research",
)
"""The sub-query angles :class:`QueryGenerator` uses, in order."""


class QueryGenerator(SimulatedService):
    """A simulated planning model: a topic in, ``n`` search sub-queries out.

    The input is a str, a prompt value or a dict with a ``"topic"`` / ``"question"``
    key. Sub-queries are ``"<topic> <angle>"`` for the first ``n`` of :data:`ANGLES`.
    Timing and failure knobs as for :class:`~chainlab.sim.FakeChatModel`.
    """

    def __init__(
        self,
        n: int = 3,
        latency: float = 0.5,
        *,
        name: str = "generate_queries",
        **knobs: Unpack[KnobArgs],
    ) -> None:
        super().__init__(name, latency=latency, **knobs)
        if not 1 <= n <= len(ANGLES):
            raise ValueError(f"{name}: n must be within 1..{len(ANGLES)}, got {n}")
        self.n = n

    def _text(self, input: Any) -> str:
        if isinstance(input, dict):
            for key in ("topic", "question", "query", "input"):
                if key in input:
                    return str(input[key])
            raise KeyError(f"{self.name}: expected a 'topic' key, got keys {sorted(input)}")
        return prompt_text(input)

    def _respond(self, input: Any, call: CallInfo) -> list[str]:
        topic = " ".join(call.text.split()) or "the topic"
        return [f"{topic} {angle}" for angle in ANGLES[: self.n]]


def generate_queries(n: int = 3, latency: float = 0.5, **kwargs: Any) -> QueryGenerator:
    """A new :class:`QueryGenerator` (a model that plans ``n`` sub-queries)."""
    return QueryGenerator(n, latency, **kwargs)


def merge_results(results: Iterable[Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Fan-in for searches: flatten lists of hits, dropping repeated URLs (first wins).

    A plain function: in a chain it becomes a leaf (``... | merge_results``).
    """
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for hits in results:
        for hit in hits:
            url = str(hit.get("url", ""))
            if url and url in seen:
                continue
            seen.add(url)
            merged.append(hit)
    return merged
