"""FakeChatModel: every input form, every response form, jitter, failures and errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chainlab.sim import (
    AIMessage,
    ChatPromptTemplate,
    FakeChatModel,
    HumanMessage,
    PromptTemplate,
    SimulatedError,
    SystemMessage,
    set_time_scale,
)
from chainlab.sim.model import topic_of


def echo(**kwargs: Any) -> FakeChatModel:
    """A model that answers with exactly the text it read."""
    return FakeChatModel(name="echo", latency=0, responses=lambda text: text, **kwargs)


# -- what the model reads -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("plain text", "plain text"),
        (HumanMessage("one message"), "one message"),
        ([HumanMessage("hi")], "Human: hi"),
        (
            [SystemMessage("be brief"), HumanMessage("why?"), AIMessage("because")],
            "System: be brief\nHuman: why?\nAI: because",
        ),
        ([("system", "s"), ("user", "u"), ("assistant", "a")], "System: s\nHuman: u\nAI: a"),
        (["bare strings are human turns"], "Human: bare strings are human turns"),
        ((HumanMessage("a tuple"), AIMessage("of messages")), "Human: a tuple\nAI: of messages"),
    ],
)
def test_model_reads_strings_messages_and_pairs(given: Any, read: str) -> None:
    assert echo().invoke(given).content == read


def test_model_reads_chainlab_prompt_values() -> None:
    string_value = PromptTemplate.from_template("a poem about {topic}").invoke({"topic": "rain"})
    chat_value = ChatPromptTemplate.from_messages(
        [("system", "You are {role}."), ("human", "{question}")]
    ).invoke({"role": "a poet", "question": "why rain?"})
    assert echo().invoke(string_value).content == "a poem about rain"
    assert echo().invoke(chat_value).content == "System: You are a poet.\nHuman: why rain?"
    assert echo().invoke(chat_value).content == chat_value.to_string()


def test_model_reads_langchain_messages_and_prompt_values() -> None:
    lc_messages = pytest.importorskip("langchain_core.messages")
    lc_prompts = pytest.importorskip("langchain_core.prompts")
    messages = [lc_messages.SystemMessage("be brief"), lc_messages.HumanMessage("hi")]
    assert echo().invoke(messages).content == "System: be brief\nHuman: hi"
    assert echo().invoke(lc_messages.HumanMessage("solo")).content == "solo"
    value = lc_prompts.ChatPromptTemplate.from_messages([("human", "a joke about {x}")]).invoke(
        {"x": "owls"}
    )
    model = FakeChatModel("m", latency=0)
    assert model.invoke(value).content == "[m] answer about owls"


@pytest.mark.parametrize("bad", [42, 3.5, {"topic": "dict"}, None, object()])
def test_model_rejects_other_inputs_before_counting_them(bad: Any) -> None:
    model = FakeChatModel(latency=0)
    with pytest.raises(TypeError, match="chat model takes a str"):
        model.invoke(bad)
    assert model.calls == 0
    assert model.in_flight == 0


def test_unknown_role_in_a_pair_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown message role 'robot'"):
        FakeChatModel(latency=0).invoke([("robot", "beep")])


# -- the default answer ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "topic"),
    [
        ("Tell me a joke about bears!", "bears"),
        ("Write about the sea. Then write about the sky?", "the sky"),
        ("System: be brief\nHuman: Tell me about rivers.", "rivers"),
        ("no keyword here", "no keyword here"),
        ("first line\n\n  Human:   last line  \n", "last line"),
        ("", ""),
    ],
)
def test_topic_of_takes_what_follows_the_last_about(prompt: str, topic: str) -> None:
    assert topic_of(prompt) == topic
    assert FakeChatModel("m", latency=0).invoke(prompt).content == f"[m] answer about {topic}"


def test_long_topics_are_cut_with_an_ellipsis() -> None:
    long = "word " * 40
    topic = topic_of(f"about {long}")
    assert len(topic) <= 60
    assert topic.endswith("…")
    assert long.startswith(topic[:-1])
    assert topic_of("about " + "x" * 30, limit=10) == "x" * 9 + "…"


# -- responses ---------------------------------------------------------------------------


def test_callable_responses_get_the_prompt_text_and_may_return_non_strings() -> None:
    seen: list[str] = []

    def answer(text: str) -> int:
        seen.append(text)
        return len(text)

    model = FakeChatModel(latency=0, responses=answer)
    message = model.invoke([SystemMessage("s"), HumanMessage("hello")])
    assert seen == ["System: s\nHuman: hello"]
    assert message.content == str(len(seen[0]))


def test_list_responses_are_used_in_call_order_under_parallel_calls() -> None:
    answers = ["alpha", "beta", "gamma"]
    model = FakeChatModel(latency=0.001, responses=answers)
    results = model.batch([f"q{i}" for i in range(9)])
    by_call = {r.response_metadata["call"]: r.content for r in results}
    assert sorted(by_call) == list(range(9))  # every call got its own index
    assert all(content == answers[call % 3] for call, content in by_call.items())
    tuple_model = FakeChatModel(latency=0, responses=("only",))
    assert tuple_model.invoke("x").content == "only"
    assert tuple_model.responses == ["only"]  # a copy: later edits of the input do not leak


def test_response_metadata_describes_the_call() -> None:
    model = FakeChatModel("meta", latency=2.0)
    with set_time_scale(0.001):
        first = model.invoke("a")
        second = asyncio.run(model.ainvoke("b"))
    assert first.response_metadata == {
        "model": "meta",
        "call": 0,
        "attempt": 1,
        "latency": pytest.approx(0.002),
    }
    assert second.response_metadata["call"] == 1
    assert first == AIMessage(first.content)  # metadata takes no part in equality


# -- jitter, seeds and failures ----------------------------------------------------------


def test_jitter_stays_within_latency_plus_or_minus_jitter() -> None:
    model = FakeChatModel(latency=1.0, jitter=0.5, seed=11)
    with set_time_scale(0.0001):
        answers = model.batch([f"q{i}" for i in range(300)])
    delays = [m.response_metadata["latency"] for m in answers]
    assert all(0.5e-4 <= d <= 1.5e-4 for d in delays)
    assert min(delays) < 0.7e-4  # spread over the whole range, not stuck in the middle
    assert max(delays) > 1.3e-4


def test_jitter_larger_than_latency_never_waits_a_negative_time() -> None:
    model = FakeChatModel(latency=0.1, jitter=1.0, seed=2)
    with set_time_scale(0.001):
        answers = model.batch([f"q{i}" for i in range(100)])
    delays = [m.response_metadata["latency"] for m in answers]
    assert min(delays) == 0.0
    assert max(delays) <= 1.1e-3
    assert sum(d == 0.0 for d in delays) > 20  # latency - jitter < 0 about 45% of the time


def test_same_seed_same_draws_no_seed_fresh_draws() -> None:
    def delays(model: FakeChatModel) -> list[float]:
        with set_time_scale(0.0001):
            return [model.invoke(f"q{i}").response_metadata["latency"] for i in range(20)]

    assert delays(FakeChatModel(latency=1, jitter=1, seed=5)) == delays(
        FakeChatModel(latency=1, jitter=1, seed=5)
    )
    assert delays(FakeChatModel(latency=1, jitter=1)) != delays(FakeChatModel(latency=1, jitter=1))


def test_failure_rate_zero_never_fails_and_one_always_fails() -> None:
    never = FakeChatModel(latency=0, failure_rate=0.0, seed=1)
    assert all(isinstance(r, AIMessage) for r in never.batch([f"q{i}" for i in range(300)]))
    assert never.failures == 0
    always = FakeChatModel(name="down", latency=0, failure_rate=1.0)
    results = always.batch([f"q{i}" for i in range(50)], return_exceptions=True)
    assert all(isinstance(r, SimulatedError) for r in results)
    assert always.failures == always.calls == 50
    assert "down: simulated failure (failure_rate=1.0) for input 'q" in str(results[0])


def test_error_factory_gets_the_message_and_retries_say_which_attempt() -> None:
    class Upstream(Exception):
        def __init__(self, message: str, status: int = 503) -> None:
            super().__init__(message)
            self.status = status

    made: list[str] = []

    def factory(message: str) -> BaseException:
        made.append(message)
        return Upstream(message)

    model = FakeChatModel(name="api", latency=0, failure_rate=1.0, error=factory)
    flaky = model.with_retry(
        stop_after_attempt=3, wait_exponential_jitter=False, retry_if_exception_type=(Upstream,)
    )
    with pytest.raises(Upstream) as info:
        flaky.invoke("x" * 200)
    assert info.value.status == 503
    assert len(made) == 3 == model.failures
    assert "on attempt" not in made[0]
    assert "on attempt 2" in made[1]
    assert "on attempt 3" in made[2]
    assert "x" * 80 not in made[0]  # the input is cut short in the message


def test_retried_answers_carry_their_attempt() -> None:
    model = FakeChatModel(latency=0, failure_rate=0.5, seed=4)
    retried = model.with_retry(stop_after_attempt=40, wait_exponential_jitter=False)
    results = retried.batch([f"q{i}" for i in range(40)])
    attempts = [r.response_metadata["attempt"] for r in results]
    assert max(attempts) > 1
    assert sum(a - 1 for a in attempts) == model.failures  # each extra attempt followed a failure
    assert model.calls == len(results) + model.failures
