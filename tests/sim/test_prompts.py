"""Prompt templates and the output parser, alone and composed with `|`."""

from __future__ import annotations

import asyncio

import pytest

from chainlab import RunnableSequence
from chainlab.sim import (
    AIMessage,
    ChatPromptTemplate,
    ChatPromptValue,
    FakeChatModel,
    HumanMessage,
    PromptTemplate,
    StringPromptValue,
    StrOutputParser,
    SystemMessage,
)


def test_prompt_template_invoke_gives_prompt_value() -> None:
    prompt = PromptTemplate.from_template("Tell me a joke about {topic}")
    assert prompt.input_variables == ["topic"]
    value = prompt.invoke({"topic": "bears", "unused": 1})
    assert isinstance(value, StringPromptValue)
    assert value.to_string() == "Tell me a joke about bears"
    assert value.to_messages() == [HumanMessage("Tell me a joke about bears")]
    assert prompt.format(topic="cats") == "Tell me a joke about cats"
    assert prompt.invoke("owls").to_string() == "Tell me a joke about owls"  # one variable


def test_missing_variable_names_variable_and_template() -> None:
    prompt = PromptTemplate.from_template("{greeting}, tell me about {topic}")
    with pytest.raises(KeyError, match=r"'topic'.*\{greeting\}, tell me about \{topic\}"):
        prompt.invoke({"greeting": "hi"})
    with pytest.raises(TypeError, match="expects a dict"):
        prompt.invoke("no dict")
    chat = ChatPromptTemplate.from_messages([("system", "You are {role}"), ("human", "{q}")])
    with pytest.raises(KeyError, match="'role'"):
        chat.invoke({"q": "why?"})


def test_template_errors_at_construction() -> None:
    with pytest.raises(ValueError, match="positional"):
        PromptTemplate.from_template("Tell me about {}")
    with pytest.raises(ValueError, match="unknown message role"):
        ChatPromptTemplate.from_messages([("robot", "beep {x}")])
    assert PromptTemplate("{{literal}} {x}").format(x=1) == "{literal} 1"


def test_chat_prompt_template_messages() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [SystemMessage("Be brief."), ("human", "Why is {thing} fast?"), ("ai", "Because")]
    )
    assert prompt.input_variables == ["thing"]
    value = prompt.invoke({"thing": "asyncio"})
    assert isinstance(value, ChatPromptValue)
    assert [m.type for m in value.to_messages()] == ["system", "human", "ai"]
    assert value.to_string() == "System: Be brief.\nHuman: Why is asyncio fast?\nAI: Because"


def test_str_output_parser() -> None:
    parser = StrOutputParser()
    assert parser.invoke(AIMessage("done")) == "done"
    assert parser.invoke("already text") == "already text"
    with pytest.raises(TypeError, match="StrOutputParser"):
        parser.invoke(3)


def test_lcel_chain_composes_and_names_nodes() -> None:
    prompt = PromptTemplate.from_template("Tell me a joke about {topic}")
    chain = prompt | FakeChatModel(name="joker", latency=0) | StrOutputParser()
    assert isinstance(chain, RunnableSequence)
    assert chain.invoke({"topic": "bears"}) == "[joker] answer about bears"
    assert asyncio.run(chain.ainvoke({"topic": "owls"})) == "[joker] answer about owls"
    assert [step.get_name() for step in chain.steps] == [
        "PromptTemplate",
        "joker",
        "StrOutputParser",
    ]


def test_prompt_fans_out_to_models_in_a_dict() -> None:
    prompt = ChatPromptTemplate.from_template("a {kind} about {topic}")
    parser = StrOutputParser()
    chain = prompt | {
        "joke": FakeChatModel("joker", latency=0) | parser,
        "poem": FakeChatModel("poet", latency=0) | parser,
    }
    assert chain.invoke({"kind": "story", "topic": "the sea"}) == {
        "joke": "[joker] answer about the sea",
        "poem": "[poet] answer about the sea",
    }
    with pytest.raises(TypeError, match="model missing"):
        (PromptTemplate.from_template("about {x}") | parser).invoke({"x": "y"})
