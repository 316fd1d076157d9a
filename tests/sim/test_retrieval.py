"""FakeRetriever, FakeWebSearch and the research fan-out / fan-in helpers."""

from __future__ import annotations

import asyncio

import pytest

from chainlab import RunnableParallel, RunnablePassthrough
from chainlab.sim import (
    CORPUS,
    ChatPromptTemplate,
    Document,
    FakeChatModel,
    FakeRetriever,
    FakeWebSearch,
    QueryGenerator,
    SimulatedError,
    StrOutputParser,
    generate_queries,
    merge_results,
    set_time_scale,
)


def test_retriever_returns_k_ranked_documents() -> None:
    retriever = FakeRetriever(latency=0, k=3)
    docs = retriever.invoke("Why does the GIL stop threads speeding up CPU-bound work?")
    assert len(docs) == 3
    assert all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["id"] == "gil"
    assert retriever.invoke("the GIL") == retriever.invoke("the GIL")  # deterministic
    docs[0].metadata["id"] = "changed"
    assert CORPUS[6].metadata["id"] == "gil"  # callers get copies
    assert retriever.calls == 3
    assert retriever.get_name() == "retriever"


def test_retriever_with_user_docs_and_small_corpus() -> None:
    retriever = FakeRetriever(["cats purr", "dogs bark", "parrots talk"], latency=0, k=5)
    docs = retriever.invoke("which animal can bark?")
    assert [d.page_content for d in docs] == ["dogs bark", "cats purr", "parrots talk"]
    assert docs[0].metadata == {"source": "doc-1"}
    with pytest.raises(ValueError, match="k must be"):
        FakeRetriever(k=0)


def test_retriever_takes_a_question_dict_and_rejects_others() -> None:
    retriever = FakeRetriever(latency=0, k=1)
    assert retriever.invoke({"question": "asyncio tasks"})[0].metadata["id"] == "asyncio"
    with pytest.raises(TypeError, match="query str"):
        retriever.invoke(3.5)


def test_web_search_result_shape() -> None:
    search = FakeWebSearch(latency=0, results=4)
    hits = search.invoke("max_concurrency and rate limits")
    assert len(hits) == 4
    for i, hit in enumerate(hits, 1):
        assert set(hit) == {"title", "url", "snippet"}
        assert hit["url"].startswith("https://example.")
        assert hit["url"].endswith(f"/{i}")
        assert hit["snippet"]
    assert "max_concurrency" in hits[0]["snippet"]
    assert len({h["url"] for h in hits}) == 4
    assert search.invoke("max_concurrency and rate limits") == hits


def test_search_failures_and_latency_knobs() -> None:
    failing = FakeWebSearch(latency=0, failure_rate=1.0, name="web")
    with pytest.raises(SimulatedError, match="web"):
        failing.invoke("anything")
    slow = FakeWebSearch(latency=100.0)
    with set_time_scale(0.0001):
        assert len(slow.invoke("quick")) == 3  # 10 ms instead of 100 s


def test_rag_chain() -> None:
    retriever = FakeRetriever(latency=0, k=2)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Context: {context}"), ("human", "Question about {question}")]
    )
    chain = (
        {"context": retriever, "question": RunnablePassthrough()}
        | prompt
        | FakeChatModel(latency=0)
        | StrOutputParser()
    )
    assert chain.invoke("retries") == "[model] answer about retries"


def test_research_fan_out_and_merge() -> None:
    planner = generate_queries(n=4, latency=0)
    assert isinstance(planner, QueryGenerator)
    assert planner.get_name() == "generate_queries"
    queries = planner.invoke({"topic": "parallel   chains"})
    assert queries == [
        "parallel chains overview",
        "parallel chains best practices",
        "parallel chains common pitfalls",
        "parallel chains examples",
    ]
    search = FakeWebSearch(latency=0.01, results=2)
    chain = planner | search.map() | merge_results
    hits = asyncio.run(chain.ainvoke("parallel chains"))
    assert len(hits) == 8
    assert search.calls == 4
    assert merge_results([hits[:3], hits[1:4]]) == hits[:4]  # duplicates dropped
    with pytest.raises(ValueError, match="n must be"):
        generate_queries(n=0)


def test_services_run_side_by_side() -> None:
    chain = RunnableParallel(docs=FakeRetriever(latency=0.05), web=FakeWebSearch(latency=0.05))
    result = chain.invoke("fan-out")
    assert len(result["docs"]) == 4
    assert len(result["web"]) == 3
