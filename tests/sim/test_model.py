"""FakeChatModel: determinism, failures, rate limits, cancellation, counting."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel
from chainlab.sim import (
    AIMessage,
    ChatPromptTemplate,
    FakeChatModel,
    HumanMessage,
    RateLimitError,
    SimulatedError,
    SystemMessage,
)

pytestmark = pytest.mark.usefixtures("real_time")


def outcomes(results: list[Any]) -> list[tuple[str, Any]]:
    """Comparable summary of batch results: the latency drawn, or the error text."""
    return [
        ("error", str(r)) if isinstance(r, Exception) else ("ok", r.response_metadata["latency"])
        for r in results
    ]


# -- answers ------------------------------------------------------------------------------


def test_default_answer_and_message_shape() -> None:
    model = FakeChatModel(name="gpt-sim", latency=0)
    message = model.invoke("Tell me a joke about bears")
    assert isinstance(message, AIMessage)
    assert message.content == "[gpt-sim] answer about bears"
    assert str(message) == message.content
    assert message.type == "ai"
    assert message.response_metadata["model"] == "gpt-sim"
    assert model.get_name() == "gpt-sim"


def test_accepts_messages_and_prompt_values() -> None:
    model = FakeChatModel(latency=0)
    messages = [SystemMessage("Be brief."), HumanMessage("Explain fan-out")]
    assert model.invoke(messages).content == "[model] answer about Explain fan-out"
    assert (
        model.invoke([("human", "what about caching?")]).content == "[model] answer about caching"
    )
    prompt = ChatPromptTemplate.from_template("a poem about {topic}")
    assert model.invoke(prompt.invoke({"topic": "rain"})).content == "[model] answer about rain"
    with pytest.raises(TypeError, match="chat model takes"):
        model.invoke(42)


def test_responses_callable_and_list() -> None:
    shout = FakeChatModel(latency=0, responses=str.upper)
    assert shout.invoke("hi there").content == "HI THERE"
    cycling = FakeChatModel(latency=0, responses=["one", "two"])
    assert [cycling.invoke("x").content for _ in range(3)] == ["one", "two", "one"]
    with pytest.raises(TypeError):
        FakeChatModel(responses="just one string")
    with pytest.raises(ValueError, match="empty"):
        FakeChatModel(responses=[])


def test_invalid_knobs_rejected() -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        FakeChatModel(failure_rate=1.5)
    with pytest.raises(ValueError, match="rate_limit"):
        FakeChatModel(rate_limit=0)
    with pytest.raises(ValueError, match="latency"):
        FakeChatModel(latency=-1)


# -- determinism --------------------------------------------------------------------------


def test_seeded_runs_reproduce_under_threads_and_asyncio() -> None:
    inputs = [f"question {i % 5}" for i in range(30)]  # repeats on purpose

    def make() -> FakeChatModel:
        return FakeChatModel(latency=0.01, jitter=0.01, failure_rate=0.3, seed=42)

    threads = outcomes(make().batch(inputs, return_exceptions=True))
    one_at_a_time = outcomes(
        make().batch(inputs, config={"max_concurrency": 1}, return_exceptions=True)
    )
    tasks = outcomes(asyncio.run(make().abatch(inputs, return_exceptions=True)))
    assert threads == one_at_a_time == tasks
    assert {kind for kind, _ in threads} == {"ok", "error"}  # the seed really decides
    assert len({lat for kind, lat in threads if kind == "ok"}) > 5  # jitter varies per call

    other_seed = FakeChatModel(latency=0.01, jitter=0.01, failure_rate=0.3, seed=43)
    assert outcomes(other_seed.batch(inputs, return_exceptions=True)) != threads


def test_outcomes_do_not_depend_on_scheduling() -> None:
    """Identical calls started in opposite orders still get the same draws per item."""
    n = 12

    def staged(order: list[int]) -> tuple[FakeChatModel, Any]:
        model = FakeChatModel(latency=0.001, jitter=0.001, failure_rate=0.5, seed=9)

        def wait(i: int) -> str:
            time.sleep(0.003 * order[i])  # sets the order in which the model calls start
            return "the same question"

        return model, RunnableLambda(wait, name="wait") | model

    first_model, forward = staged(list(range(n)))
    _, backward = staged(list(range(n))[::-1])
    a = outcomes(forward.batch(list(range(n)), return_exceptions=True))
    b = outcomes(backward.batch(list(range(n)), return_exceptions=True))
    assert a == b
    assert len(set(a)) > n // 2  # the items really drew differently
    assert first_model.calls == n


def test_parallel_branches_reproduce_and_reset_replays() -> None:
    model = FakeChatModel(latency=0.005, jitter=0.005, seed=7)
    chain = RunnableParallel({f"b{i}": model for i in range(8)})

    def latencies(result: dict[str, AIMessage]) -> dict[str, float]:
        return {k: v.response_metadata["latency"] for k, v in result.items()}

    first = latencies(chain.invoke("topic"))
    second = latencies(chain.invoke("topic"))  # a second run draws afresh
    assert first != second
    model.reset()
    assert latencies(asyncio.run(chain.ainvoke("topic"))) == first
    assert len(set(first.values())) == 8  # each branch has its own draw


def test_retry_draws_afresh() -> None:
    model = FakeChatModel(latency=0, failure_rate=0.5, seed=1)
    flaky = model.with_retry(stop_after_attempt=30, wait_exponential_jitter=False)
    results = flaky.batch([f"q{i}" for i in range(20)])
    assert all(isinstance(r, AIMessage) for r in results)
    assert model.failures > 0  # some first attempts failed and were retried
    assert model.calls == 20 + model.failures


# -- failures -----------------------------------------------------------------------------


def test_failure_rate_is_honoured_over_many_calls() -> None:
    model = FakeChatModel(name="flaky", latency=0, failure_rate=0.3, seed=0)
    results = model.batch([f"q{i}" for i in range(2000)], return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    assert 0.25 < len(errors) / 2000 < 0.35
    assert all(isinstance(e, SimulatedError) and "flaky" in str(e) for e in errors)
    assert model.failures == len(errors)
    assert model.calls == 2000


def test_failure_rate_holds_for_repeated_identical_calls() -> None:
    model = FakeChatModel(latency=0, failure_rate=0.5, seed=5)
    failed = 0
    for _ in range(1000):
        try:
            model.invoke("same question")
        except SimulatedError:
            failed += 1
    assert 400 < failed < 600


def test_custom_error_type() -> None:
    class Upstream(Exception):
        pass

    model = FakeChatModel(latency=0, failure_rate=1.0, error=Upstream)
    with pytest.raises(Upstream, match="simulated failure"):
        model.invoke("x")


# -- rate limit ---------------------------------------------------------------------------


def test_rate_limit_raises_above_n_concurrent_calls(wait_until: Any) -> None:
    model = FakeChatModel(name="api", latency=2.0, rate_limit=2)
    chain = RunnableParallel({f"b{i}": model for i in range(6)})
    start = time.perf_counter()
    with pytest.raises(RateLimitError, match=r"api: rate limit.*max_concurrency"):
        chain.invoke("q")
    assert time.perf_counter() - start < 1.5  # immediately, not after the latency
    assert model.rate_limited >= 1
    assert model.max_in_flight > 2
    assert wait_until(lambda: model.in_flight == 0)


def test_rate_limit_raises_under_ainvoke(wait_until: Any) -> None:
    model = FakeChatModel(latency=2.0, rate_limit=3)
    with pytest.raises(RateLimitError):
        asyncio.run(model.map().ainvoke(["q"] * 10))
    assert model.rate_limited >= 1
    assert wait_until(lambda: model.in_flight == 0)
    assert model.cancelled_calls == 3  # the admitted calls were stopped by fail-fast


def _nested(model: FakeChatModel) -> RunnableParallel:
    inner = RunnableParallel(x=model, y=model, z=model, w=model)
    return RunnableParallel(
        a=inner,
        b=inner.with_config(max_concurrency=4),  # an inner limit never loosens the outer
        c=RunnableLambda(lambda q: [q, q, q, q, q]) | model.map(),
        d=model,
    )


@pytest.mark.parametrize("driver", ["invoke", "ainvoke", "batch"])
def test_max_concurrency_keeps_under_the_rate_limit(driver: str) -> None:
    model = FakeChatModel(latency=0.01, rate_limit=2)
    chain = _nested(model)
    config = {"max_concurrency": 2}
    if driver == "invoke":
        result = chain.invoke("q", config=config)
        assert len(result["a"]) == 4
        assert len(result["c"]) == 5
    elif driver == "ainvoke":
        asyncio.run(chain.ainvoke("q", config=config))
    else:
        chain.batch(["q1", "q2", "q3"], config=config)
    assert model.rate_limited == 0
    assert 1 <= model.max_in_flight <= 2
    assert model.calls == 14 * (3 if driver == "batch" else 1)


# -- cancellation -------------------------------------------------------------------------


def test_fail_fast_cancels_a_slow_model_sync(wait_until: Any) -> None:
    slow = FakeChatModel(name="slow", latency=30)
    bad = FakeChatModel(name="bad", latency=0.05, failure_rate=1.0)
    start = time.perf_counter()
    with pytest.raises(SimulatedError, match="bad"):
        RunnableParallel(slow=slow, bad=bad).invoke("q")
    assert time.perf_counter() - start < 5
    assert wait_until(lambda: slow.cancelled_calls == 1)
    assert wait_until(lambda: slow.in_flight == 0)
    assert slow.calls == 1


def test_fail_fast_cancels_a_slow_model_async(wait_until: Any) -> None:
    slow = FakeChatModel(name="slow", latency=30)

    async def boom(_: Any) -> None:
        await asyncio.sleep(0.05)
        raise ValueError("sibling failed")

    start = time.perf_counter()
    with pytest.raises(ValueError, match="sibling failed"):
        asyncio.run(RunnableParallel(slow=slow, boom=boom).ainvoke("q"))
    assert time.perf_counter() - start < 5
    assert wait_until(lambda: slow.cancelled_calls == 1)
    assert slow.in_flight == 0


def test_ainvoke_uses_tasks_not_threads() -> None:
    model = FakeChatModel(latency=0.5)
    before = threading.active_count()
    results = asyncio.run(model.map().ainvoke([f"q{i}" for i in range(2000)]))
    assert len(results) == 2000
    assert threading.active_count() - before < 5
    assert model.max_in_flight >= 1000  # all (or nearly all) waited at once


# -- counting and pickling ----------------------------------------------------------------


def test_counters_and_reset() -> None:
    model = FakeChatModel(latency=0)
    model.batch(["a", "b", "c"])
    assert model.calls == 3
    assert model.stats["calls"] == 3
    model.reset()
    assert model.stats == {
        "calls": 0,
        "max_in_flight": 0,
        "failures": 0,
        "rate_limited": 0,
        "cancelled_calls": 0,
    }


def test_model_pickles() -> None:
    model = FakeChatModel(name="m", latency=0, seed=3, rate_limit=4)
    model.invoke("x")
    clone = pickle.loads(pickle.dumps(model))
    assert (clone.seed, clone.rate_limit) == (3, 4)
    assert clone.calls == 1
    assert clone.name == "m"
    assert clone.invoke("y").content == "[m] answer about y"
    assert clone.calls == 2
    assert model.calls == 1
