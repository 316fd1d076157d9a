"""chainlab.jupyter.cell without IPython: splitting a cell, building its chain, options."""

from __future__ import annotations

import ast
import linecache
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from chainlab import Runnable, RunnableLambda, RunnableParallel
from chainlab.jupyter.cell import ChainCellError, build_chain, evaluate_option, split_cell

FILENAME = "<test cell 7>"


@pytest.fixture
def cached_cell() -> Iterator[Any]:
    """Register cell sources with linecache (IPython does this for its cells)."""
    names: list[str] = []

    def cache(source: str, name: str = FILENAME) -> str:
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        names.append(name)
        return name

    yield cache
    for name in names:
        linecache.cache.pop(name, None)


def test_split_cell_separates_the_body_from_the_last_expression() -> None:
    body, last = split_cell("import math\nx = 2\n{'a': math.sqrt}\n", FILENAME)
    assert [type(node) for node in body.body] == [ast.Import, ast.Assign]
    assert isinstance(last, ast.Expression)
    assert isinstance(last.body, ast.Dict)
    assert last.body.lineno == 3  # line numbers are the cell's own


def test_a_one_line_cell_has_an_empty_body() -> None:
    body, last = split_cell("len", FILENAME)
    assert body.body == []
    assert isinstance(last.body, ast.Name)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = (1,\n", r"not valid Python: .* \(cell line 1\)"),
        ("a = 1\nb = = 2\n", r"not valid Python: invalid syntax \(cell line 2\)"),
        ("", "the cell is empty"),
        ("# only a comment\n\n", "the cell is empty"),
        ("chain = len\n", "cell line 1 is an assignment statement"),
        ("import os\nfrom os import path\n", "cell line 2 is an import statement"),
        ("x = 1\n\ndef f(x):\n    return x\n", "cell line 3 is a def statement"),
        ("for i in []:\n    pass\n", "cell line 1 is a for statement"),
        ("class A:\n    pass\n", "cell line 1 is a class statement"),
        ("async def f():\n    pass\n", "cell line 1 is an async def statement"),
    ],
)
def test_cells_that_do_not_end_in_a_chain_say_what_to_write(source: str, expected: str) -> None:
    with pytest.raises(ChainCellError, match=expected) as info:
        split_cell(source, FILENAME)
    message = str(info.value)
    if "not valid Python" not in message:
        assert "%%chain --input" in message  # the example of a good cell
    error = info.value  # one paragraph: no chained traceback under it
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_build_chain_runs_the_body_in_the_namespace_and_returns_the_last_line() -> None:
    ns: dict[str, Any] = {}
    chain = build_chain("def double(x):\n    return 2 * x\n{'d': double, 'n': len}\n", ns)
    assert isinstance(chain, RunnableParallel)
    assert chain.invoke("ab") == {"d": "abab", "n": 2}
    assert callable(ns["double"])  # definitions stay in the notebook
    runnable = RunnableLambda(len)
    assert build_chain("r", {"r": runnable}) is runnable  # a runnable as it is
    assert build_chain("str.upper", {}).invoke("x") == "X"  # a function is coerced


def test_build_chain_compiles_with_the_given_compiler() -> None:
    modes: list[tuple[str, str]] = []

    def spy(node: Any, filename: str, mode: str) -> Any:
        modes.append((filename, mode))
        return compile(node, filename, mode)

    build_chain("x = 1\nlen", {}, filename=FILENAME, compile_fn=spy)
    assert modes == [(FILENAME, "exec"), (FILENAME, "eval")]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("42", "evaluated to int 42, which is not a chain"),
        ("'text'", "evaluated to str 'text', which is not a chain"),
        ("None", "evaluated to NoneType None"),
        ("[len, str]", "evaluated to list"),
        ("{'a': 5}", "not a valid chain: .*branch 'a'"),
    ],
)
def test_a_last_line_that_is_not_a_chain(source: str, expected: str) -> None:
    with pytest.raises(ChainCellError, match=expected):
        build_chain(source, {})


def test_a_long_value_is_cut_in_the_message() -> None:
    with pytest.raises(ChainCellError) as info:
        build_chain("'x' * 500", {})
    assert "x" * 61 not in str(info.value)
    assert "x" * 50 in str(info.value)


def frames(error: BaseException) -> list[tuple[str, int | None, str]]:
    stack = traceback.extract_tb(error.__traceback__)
    return [(f.filename, f.lineno, f.line or "") for f in stack]


def test_an_error_in_the_body_points_at_the_cells_line(cached_cell: Any) -> None:
    source = "x = 1\ny = {}\nz = y['missing']\nlen\n"
    name = cached_cell(source)
    with pytest.raises(KeyError) as info:
        build_chain(source, {}, filename=name)
    assert frames(info.value)[-1] == (name, 3, "z = y['missing']")


def test_an_error_in_the_last_line_points_at_it(cached_cell: Any) -> None:
    source = "x = 0\n\n{'a': len, 'b': 1 / x}\n"
    name = cached_cell(source)
    with pytest.raises(ZeroDivisionError) as info:
        build_chain(source, {}, filename=name)
    assert frames(info.value)[-1][:2] == (name, 3)


def test_an_error_in_a_function_the_cell_defined_points_at_its_line(cached_cell: Any) -> None:
    source = "def fussy(x):\n    return x['rhyme']\n{'poem': fussy}\n"
    name = cached_cell(source)
    chain = build_chain(source, {}, filename=name)
    with pytest.raises(TypeError) as info:
        chain.invoke(1)
    user = [f for f in frames(info.value) if f[0] == name]
    assert user == [(name, 2, "return x['rhyme']")]


def test_evaluate_option_uses_the_namespace() -> None:
    ns = {"topic": "cats", "n": 3}
    assert evaluate_option("--input", "topic", ns) == "cats"
    assert evaluate_option("--batch", "[topic] * n", ns) == ["cats"] * 3
    assert isinstance(evaluate_option("--input", "'a' and Runnable", {"Runnable": Runnable}), type)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("undefined", "NameError: name 'undefined' is not defined"),
        ("[1,", "SyntaxError"),
        ("1 / 0", "ZeroDivisionError: division by zero"),
    ],
)
def test_evaluate_option_errors_say_what_the_option_takes(expression: str, expected: str) -> None:
    with pytest.raises(ChainCellError) as info:
        evaluate_option("--batch", expression, {})
    message = str(info.value)
    assert message.startswith(f"could not evaluate --batch {expression!r}: ")
    assert expected in message
    assert "--batch '\"a topic\"' or --batch my_variable" in message
