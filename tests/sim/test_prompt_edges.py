"""Prompt templates, messages and the parser at their edges (fields, roles, inputs)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from chainlab.sim import (
    AIMessage,
    ChatPromptTemplate,
    ChatPromptValue,
    HumanMessage,
    PromptTemplate,
    StringPromptValue,
    StrOutputParser,
    SystemMessage,
)
from chainlab.sim.messages import buffer_string, message_class, prompt_text
from chainlab.sim.prompts import template_variables

# -- PromptTemplate ------------------------------------------------------------------------


def test_fields_with_attributes_indexes_and_format_specs() -> None:
    prompt = PromptTemplate.from_template("{user.name} likes {items[1]} ({score:.1f}, {tag:>4})")
    assert prompt.input_variables == ["user", "items", "score", "tag"]
    text = prompt.format(
        user=SimpleNamespace(name="Ada"), items=["tea", "cake"], score=0.25, tag="ok"
    )
    assert text == "Ada likes cake (0.2,   ok)"


def test_variables_are_listed_once_in_order_of_first_use() -> None:
    assert template_variables("{b} {a} {b} {{c}} {a.x}") == ["b", "a"]
    assert template_variables("no fields at all") == []


def test_extra_variables_are_ignored_and_values_are_not_mutated() -> None:
    prompt = PromptTemplate("Q: {q}")
    values = {"q": "why?", "unused": object()}
    assert prompt.invoke(values).to_string() == "Q: why?"
    assert set(values) == {"q", "unused"}
    assert prompt.format_prompt(q="how?") == StringPromptValue("Q: how?")


def test_missing_variable_lists_the_keys_it_got() -> None:
    prompt = PromptTemplate("{a} and {b}")
    with pytest.raises(KeyError, match=r"missing variable 'b'.*\{a\} and \{b\}.*\['a', 'c'\]"):
        prompt.invoke({"a": 1, "c": 2})
    with pytest.raises(KeyError, match="'a'"):
        prompt.format(b=1)


def test_a_template_without_variables_takes_a_dict_only() -> None:
    prompt = PromptTemplate("constant text")
    assert prompt.invoke({}).to_string() == "constant text"
    with pytest.raises(TypeError, match=r"expects a dict with keys \[\]"):
        prompt.invoke("bare value")


def test_names_and_reprs() -> None:
    assert PromptTemplate("x {y}", name="ask").get_name() == "ask"
    assert PromptTemplate("x {y}").get_name() == "PromptTemplate"
    assert repr(PromptTemplate("x {y}")) == "PromptTemplate('x {y}')"
    chat = ChatPromptTemplate.from_template("hi {who}", name="greet")
    assert chat.get_name() == "greet"
    assert repr(chat).startswith("ChatPromptTemplate([('human', 'hi {who}')]")
    assert StrOutputParser(name="text").get_name() == "text"


def test_templates_work_the_same_under_ainvoke() -> None:
    prompt = PromptTemplate.from_template("about {topic}")
    chat = ChatPromptTemplate.from_messages([("system", "be {tone}"), ("human", "{topic}")])
    assert asyncio.run(prompt.ainvoke({"topic": "owls"})) == prompt.invoke({"topic": "owls"})
    values = {"tone": "brief", "topic": "owls"}
    assert asyncio.run(chat.ainvoke(values)) == chat.invoke(values)
    with pytest.raises(KeyError, match="'tone'"):
        asyncio.run(chat.ainvoke({"topic": "owls"}))


# -- ChatPromptTemplate --------------------------------------------------------------------


def test_from_template_is_one_human_message() -> None:
    chat = ChatPromptTemplate.from_template("Tell me about {topic}")
    value = chat.invoke("bears")  # one variable: a bare value is enough
    assert value == ChatPromptValue([HumanMessage("Tell me about bears")])
    assert value.to_messages() is not value.messages  # a copy


@pytest.mark.parametrize(
    ("role", "cls"),
    [
        ("human", HumanMessage),
        ("user", HumanMessage),
        ("system", SystemMessage),
        ("ai", AIMessage),
        ("assistant", AIMessage),
        ("Human", HumanMessage),
    ],
)
def test_role_names_as_langchain_spells_them(role: str, cls: type) -> None:
    chat = ChatPromptTemplate.from_messages([(role, "{x}")])
    (message,) = chat.format_messages(x="hello")
    assert type(message) is cls
    assert message.content == "hello"
    assert message_class(role) is cls


def test_variables_collected_across_messages_and_objects_kept_verbatim() -> None:
    fixed = SystemMessage("Braces {stay} as they are.")
    chat = ChatPromptTemplate.from_messages(
        [fixed, ("human", "{q} in {lang}"), ("ai", "Sure."), ("human", "more {q}")]
    )
    assert chat.input_variables == ["q", "lang"]
    messages = chat.format_messages(q="sorting", lang="Python")
    assert messages[0] is fixed
    assert [m.content for m in messages[1:]] == ["sorting in Python", "Sure.", "more sorting"]
    with pytest.raises(TypeError, match="expects a dict"):
        chat.invoke("two variables need a dict")


def test_missing_variable_names_the_message_template() -> None:
    chat = ChatPromptTemplate.from_messages([("system", "ok"), ("human", "about {topic}")])
    with pytest.raises(KeyError, match=r"'topic'.*'about \{topic\}'"):
        chat.invoke({"other": 1})


@pytest.mark.parametrize("bad", ["just a string", ["system", "a list"], 42])
def test_other_message_forms_are_rejected(bad: Any) -> None:
    with pytest.raises(TypeError, match="role, template"):
        ChatPromptTemplate.from_messages([bad])


# -- messages and prompt values ------------------------------------------------------------


def test_message_types_roles_and_equality() -> None:
    assert [m.type for m in (HumanMessage(""), SystemMessage(""), AIMessage(""))] == [
        "human",
        "system",
        "ai",
    ]
    assert HumanMessage("x") == HumanMessage("x")
    assert HumanMessage("x") != AIMessage("x")
    assert str(ChatPromptValue([SystemMessage("a"), HumanMessage("b")])) == "System: a\nHuman: b"
    assert StringPromptValue("s").to_messages() == [HumanMessage("s")]
    with pytest.raises(ValueError, match="unknown message role 'bot'; use one of: ai, assistant"):
        message_class("bot")


def test_buffer_string_and_prompt_text_accept_foreign_messages() -> None:
    custom = SimpleNamespace(content="from a tool", type="tool")
    assert buffer_string([custom, ("ai", 3)]) == "Tool: from a tool\nAI: 3"
    assert prompt_text(custom) == "from a tool"
    assert prompt_text(StringPromptValue("pv")) == "pv"
    with pytest.raises(TypeError, match="not a chat message"):
        buffer_string([42])


# -- StrOutputParser -----------------------------------------------------------------------


def test_parser_takes_anything_with_string_content() -> None:
    parser = StrOutputParser()
    assert parser.invoke(HumanMessage("human text")) == "human text"
    assert parser.invoke(SimpleNamespace(content="duck")) == "duck"
    assert asyncio.run(parser.ainvoke(AIMessage("async"))) == "async"
    lc = pytest.importorskip("langchain_core.messages")
    assert parser.invoke(lc.AIMessage("from langchain")) == "from langchain"


@pytest.mark.parametrize(
    ("bad", "hinted"),
    [
        (StringPromptValue("a prompt"), True),
        (ChatPromptValue([HumanMessage("a chat prompt")]), True),
        ({"content": "a dict is not a message"}, False),
        (SimpleNamespace(content=["not", "text"]), False),
        (None, False),
    ],
)
def test_parser_rejects_non_messages_with_a_hint_for_prompts(bad: Any, hinted: bool) -> None:
    with pytest.raises(TypeError, match="StrOutputParser expects a message or a str") as info:
        StrOutputParser().invoke(bad)
    assert ("is a model missing before the parser?" in str(info.value)) is hinted
