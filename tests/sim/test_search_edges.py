"""Retriever scoring, web search results, query planning and merging, at their edges."""

from __future__ import annotations

import asyncio

import pytest

from chainlab.sim import (
    CORPUS,
    Document,
    FakeRetriever,
    FakeWebSearch,
    QueryGenerator,
    StringPromptValue,
    generate_queries,
    merge_results,
)
from chainlab.sim.corpus import rank, score, terms
from chainlab.sim.research import ANGLES

# -- keyword scoring -----------------------------------------------------------------------


def test_terms_drop_stopwords_short_words_and_case() -> None:
    assert terms("What is THE GIL, and how do I avoid it?") == ["gil", "avoid"]
    assert terms("max_concurrency = 4 x") == ["max_concurrency"]
    assert terms("") == []


def test_score_is_plural_insensitive_and_counts_each_term_once() -> None:
    text = "RunnableParallel runs several runnables at once"
    assert score(["runnable"], text) == 1  # "runnables" in the text
    assert score(["runs", "run"], text) == 2
    assert score(["parallel", "parallel"], text) == 0  # a term must match a whole word
    assert score(["runnableparallel", "runnableparallel"], text) == 1


def test_rank_breaks_ties_by_corpus_order() -> None:
    docs = [Document(t) for t in ("zebra", "apple pie", "apple tart", "pie chart")]
    assert [d.page_content for d in rank("apple pie", docs, 4)] == [
        "apple pie",
        "apple tart",
        "pie chart",
        "zebra",
    ]
    assert rank("nothing matches", docs, 2) == docs[:2]


# -- FakeRetriever -------------------------------------------------------------------------


def test_custom_documents_keep_metadata_and_are_copied() -> None:
    docs = [
        Document("threads share the GIL", {"source": "a.md", "page": 3}),
        "processes have their own interpreter",
    ]
    retriever = FakeRetriever(docs, latency=0, k=1)
    (best,) = retriever.invoke("separate processes")
    assert best.metadata == {"source": "doc-1"}
    (gil,) = retriever.invoke("the GIL")
    assert gil == docs[0]
    assert gil is not docs[0]
    gil.metadata["page"] = 99
    assert docs[0].metadata["page"] == 3  # type: ignore[union-attr]


def test_k_larger_than_the_corpus_returns_every_document_once() -> None:
    docs = FakeRetriever(latency=0, k=100).invoke("anything")
    assert len(docs) == len(CORPUS)
    assert sorted(d.metadata["id"] for d in docs) == sorted(d.metadata["id"] for d in CORPUS)


@pytest.mark.parametrize(
    "query",
    [{"query": "asyncio"}, {"input": "asyncio"}, StringPromptValue("asyncio tasks")],
)
def test_retriever_query_forms(query: object) -> None:
    assert FakeRetriever(latency=0, k=1).invoke(query)[0].metadata["id"] == "asyncio"


def test_retriever_rejects_a_dict_without_a_text_query() -> None:
    with pytest.raises(TypeError, match="retriever expects a query str"):
        FakeRetriever(latency=0).invoke({"query": 3})


# -- FakeWebSearch -------------------------------------------------------------------------


def test_search_results_are_the_same_for_every_instance_and_seed() -> None:
    a = FakeWebSearch(latency=0, seed=1).invoke("fan-in patterns")
    b = FakeWebSearch(latency=0, seed=2).invoke("fan-in patterns")
    c = asyncio.run(FakeWebSearch(latency=0).ainvoke("fan-in patterns"))
    assert a == b == c
    assert FakeWebSearch(latency=0).invoke("other question") != a


def test_search_urls_titles_and_snippets() -> None:
    query = "How do the retries and fallbacks work with jitter"
    hits = FakeWebSearch(latency=0, results=7).invoke(query)
    slug = "-".join(terms(query)[:6])
    assert slug == "retries-fallbacks-work-jitter"
    domains = [h["url"].split("/")[2] for h in hits]
    assert domains[:3] == ["example.com", "example.org", "example.net"]
    assert domains[3:6] == domains[:3]  # the domains rotate
    assert [h["url"] for h in hits] == [f"https://{d}/{slug}/{i}" for i, d in enumerate(domains, 1)]
    assert all(h["title"].startswith(query[:60] + " — ") for h in hits)
    assert len({h["title"] for h in hits[:5]}) == 5
    assert hits[0]["snippet"] == rank(query, CORPUS, 1)[0].page_content
    assert {h["snippet"] for h in hits} <= {d.page_content for d in CORPUS}


def test_search_with_no_keywords_and_many_results() -> None:
    hits = FakeWebSearch(latency=0, results=len(CORPUS) + 2).invoke("what is it?")
    assert hits[0]["url"] == "https://example.com/search/1"
    assert hits[len(CORPUS)]["snippet"] == hits[0]["snippet"]  # snippets cycle
    with pytest.raises(ValueError, match="results must be >= 1"):
        FakeWebSearch(results=0)


# -- research: plan and merge --------------------------------------------------------------


@pytest.mark.parametrize("key", ["topic", "question", "query", "input"])
def test_planner_reads_the_usual_dict_keys(key: str) -> None:
    assert generate_queries(n=1, latency=0).invoke({key: "caching"}) == ["caching overview"]


def test_planner_edges() -> None:
    every = generate_queries(n=len(ANGLES), latency=0).invoke(StringPromptValue("  dask \n"))
    assert every == [f"dask {angle}" for angle in ANGLES]
    assert generate_queries(n=2, latency=0).invoke("   ") == [
        "the topic overview",
        "the topic best practices",
    ]
    with pytest.raises(KeyError, match="expected a 'topic' key"):
        generate_queries(latency=0).invoke({"subject": "x"})
    with pytest.raises(ValueError, match=r"n must be within 1\.\.8"):
        QueryGenerator(n=len(ANGLES) + 1)


def test_merge_keeps_first_of_each_url_in_order() -> None:
    first = [{"url": "u1", "title": "a"}, {"url": "u2", "title": "b"}]
    second = [{"url": "u2", "title": "later"}, {"url": "u3", "title": "c"}]
    merged = merge_results([first, second])
    assert [h["title"] for h in merged] == ["a", "b", "c"]
    assert merged[1] is first[1]


def test_merge_keeps_hits_without_urls_and_takes_any_iterables() -> None:
    no_url = [{"title": "x"}, {"title": "y", "url": ""}]
    assert merge_results(iter([iter(no_url), iter(no_url)])) == no_url * 2
    assert merge_results([]) == []
    assert merge_results([[], []]) == []


def test_research_chain_merges_overlapping_searches() -> None:
    search = FakeWebSearch(latency=0.001, results=2)
    queries = ["same query", "same query", "another query"]
    hits = (search.map() | merge_results).invoke(queries)
    assert search.calls == 3
    assert len(hits) == 4  # the repeated query's two hits appear once
    assert len({h["url"] for h in hits}) == 4
