"""Turning a ``%%chain`` cell into a runnable: run the body, take the last expression.

Kept apart from the magic itself so it can be read (and tested) without IPython.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from chainlab.engine import Runnable, coerce_to_runnable
from chainlab.trace.lcchain import LangChainChain, as_langchain_chain


class ChainCellError(Exception):
    """A problem with the cell itself: shown as one paragraph, without a traceback."""


EXAMPLE = """    %%chain --input '"cats"'
    joke = RunnableLambda(tell_joke)
    {"joke": joke, "poem": write_poem}      # <- the last line is the chain"""


def split_cell(source: str, filename: str) -> tuple[ast.Module, ast.Expression]:
    """Split a cell into its body statements and its final expression."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise ChainCellError(
            f"the cell is not valid Python: {exc.msg} (cell line {exc.lineno}). "
            "Fix the syntax and run the cell again."
        ) from None
    if not tree.body:
        raise ChainCellError(
            "the cell is empty. Write the chain as the cell's last line, for example:\n" + EXAMPLE
        )
    last = tree.body[-1]
    if not isinstance(last, ast.Expr):
        kind = _STATEMENTS.get(type(last).__name__, type(last).__name__.lower())
        raise ChainCellError(
            f"the last statement of a %%chain cell must be the chain itself, but cell line "
            f"{last.lineno} is {_article(kind)} {kind} statement. End the cell with an "
            f"expression (a runnable, a dict of branches or a function), for example:\n" + EXAMPLE
        )
    body = ast.Module(body=tree.body[:-1], type_ignores=[])
    return body, ast.Expression(body=last.value)


_STATEMENTS = {
    "Assign": "assignment",
    "AnnAssign": "assignment",
    "AugAssign": "assignment",
    "FunctionDef": "def",
    "AsyncFunctionDef": "async def",
    "ClassDef": "class",
    "ImportFrom": "import",
}
"""How a learner calls these statements (``ast`` says ``functiondef``, ``importfrom``)."""


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def build_chain(
    source: str,
    namespace: dict[str, Any],
    *,
    filename: str = "<%%chain cell>",
    compile_fn: Callable[..., Any] = compile,
) -> Runnable[Any, Any] | LangChainChain:
    """Run the cell body in ``namespace`` (definitions stay) and return its chain
    (a langchain_core chain comes back as a :class:`~chainlab.trace.lcchain.LangChainChain`).

    Errors raised by the user's own code propagate unchanged, so the traceback shows
    the user's frames (``filename`` should be one linecache knows, as IPython's is).
    """
    body, last = split_cell(source, filename)
    exec(compile_fn(body, filename, "exec"), namespace)
    value = eval(compile_fn(last, filename, "eval"), namespace)
    if isinstance(value, Runnable):
        return value
    lc = as_langchain_chain(value)  # a langchain_core chain: LangChain's engine runs it
    if lc is not None:
        return lc
    if isinstance(value, dict) or callable(value):
        try:
            return coerce_to_runnable(value)
        except TypeError as exc:
            raise ChainCellError(f"the cell's last line is not a valid chain: {exc}") from None
    raise ChainCellError(
        f"the cell's last line evaluated to {type(value).__name__} {value!r:.60}, which is not "
        "a chain. End the cell with a runnable (e.g. `prompt | model`), a dict of branches "
        "(e.g. `{'joke': joke, 'poem': poem}`) or a function."
    )


def evaluate_option(
    name: str, expression: str, namespace: dict[str, Any], *, example: str | None = None
) -> Any:
    """Evaluate ``--input`` / ``--batch`` in the user's namespace, with a clear error.

    ``example`` replaces the default hint (``NAME '"a topic"' or NAME my_variable``).
    """
    try:
        return eval(expression, namespace)
    except Exception as exc:
        example = example or f"{name} '\"a topic\"' or {name} my_variable"
        raise ChainCellError(
            f"could not evaluate {name} {expression!r}: {type(exc).__name__}: {exc}. "
            f"{name} takes a Python expression evaluated in the notebook, e.g. {example}."
        ) from None
