"""Sim pieces composed with chainlab runnables: threads, tasks and worker processes."""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlab import RunnableParallel, RunnablePassthrough, Span
from chainlab.engine.executors import close_named_executors
from chainlab.sim import (
    ChatPromptTemplate,
    CpuWork,
    FakeChatModel,
    FakeRetriever,
    PromptTemplate,
    StrOutputParser,
    count_primes,
    cpu_work,
    default_iterations,
    set_time_scale,
)
from chainlab.sim.cpu import MODULUS


def closed_form(n: int) -> int:
    return (n - 1) * n * (2 * n - 1) // 6 % MODULUS


def sieve_count(limit: int) -> int:
    flags = [True] * max(limit, 2)
    flags[0] = flags[1] = False
    for i in range(2, int(limit**0.5) + 1):
        if flags[i]:
            flags[i * i :: i] = [False] * len(flags[i * i :: i])
    return sum(flags[:limit])


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=150_000))
def test_cpu_work_matches_the_closed_form(n: int) -> None:
    assert cpu_work(n) == closed_form(n)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=3_000))
def test_count_primes_matches_a_sieve(limit: int) -> None:
    assert count_primes(limit) == sieve_count(limit)


def test_cpu_work_runnable_inputs_and_name() -> None:
    with set_time_scale(0.0001):
        size = default_iterations()
        assert CpuWork().invoke(True) == closed_form(size)  # a bool is not a size
        assert CpuWork().invoke(None) == closed_form(size)
    assert CpuWork().invoke(12_345) == closed_form(12_345)
    assert CpuWork().get_name() == "cpu_work"
    with pytest.raises(ValueError, match="iterations must be >= 0"):
        CpuWork().invoke(-5)
    clone = pickle.loads(pickle.dumps(CpuWork(7, name="tiny")))
    assert (clone.iterations, clone.get_name(), clone.invoke("ignored")) == (7, "tiny", 91)


class Ends:
    """Collects ended spans (thread-safe enough: list.append is atomic)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.done = threading.Event()

    def on_start(self, span: Span) -> None:
        pass

    def on_end(self, span: Span) -> None:
        self.spans.append(span)
        if span.name == "burn":
            self.done.set()


def test_cancelling_an_ainvoke_task_stops_cpu_work_on_its_thread() -> None:
    ends = Ends()

    async def main() -> None:
        burn = CpuWork(500_000_000, name="burn")  # about a minute if never stopped
        task = asyncio.ensure_future(burn.ainvoke(None, config={"callbacks": [ends]}))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert ends.done.wait(10)
    (burn,) = [s for s in ends.spans if s.name == "burn"]
    assert burn.status == "cancelled"


# -- LCEL chains in parallels --------------------------------------------------------------


def _two_chains() -> tuple[RunnableParallel, FakeChatModel, FakeChatModel]:
    prompt = ChatPromptTemplate.from_messages([("system", "be {tone}"), ("human", "a {kind}")])
    joker = FakeChatModel("joker", latency=0.01, seed=1, responses=lambda t: t.upper())
    poet = FakeChatModel("poet", latency=0.01, seed=2)
    parser = StrOutputParser()
    chain = RunnableParallel(joke=prompt | joker | parser, poem=prompt | poet | parser)
    return chain, joker, poet


def test_prompt_model_parser_chains_in_a_parallel(drive: Any) -> None:
    chain, joker, poet = _two_chains()
    result = drive(chain, {"tone": "brief", "kind": "joke about owls"})
    assert result == {
        "joke": "SYSTEM: BE BRIEF\nHUMAN: A JOKE ABOUT OWLS",
        "poem": "[poet] answer about owls",
    }
    assert (joker.calls, poet.calls) == (1, 1)


def test_parallel_chains_batch_with_a_shared_limit() -> None:
    both: list[int] = []  # calls in flight over both models, seen from inside a call

    def answer(text: str) -> str:
        both.append(joker.in_flight + poet.in_flight)
        return text.rsplit(" ", 1)[-1]

    joker = FakeChatModel("joker", latency=0.02, responses=answer)
    poet = FakeChatModel("poet", latency=0.02, responses=answer)
    prompt = PromptTemplate.from_template("a poem about {x}")
    chain = RunnableParallel(a=prompt | joker, b=prompt | poet) | (
        lambda d: {k: v.content for k, v in d.items()}
    )
    words = ["sun", "rain", "snow", "fog"]
    results = chain.batch(words, config={"max_concurrency": 2})
    assert results == [{"a": w, "b": w} for w in words]
    assert joker.calls == poet.calls == len(words)
    assert len(both) == 2 * len(words)
    assert max(both) <= 2  # one limit for the whole batch, across both models


def test_rag_fan_out_with_a_retriever_and_two_models(drive: Any) -> None:
    retriever = FakeRetriever(latency=0.01, k=2)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Context: {context}"), ("human", "{question}")]
    )
    seen: list[str] = []

    def answer(text: str) -> str:
        seen.append(text)
        return "ok"

    chain = (
        RunnableParallel(context=retriever, question=RunnablePassthrough())
        | prompt
        | RunnableParallel(
            short=FakeChatModel("a", latency=0.01, responses=answer) | StrOutputParser(),
            long=FakeChatModel("b", latency=0.01) | StrOutputParser(),
        )
    )
    question = "what does the GIL do to threads?"
    result = drive(chain, question)
    assert result == {"short": "ok", "long": "[b] answer about what does the GIL do to threads"}
    docs = FakeRetriever(latency=0, k=2).invoke(question)
    assert docs[0].metadata["id"] == "gil"
    assert seen == [f"System: Context: {docs}\nHuman: {question}"]
    assert retriever.calls == 1


# -- worker processes ----------------------------------------------------------------------


@pytest.fixture
def named_processes() -> Iterator[str]:
    yield "processes"
    close_named_executors()


def test_picklable_chains_run_in_worker_processes(named_processes: str) -> None:
    prompt = PromptTemplate.from_template("a joke about {topic}")
    model = FakeChatModel("joker", latency=0.01, seed=1)
    chain = RunnableParallel(joke=prompt | model | StrOutputParser(), cpu=CpuWork(20_000))
    in_threads = chain.invoke({"topic": "cats"})
    assert model.calls == 1
    config = {"executor": named_processes}
    assert chain.invoke({"topic": "cats"}, config=config) == in_threads
    assert model.calls == 1  # the call ran on a pickled copy: its counters stay there
    async_result = asyncio.run(chain.ainvoke({"topic": "cats"}, config=config))
    assert async_result == in_threads
    assert in_threads == {"joke": "[joker] answer about cats", "cpu": closed_form(20_000)}
