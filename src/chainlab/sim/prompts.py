"""Prompt templates and an output parser in LCEL style (as in ``langchain_core``).

>>> from chainlab.sim import FakeChatModel, PromptTemplate, StrOutputParser
>>> prompt = PromptTemplate.from_template("Tell me a joke about {topic}")
>>> prompt.invoke({"topic": "bears"}).to_string()
'Tell me a joke about bears'
>>> chain = prompt | FakeChatModel(latency=0) | StrOutputParser()
>>> chain.invoke({"topic": "bears"})
'[model] answer about bears'

Templates and parsers are instant leaves: no simulated latency.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from chainlab.sim.messages import (
    BaseMessage,
    ChatPromptValue,
    StringPromptValue,
    message_class,
)
from chainlab.sim.service import InstantLeaf


def template_variables(template: str) -> list[str]:
    """The variables of an f-string-style template, in order of first use.

    >>> template_variables("{greeting}, {name}! {{not a variable}} {name}")
    ['greeting', 'name']
    """
    names: list[str] = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        if not root or root.isdigit():
            raise ValueError(
                f"prompt template {template!r} has a positional field {{{field}}}; "
                "name every variable, e.g. {topic}"
            )
        if root not in names:
            names.append(root)
    return names


def _fill(template: str, variables: list[str], values: Mapping[str, Any], owner: str) -> str:
    for name in variables:
        if name not in values:
            raise KeyError(
                f"missing variable {name!r} for prompt template {owner!r} "
                f"(got keys: {sorted(map(str, values))})"
            )
    return template.format(**{name: values[name] for name in variables})


class _Template(InstantLeaf):
    input_variables: list[str]

    def _values(self, input: Any) -> Mapping[str, Any]:
        """A dict input, or a bare value when the template has exactly one variable."""
        if isinstance(input, Mapping):
            return input
        if len(self.input_variables) == 1:
            return {self.input_variables[0]: input}
        raise TypeError(
            f"{self.get_name()} expects a dict with keys {self.input_variables}, "
            f"got {type(input).__name__}: {input!r:.60}"
        )


class PromptTemplate(_Template):
    """A string prompt: ``invoke(dict)`` gives a :class:`StringPromptValue`.

    Args:
        template: f-string-style text such as ``"Tell me a joke about {topic}"``.
        name: the node's name in graphs (default ``"PromptTemplate"``).
    """

    def __init__(self, template: str, *, name: str | None = None) -> None:
        self.template = template
        self.input_variables = template_variables(template)
        self.name = name

    @classmethod
    def from_template(cls, template: str, **kwargs: Any) -> PromptTemplate:
        """The LangChain spelling: ``PromptTemplate.from_template("... {topic}")``."""
        return cls(template, **kwargs)

    def format(self, **values: Any) -> str:
        """The filled-in text; a missing variable raises KeyError naming it."""
        return _fill(self.template, self.input_variables, values, self.template)

    def format_prompt(self, **values: Any) -> StringPromptValue:
        return StringPromptValue(self.format(**values))

    def _work(self, input: Any) -> StringPromptValue:
        values = self._values(input)
        return StringPromptValue(_fill(self.template, self.input_variables, values, self.template))

    def __repr__(self) -> str:
        return f"PromptTemplate({self.template!r})"


MessageLike = BaseMessage | tuple[str, str]


class ChatPromptTemplate(_Template):
    """A chat prompt: ``invoke(dict)`` gives a :class:`ChatPromptValue` of messages.

    >>> prompt = ChatPromptTemplate.from_messages(
    ...     [("system", "You are a {role}."), ("human", "{question}")]
    ... )
    >>> prompt.invoke({"role": "poet", "question": "Why parallel?"}).to_string()
    'System: You are a poet.\\nHuman: Why parallel?'

    ``(role, template)`` pairs are filled in; message objects are used as they are.
    """

    def __init__(self, messages: Sequence[MessageLike], *, name: str | None = None) -> None:
        self.messages: list[MessageLike] = []
        variables: list[str] = []
        for message in messages:
            if isinstance(message, tuple):
                role, text = message
                message_class(role)  # reject unknown roles now, not at invoke
                for var in template_variables(text):
                    if var not in variables:
                        variables.append(var)
            elif not isinstance(message, BaseMessage):
                raise TypeError(
                    f"expected a (role, template) pair or a message, got {message!r:.60}"
                )
            self.messages.append(message)
        self.input_variables = variables
        self.name = name

    @classmethod
    def from_messages(cls, messages: Sequence[MessageLike], **kwargs: Any) -> ChatPromptTemplate:
        """``ChatPromptTemplate.from_messages([("system", "..."), ("human", "{q}")])``."""
        return cls(messages, **kwargs)

    @classmethod
    def from_template(cls, template: str, **kwargs: Any) -> ChatPromptTemplate:
        """A chat prompt of one human message."""
        return cls([("human", template)], **kwargs)

    def format_messages(self, **values: Any) -> list[BaseMessage]:
        """The filled-in messages; a missing variable raises KeyError naming it."""
        out: list[BaseMessage] = []
        for message in self.messages:
            if isinstance(message, tuple):
                role, text = message
                filled = _fill(text, template_variables(text), values, text)
                out.append(message_class(role)(filled))
            else:
                out.append(message)
        return out

    def format_prompt(self, **values: Any) -> ChatPromptValue:
        return ChatPromptValue(self.format_messages(**values))

    def _work(self, input: Any) -> ChatPromptValue:
        return ChatPromptValue(self.format_messages(**self._values(input)))

    def __repr__(self) -> str:
        return f"ChatPromptTemplate({self.messages!r:.80})"


class StrOutputParser(InstantLeaf):
    """Model output to plain text: an :class:`AIMessage` (anything with ``.content``)
    or a str in, a str out.

    >>> from chainlab.sim import AIMessage
    >>> StrOutputParser().invoke(AIMessage("hi"))
    'hi'
    """

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name

    def _work(self, input: Any) -> str:
        if isinstance(input, str):
            return input
        content = getattr(input, "content", None)
        if isinstance(content, str):
            return content
        hint = (
            " (a prompt value: is a model missing before the parser?)"
            if hasattr(input, "to_messages")
            else ""
        )
        raise TypeError(
            f"StrOutputParser expects a message or a str, got {type(input).__name__}: "
            f"{input!r:.60}{hint}"
        )
