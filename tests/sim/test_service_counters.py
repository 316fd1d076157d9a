"""Simulated services: counters, rate limits under nesting, cancellation, knobs."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Callable
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.sim import (
    AIMessage,
    FakeChatModel,
    FakeRetriever,
    FakeWebSearch,
    QueryGenerator,
    RateLimitError,
    SimulatedError,
    SimulatedService,
    SimulatedTimeout,
    set_time_scale,
)

pytestmark = pytest.mark.usefixtures("real_time")

SERVICES: dict[str, Callable[..., SimulatedService]] = {
    "model": lambda **kw: FakeChatModel(name="svc", **kw),
    "retriever": lambda **kw: FakeRetriever(name="svc", **kw),
    "search": lambda **kw: FakeWebSearch(name="svc", **kw),
    "planner": lambda **kw: QueryGenerator(name="svc", **kw),
}


# -- the knobs every service shares ----------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SERVICES))
def test_every_service_fails_on_demand_and_counts(kind: str) -> None:
    service = SERVICES[kind](latency=0, failure_rate=1.0)
    with pytest.raises(SimulatedError, match="svc: simulated failure"):
        service.invoke("parallel chains")
    assert service.stats == {
        "calls": 1,
        "max_in_flight": 1,
        "failures": 1,
        "rate_limited": 0,
        "cancelled_calls": 0,
    }
    assert service.get_name() == "svc"
    assert repr(service).startswith(f"{type(service).__name__}(name='svc'")


@pytest.mark.parametrize("kind", sorted(SERVICES))
def test_every_service_has_a_rate_limit(kind: str, wait_until: Any) -> None:
    service = SERVICES[kind](latency=1.0, rate_limit=1)
    chain = RunnableParallel(a=service, b=service, c=service)
    with pytest.raises(RateLimitError, match=r"svc: rate limit exceeded .*rate_limit=1"):
        chain.invoke("parallel chains")
    assert service.rate_limited >= 1
    assert wait_until(lambda: service.in_flight == 0)
    assert isinstance(RateLimitError("x"), SimulatedError)  # one except clause catches both


@pytest.mark.parametrize(
    ("knobs", "complaint"),
    [
        ({"jitter": -0.1}, "jitter"),
        ({"failure_rate": -0.01}, "failure_rate"),
        ({"rate_limit": -3}, "rate_limit"),
    ],
)
@pytest.mark.parametrize("kind", sorted(SERVICES))
def test_invalid_knobs_name_the_service(kind: str, knobs: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        SERVICES[kind](**knobs)


# -- counters ----------------------------------------------------------------------------


def test_max_in_flight_counts_calls_that_overlapped() -> None:
    """On the virtual clock: exact, and no 2 s of real sleeping."""
    model = FakeChatModel(latency=0.5)
    with set_time_scale(1.0), chainlab.virtual_clock() as clock:
        start = clock.now()
        RunnableParallel({f"b{i}": model for i in range(5)}).invoke("q")
        assert clock.now() - start == pytest.approx(0.5, abs=1e-9)
        assert model.max_in_flight == 5  # the engine's pool has no small cap
        assert model.in_flight == 0
        model.reset()
        start = clock.now()
        model.batch(["a", "b", "c"], config={"max_concurrency": 1})
        assert clock.now() - start == pytest.approx(1.5, abs=1e-9)  # one after the other
    assert model.max_in_flight == 1
    assert model.calls == 3


def test_rate_limited_batch_keeps_consistent_counters(wait_until: Any) -> None:
    """On the virtual clock no call can end before all 8 have started: exactly the
    first 2 are answered (on the real clock a slow machine could let one end first)."""
    model = FakeChatModel(latency=0.3, rate_limit=2)
    with chainlab.virtual_clock():
        results = model.batch([f"q{i}" for i in range(8)], return_exceptions=True)
    limited = [r for r in results if isinstance(r, RateLimitError)]
    answered = [r for r in results if isinstance(r, AIMessage)]
    assert len(answered) == 2
    assert len(limited) == 6
    assert model.rate_limited == 6
    assert model.calls == 8  # a rejected call is still a call
    assert model.max_in_flight == 3  # ... and counts in max_in_flight
    assert wait_until(lambda: model.in_flight == 0)
    assert "max_concurrency': 2" in str(limited[0])  # the message says how to fix it


def test_rate_limited_batch_on_the_real_clock(wait_until: Any) -> None:
    """The same on the real clock, with the wide margins real threads need."""
    model = FakeChatModel(latency=0.3, rate_limit=2)
    results = model.batch([f"q{i}" for i in range(8)], return_exceptions=True)
    limited = [r for r in results if isinstance(r, RateLimitError)]
    answered = [r for r in results if isinstance(r, AIMessage)]
    assert len(limited) + len(answered) == 8
    assert len(answered) >= 1
    assert model.rate_limited == len(limited) >= 1
    assert model.max_in_flight > 2
    assert wait_until(lambda: model.in_flight == 0)


def _deeply_nested(model: FakeChatModel) -> RunnableParallel:
    pair = RunnableParallel(x=model, y=model)
    return RunnableParallel(
        outer=RunnableParallel(p=pair, q=pair, r=model),
        each=RunnableLambda(lambda q: [q] * 3) | model.map(),
    )


def test_nested_parallels_without_a_limit_hit_the_rate_limit(drive: Any, wait_until: Any) -> None:
    model = FakeChatModel(latency=1.0, rate_limit=3)
    chain = _deeply_nested(model)
    with pytest.raises(RateLimitError):
        drive(chain, "q")
    assert model.rate_limited >= 1
    assert wait_until(lambda: model.in_flight == 0)
    assert wait_until(lambda: model.cancelled_calls >= 1)  # fail-fast stopped the admitted ones


def test_nested_parallels_with_max_concurrency_stay_under_it(drive: Any) -> None:
    model = FakeChatModel(latency=0.02, rate_limit=3)
    result = drive(_deeply_nested(model), "q", {"max_concurrency": 3})
    assert len(result["each"]) == 3
    assert set(result["outer"]["p"]) == {"x", "y"}
    assert model.rate_limited == 0
    assert model.calls == 8
    assert 1 <= model.max_in_flight <= 3


def test_reset_zeroes_every_counter_and_forgets_the_draws() -> None:
    model = FakeChatModel(latency=0.001, jitter=0.001, failure_rate=0.5, seed=8)
    first = model.batch(["same"] * 6, return_exceptions=True)
    assert model.calls == 6
    model.reset()
    assert model.stats == dict.fromkeys(model.stats, 0)
    assert model.in_flight == 0
    again = model.batch(["same"] * 6, return_exceptions=True)
    assert [type(r) for r in again] == [type(r) for r in first]


def test_counters_are_exact_under_many_threads() -> None:
    model = FakeChatModel(latency=0.001, failure_rate=0.2, seed=3)
    inputs = [f"q{i}" for i in range(400)]
    results = model.batch(inputs, config={"max_concurrency": 32}, return_exceptions=True)
    errors = [r for r in results if isinstance(r, SimulatedError)]
    assert model.calls == 400
    assert model.failures == len(errors) > 0
    assert model.in_flight == 0
    assert 1 < model.max_in_flight <= 32


# -- cancellation ------------------------------------------------------------------------


def test_cancelling_the_ainvoke_task_stops_the_call(wait_until: Any) -> None:
    model = FakeChatModel(latency=30)

    async def main() -> float:
        task = asyncio.ensure_future(model.ainvoke("q"))
        while model.in_flight == 0:
            await asyncio.sleep(0.005)
        start = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - start

    assert asyncio.run(main()) < 5  # not the 30 s latency
    assert model.cancelled_calls == 1
    assert model.in_flight == 0
    assert model.calls == 1
    assert model.failures == 0


def test_a_timeout_cancels_the_scope_of_a_sync_call(wait_until: Any) -> None:
    model = FakeChatModel(name="slow", latency=30)
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="timed out"):
        model.with_timeout(0.1).invoke("q")
    assert wait_until(lambda: model.cancelled_calls == 1)
    assert wait_until(lambda: model.in_flight == 0)
    assert time.perf_counter() - start < 10


def test_a_timeout_fires_exactly_at_its_deadline_on_the_virtual_clock(
    virtual: Any, wait_until: Any
) -> None:
    model = FakeChatModel(name="slow", latency=30)
    with chainlab.stopwatch() as watch, pytest.raises(TimeoutError, match="timed out"):
        model.with_timeout(0.1).invoke("q")
    assert watch.seconds == pytest.approx(0.1, abs=1e-9)  # not the 30 s latency
    assert wait_until(lambda: model.cancelled_calls == 1)
    assert wait_until(lambda: model.in_flight == 0)


def test_calls_queued_behind_max_concurrency_never_start_after_a_failure(
    wait_until: Any,
) -> None:
    model = FakeChatModel(latency=0.2)
    bad = FakeChatModel(name="bad", latency=0.05, failure_rate=1.0)
    branches: dict[str, Any] = {"bad": bad}
    branches.update({f"m{i}": model for i in range(6)})
    with pytest.raises(SimulatedError, match="bad"):
        RunnableParallel(branches).invoke("q", config={"max_concurrency": 2})
    assert wait_until(lambda: model.in_flight == 0)
    assert model.calls < 6  # the queued branches were never called
    assert model.cancelled_calls <= model.calls


def test_after_a_failure_exactly_the_admitted_calls_ran_on_the_virtual_clock(
    virtual: Any, wait_until: Any
) -> None:
    model = FakeChatModel(latency=0.2)
    bad = FakeChatModel(name="bad", latency=0.05, failure_rate=1.0)
    branches: dict[str, Any] = {"bad": bad}
    branches.update({f"m{i}": model for i in range(6)})
    with chainlab.stopwatch() as watch, pytest.raises(SimulatedError, match="bad"):
        RunnableParallel(branches).invoke("q", config={"max_concurrency": 2})
    assert watch.seconds == pytest.approx(0.05, abs=1e-9)  # raised at the failure
    assert wait_until(lambda: model.in_flight == 0)
    assert model.calls == 1  # 'bad' and one model held the two slots; no queued call started
    assert model.cancelled_calls == 1


# -- pickling ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SERVICES))
def test_services_pickle_with_knobs_and_a_fresh_lock(kind: str) -> None:
    service = SERVICES[kind](latency=0, seed=12, rate_limit=2)
    expected = service.invoke("fan-out patterns")
    clone = pickle.loads(pickle.dumps(service))
    assert (clone.seed, clone.rate_limit, clone.name) == (12, 2, "svc")
    assert clone.calls == 1
    assert clone._lock is not service._lock
    assert clone.invoke("fan-out patterns") == expected  # same answer for the same query
    parallel = RunnableParallel(a=clone, b=clone).invoke("fan-out patterns")
    assert parallel["a"] == parallel["b"] == expected
    assert clone.calls == 4
    assert service.calls == 1


# -- the client's own timeout and retries (as on LangChain's provider models) ------------


@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_a_client_timeout_raises_at_the_deadline_and_counts(driver: str) -> None:
    model = FakeChatModel("slow", latency=2.0, timeout=0.05)
    start = time.perf_counter()
    call = model.invoke if driver == "invoke" else lambda x: asyncio.run(model.ainvoke(x))
    with pytest.raises(SimulatedTimeout, match=r"slow: request timed out after 0\.05 s"):
        call("x")
    took = time.perf_counter() - start
    assert 0.04 < took < 1.0, took  # the deadline, not the 2 s call
    assert isinstance(SimulatedTimeout("t"), TimeoutError)
    assert model.stats == {
        "calls": 1,
        "max_in_flight": 1,
        "failures": 0,
        "rate_limited": 0,
        "cancelled_calls": 0,
        "timeouts": 1,
    }


def test_max_retries_resends_failed_requests_inside_one_call() -> None:
    down = FakeChatModel("down", latency=0, failure_rate=1.0, max_retries=2)
    with pytest.raises(SimulatedError, match="down: simulated failure"):
        down.invoke("x")
    assert (down.calls, down.failures) == (3, 3)  # one call, three requests
    flaky = FakeChatModel("flaky", latency=0, failure_rate=0.5, seed=3, max_retries=6)
    answers = flaky.batch([f"q{i}" for i in range(10)])
    assert len(answers) == 10
    assert flaky.calls > 10
    assert flaky.failures == flaky.calls - 10
    slow = FakeChatModel("slow", latency=1.0, timeout=0.02, max_retries=1)
    with pytest.raises(SimulatedTimeout):
        slow.invoke("x")
    assert (slow.calls, slow.timeouts) == (2, 2)


def test_timeout_and_max_retries_are_checked() -> None:
    with pytest.raises(ValueError, match="m: timeout must be > 0"):
        FakeChatModel("m", timeout=0)
    with pytest.raises(ValueError, match="m: max_retries must be an int >= 0, got -1"):
        FakeChatModel("m", max_retries=-1)
    with pytest.raises(ValueError, match="max_retries"):
        FakeChatModel("m", max_retries=1.5)  # type: ignore[arg-type]


def test_the_knobs_are_one_options_object_and_the_keywords_still_work() -> None:
    from chainlab.sim import FakeWebSearch, Knobs, SimulatedService

    search = FakeWebSearch(0.0, 2, jitter=0.0, seed=7, failure_rate=0.25, rate_limit=3)
    assert search.options == Knobs(latency=0.0, seed=7, failure_rate=0.25, rate_limit=3)
    assert (search.seed, search.failure_rate, search.rate_limit) == (7, 0.25, 3)
    service = SimulatedService("svc", options=Knobs(latency=0.0, seed=1))
    assert (service.latency, service.seed) == (0.0, 1)
    with pytest.raises(ValueError, match="svc: failure_rate must be within"):
        SimulatedService("svc", options=Knobs(failure_rate=2.0))
    with pytest.raises(TypeError, match="not both"):
        SimulatedService("svc", options=Knobs(), seed=3)
