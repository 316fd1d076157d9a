"""Minimal stand-ins for LangChain's messages, documents and prompt values.

They mirror ``langchain_core.messages`` / ``langchain_core.documents`` /
``langchain_core.prompt_values`` closely enough that lesson code reads the same
(``msg.content``, ``doc.page_content``, ``prompt.to_string()``), without the dependency.

>>> AIMessage("Hello").content
'Hello'
>>> str(AIMessage("Hello"))
'Hello'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class BaseMessage:
    """A chat message: ``content`` plus a ``type`` ("human", "system", "ai")."""

    content: str
    type: ClassVar[str] = "base"
    role: ClassVar[str] = "Message"  # the prefix in a flattened transcript

    def __str__(self) -> str:
        return self.content


@dataclass
class HumanMessage(BaseMessage):
    """A message from the user."""

    type: ClassVar[str] = "human"
    role: ClassVar[str] = "Human"


@dataclass
class SystemMessage(BaseMessage):
    """Instructions for the model."""

    type: ClassVar[str] = "system"
    role: ClassVar[str] = "System"


@dataclass
class AIMessage(BaseMessage):
    """A model's reply; ``response_metadata`` says which model and how it went."""

    response_metadata: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    type: ClassVar[str] = "ai"
    role: ClassVar[str] = "AI"


_ROLES: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "user": HumanMessage,
    "system": SystemMessage,
    "ai": AIMessage,
    "assistant": AIMessage,
}


def message_class(role: str) -> type[BaseMessage]:
    """The message class for a role name as LangChain spells them ("human", "ai"...)."""
    try:
        return _ROLES[role.lower()]
    except KeyError:
        known = ", ".join(sorted(_ROLES))
        raise ValueError(f"unknown message role {role!r}; use one of: {known}") from None


@dataclass
class Document:
    """A retrieved piece of text, as ``langchain_core.documents.Document``."""

    page_content: str
    metadata: dict[str, Any] = field(default_factory=dict)


def buffer_string(messages: Iterable[Any]) -> str:
    """Flatten messages into a transcript: ``"System: ...\\nHuman: ..."``.

    Accepts chainlab messages, LangChain messages (anything with ``.content`` and
    ``.type``), ``(role, text)`` pairs and plain strings (taken as human turns).
    """
    lines = []
    for message in messages:
        if isinstance(message, str):
            role, text = "Human", message
        elif isinstance(message, tuple) and len(message) == 2:
            role, text = message_class(str(message[0])).role, str(message[1])
        elif hasattr(message, "content"):
            kind = getattr(message, "type", "human")
            role = _ROLES[kind].role if kind in _ROLES else str(kind).capitalize()
            text = str(message.content)
        else:
            raise TypeError(f"not a chat message: {message!r:.60}")
        lines.append(f"{role}: {text}")
    return "\n".join(lines)


@dataclass
class StringPromptValue:
    """What a :class:`~chainlab.sim.PromptTemplate` produces: one string."""

    text: str

    def to_string(self) -> str:
        return self.text

    def to_messages(self) -> list[BaseMessage]:
        return [HumanMessage(self.text)]

    def __str__(self) -> str:
        return self.text


@dataclass
class ChatPromptValue:
    """What a :class:`~chainlab.sim.ChatPromptTemplate` produces: a list of messages."""

    messages: list[BaseMessage]

    def to_string(self) -> str:
        return buffer_string(self.messages)

    def to_messages(self) -> list[BaseMessage]:
        return list(self.messages)

    def __str__(self) -> str:
        return self.to_string()


PromptValue = StringPromptValue | ChatPromptValue


def prompt_text(value: Any) -> str:
    """The text a simulated model reads: from a str, a prompt value (anything with
    ``to_string()``), a message or a list of messages."""
    if isinstance(value, str):
        return value
    if hasattr(value, "to_string"):
        return str(value.to_string())
    if isinstance(value, BaseMessage) or (hasattr(value, "content") and hasattr(value, "type")):
        return str(value.content)
    if isinstance(value, list | tuple):
        return buffer_string(value)
    raise TypeError(
        "a chat model takes a str, a list of messages or a prompt value, "
        f"got {type(value).__name__}: {value!r:.60}"
    )
