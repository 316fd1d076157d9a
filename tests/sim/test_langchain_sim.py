"""chainlab.sim.langchain: the simulated world as real LangChain components.

They are langchain_core classes (BaseChatModel, BaseRetriever, BaseTool, LangChain's
own prompts and parsers), run by LangChain's engine, with the chainlab twin's latency,
jitter, seed, failure rate, rate limit, time scale, counters and cancellation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnableParallel
from langchain_core.tools import BaseTool

import chainlab.sim as native
from chainlab.sim import langchain as sim
from chainlab.widgets.controls import find_tunables


def test_the_components_are_langchain_classes_and_compose_into_langchain_chains() -> None:
    model = sim.FakeChatModel("joker", latency=0)
    assert isinstance(model, BaseChatModel)
    assert isinstance(sim.FakeRetriever(latency=0), BaseRetriever)
    assert isinstance(sim.FakeWebSearch(latency=0), BaseTool)
    assert sim.ChatPromptTemplate.__module__.startswith("langchain_core")
    assert sim.StrOutputParser.__module__.startswith("langchain_core")
    chain = sim.ChatPromptTemplate.from_template("a joke about {topic}") | model
    assert type(chain).__module__ == "langchain_core.runnables.base"
    message = chain.invoke({"topic": "cats"})
    assert isinstance(message, AIMessage)
    assert message.content == "[joker] answer about cats"
    assert message.response_metadata["model"] == "joker"
    assert type(model.with_retry()).__module__.startswith("langchain_core")


def test_answers_match_the_native_twins() -> None:
    docs = sim.FakeRetriever(latency=0, k=2).invoke("parallel map")
    want = native.FakeRetriever(latency=0, k=2).invoke("parallel map")
    assert [d.page_content for d in docs] == [d.page_content for d in want]
    assert sim.FakeWebSearch(latency=0).invoke("x y") == native.FakeWebSearch(latency=0).invoke(
        "x y"
    )
    queries = sim.generate_queries(n=2, latency=0)
    assert queries.invoke("topic") == ["topic overview", "topic best practices"]
    assert queries.service.calls == 1
    assert sim.Document("text", {"source": "s"}).metadata == {"source": "s"}


def test_latency_is_simulated_time_and_calls_overlap_in_langchains_pool() -> None:
    with native.set_time_scale(0.5):
        models = {k: sim.FakeChatModel(k, latency=0.4) for k in "abc"}
        started = time.perf_counter()
        RunnableParallel(**models).invoke("hi")
        wall = time.perf_counter() - started
    assert 0.19 < wall < 0.55  # 0.4 s scaled to 0.2 s, the three at once (not 0.6 s)
    assert all(m.calls == 1 and m.max_in_flight == 1 for m in models.values())


def test_failures_rate_limits_and_counters_read_through() -> None:
    model = sim.FakeChatModel("m", latency=0, failure_rate=1.0, seed=1)
    with pytest.raises(native.SimulatedError, match="simulated failure"):
        model.invoke("x")
    assert (model.calls, model.failures) == (1, 1)
    model.failure_rate = 0.0
    assert model.service.failure_rate == 0.0
    assert model.invoke("x").content
    with pytest.raises(ValueError, match="failure_rate"):
        model.failure_rate = 2.0
    model.reset()
    assert model.stats == dict.fromkeys(
        ("calls", "max_in_flight", "failures", "rate_limited", "cancelled_calls"), 0
    )
    limited = sim.FakeChatModel("limited", latency=0.2, rate_limit=1)
    with pytest.raises(native.RateLimitError, match="rate limit exceeded"):
        RunnableParallel(a=limited, b=limited).invoke("x")
    assert limited.rate_limited == 1
    assert RunnableParallel(a=limited, b=limited).invoke("x", {"max_concurrency": 1})


def test_jitter_is_reproducible_with_a_seed() -> None:
    def delays(model: Any) -> list[float]:
        return [model.invoke(f"q{i}").response_metadata["latency"] for i in range(4)]

    with native.set_time_scale(0.01):
        one = delays(sim.FakeChatModel("m", latency=1, jitter=0.5, seed=7))
        two = delays(sim.FakeChatModel("m", latency=1, jitter=0.5, seed=7))
    assert one == two
    assert len(set(one)) > 1


def test_a_cancelled_async_call_stops_sleeping_and_is_counted() -> None:
    model = sim.FakeChatModel("slow", latency=5)

    async def main() -> float:
        task = asyncio.create_task(model.ainvoke("x"))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - started

    with native.set_time_scale(1.0):
        assert asyncio.run(main()) < 1.0
    assert model.cancelled_calls == 1


def test_the_failure_rate_slider_finds_langchain_sim_models() -> None:
    a, b = sim.FakeChatModel("a", latency=0), sim.FakeChatModel("b", latency=0)
    chain = RunnableParallel(x=a.with_retry(), y=RunnableLambda(str) | b)
    assert find_tunables(chain) == [a, b]


def test_the_client_timeout_and_retries_work_on_langchains_model() -> None:
    model = sim.FakeChatModel("slow", latency=2.0, timeout=0.05, max_retries=1)
    with pytest.raises(sim.SimulatedTimeout):
        model.invoke("x")
    assert (model.calls, model.timeouts) == (2, 2)
