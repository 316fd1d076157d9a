"""The ``--async`` input transformer, and the user-only tracebacks of branch errors."""

from __future__ import annotations

import ast
import asyncio
import traceback
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.jupyter import load_ipython_extension, unload_ipython_extension
from chainlab.jupyter.frames import _PACKAGE, print_user_traceback, user_frames
from chainlab.jupyter.magics import async_cell_transformer


def call_arguments(lines: list[str]) -> tuple[str, str]:
    """The (header, body) the rewritten cell passes to ``chain_async``."""
    (line,) = lines
    tree = ast.parse(line)  # a top-level await parses; IPython runs it on its loop
    (stmt,) = tree.body
    assert isinstance(stmt, ast.Expr)
    assert isinstance(stmt.value, ast.Await)
    call = stmt.value.value
    assert isinstance(call, ast.Call)
    assert isinstance(call.func, ast.Attribute)
    assert call.func.attr == "chain_async"
    header, body = (ast.literal_eval(arg) for arg in call.args)
    return header, body


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["x = 1\n", "%%chain --async\n"],  # not the first line: not a cell magic
        ["%%chain --input 1\n", "len\n"],
        ["%%chainlog --async\n", "len\n"],  # another magic whose name starts the same
        ["%%time\n", "%%chain --async\n"],
        ["%%chain --input '\"--async\"'\n", "len\n"],  # --async only inside a value
        ["%%chain --input '\"unclosed\n", "len\n"],  # bad quoting: the magic will say so
    ],
)
def test_cells_without_the_async_option_are_left_alone(lines: list[str]) -> None:
    assert async_cell_transformer(lines) is lines


def test_an_async_cell_becomes_one_awaited_call_with_the_exact_header_and_body() -> None:
    body = [
        "import asyncio\n",
        "text = '''it's \"quoted\"\\n'''  # and a comment\n",
        "async def twice(x):\n",
        "    return 2 * x\n",
        "{'a': twice, 'é': twice}\n",
    ]
    header = " --async --input '\"a b\"' -o rep"
    out = async_cell_transformer([f"%%chain{header}\n", *body])
    assert call_arguments(out) == (header.strip(), "".join(body))


def test_the_option_may_come_anywhere_in_the_header() -> None:
    header, body = call_arguments(async_cell_transformer(["%%chain -i 2 --async\n", "len"]))
    assert (header, body) == ("-i 2 --async", "len")
    header, _ = call_arguments(async_cell_transformer(["%%chain --async"]))
    assert header == "--async"


class FakeShell:
    """Just what load/unload touch, to check the hook is installed once and removed."""

    def __init__(self) -> None:
        self.input_transformers_cleanup: list[Any] = []
        self.registered: list[Any] = []
        self.magics_manager = type("M", (), {"magics": {"cell": {}, "line": {}}})()

    def register_magics(self, magics: Any) -> None:
        self.registered.append(magics)
        self.magics_manager.magics["cell"]["chain"] = magics
        self.magics_manager.magics["line"]["chain_graph"] = magics


def test_loading_installs_the_hook_once_and_unloading_removes_it() -> None:
    shell = FakeShell()
    load_ipython_extension(shell)
    load_ipython_extension(shell)
    assert shell.input_transformers_cleanup == [async_cell_transformer]
    unload_ipython_extension(shell)
    assert shell.input_transformers_cleanup == []
    assert shell.magics_manager.magics == {"cell": {}, "line": {}}


# -- user frames --------------------------------------------------------------------------


def fussy(x: Any) -> Any:
    raise ValueError(f"no rhyme for {x}")


def test_user_frames_keep_the_users_code_and_drop_chainlabs(drive: Any) -> None:
    chain = RunnableLambda(str) | RunnableParallel(ok=str, poem=fussy)
    with pytest.raises(ValueError) as info:
        drive(chain, "orange")
    full = [frame.filename for frame in user_frames(info.value).stack]
    everything = [frame.filename for frame in traceback.extract_tb(info.value.__traceback__)]
    assert any(name.startswith(_PACKAGE) for name in everything)  # the engine was in it
    assert not any(name.startswith(_PACKAGE) for name in full)
    assert [f.name for f in user_frames(info.value).stack][-1] == "fussy"
    text = "".join(user_frames(info.value).format())
    assert "ValueError: no rhyme for orange" in text
    assert "in branch 'poem'" in text  # the note naming the branch stays


def test_print_user_traceback_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> Any:
        return await RunnableParallel(poem=fussy).ainvoke("lime")

    with pytest.raises(ValueError) as info:
        asyncio.run(main())
    print_user_traceback(info.value)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("Traceback (most recent call last):")
    assert 'raise ValueError(f"no rhyme for {x}")' in err
    assert "chainlab/engine" not in err
    assert err.rstrip().endswith("(failed at RunnableParallel<poem>/poem)")


def test_an_error_raised_by_chainlab_itself_keeps_its_message() -> None:
    with pytest.raises(TypeError) as info:
        RunnableLambda(len).map().invoke(5)  # .map() needs a list
    tb = user_frames(info.value)
    assert all(not f.filename.startswith(_PACKAGE) for f in tb.stack)
    assert "needs a list input" in "".join(tb.format())
    assert chainlab.__file__.startswith(_PACKAGE)
