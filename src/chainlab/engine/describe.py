"""How runnables print: ``repr`` as in langchain_core.

>>> from chainlab import RunnableLambda
>>> RunnableLambda(lambda x: x * 2)
RunnableLambda(lambda x: x * 2)
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any


def lambda_source(func: Callable[..., Any]) -> str | None:
    """A lambda's source (``lambda x: x * 2``), else the function's name; None for a
    lambda whose line holds several lambdas (which one would it be?)."""
    name = getattr(func, "__name__", None)
    name = None if name == "<lambda>" else name
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (SyntaxError, TypeError, OSError):
        return name
    lambdas = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)]
    return ast.unparse(lambdas[0]) if len(lambdas) == 1 else name


def indent_after_first(text: str, prefix: str) -> str:
    """Indent every line but the first by ``len(prefix)`` spaces."""
    first, *rest = text.splitlines() or [""]
    return "\n".join([first, *(" " * len(prefix) + line for line in rest)])
