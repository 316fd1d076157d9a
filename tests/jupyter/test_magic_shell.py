"""%%chain through IPython's own shell (no kernel): parsing, namespaces and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

from chainlab.jupyter.magics import ChainReport


@pytest.fixture(scope="module")
def ip() -> Iterator[InteractiveShell]:
    shell = start_ipython() or InteractiveShell.instance()  # one shell per process
    shell.run_line_magic("load_ext", "chainlab")
    yield shell
    shell.run_line_magic("unload_ext", "chainlab")


def run(ip: InteractiveShell, cell: str) -> Any:
    return ip.run_cell(cell, store_history=False)


def test_loading_twice_is_harmless(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("load_ext", "chainlab")
    assert "chain" in ip.magics_manager.magics["cell"]
    assert run(ip, "%%chain --input 1 --view none\nlambda x: x + 1").success


def test_body_definitions_stay_and_the_last_line_is_the_chain(ip: InteractiveShell) -> None:
    result = run(
        ip,
        "%%chain --input 3 -o rep --view none\n"
        "def double(x):\n    return 2 * x\n"
        "{'a': double, 'b': lambda x: x + 1}\n",
    )
    assert result.success
    report = ip.user_ns["rep"]
    assert isinstance(report, ChainReport)
    assert report.output == {"a": 6, "b": 4}
    assert report.chain.get_name() == "RunnableParallel<a,b>"
    assert callable(ip.user_ns["double"])  # defined in the cell, still there
    assert len([s for s in report.recording.spans if s.is_leaf]) == 2


def test_input_is_evaluated_in_the_user_namespace(ip: InteractiveShell) -> None:
    ip.user_ns["topic"] = "cats"
    assert run(ip, "%%chain --input topic -o rep --view none\nstr.upper").success
    assert ip.user_ns["rep"].output == "CATS"


def test_sequential_mode_and_max_concurrency(ip: InteractiveShell) -> None:
    cell = (
        "%%chain --input 0 --mode {mode} -o rep --view none\n"
        "import time\n"
        "def nap(x):\n    time.sleep(0.05)\n    return x\n"
        "{{'a': nap, 'b': nap, 'c': nap}}\n"
    )
    assert run(ip, cell.format(mode="sequential")).success
    assert ip.user_ns["rep"].recording.lanes_used == 1 or ip.user_ns["rep"].recording.speedup < 1.3
    assert run(ip, cell.format(mode="parallel")).success
    assert ip.user_ns["rep"].recording.speedup > 1.5


def test_compare_mode_stores_a_comparison(ip: InteractiveShell) -> None:
    cell = (
        "%%chain --input 0 --mode compare -o rep --view none\n"
        "import time\n"
        "def nap(x):\n    time.sleep(0.05)\n    return x\n"
        "{'a': nap, 'b': nap, 'c': nap, 'd': nap}\n"
    )
    assert run(ip, cell).success
    comparison = ip.user_ns["rep"].comparison
    assert comparison.speedup > 1.5
    assert ip.user_ns["rep"].output == {"a": 0, "b": 0, "c": 0, "d": 0}


def test_batch_runs_every_input(ip: InteractiveShell) -> None:
    assert run(ip, "%%chain --batch '[1, 2, 3]' -o rep --view none\nlambda x: x * 10").success
    assert ip.user_ns["rep"].output == [10, 20, 30]


def test_async_runs_through_ainvoke_on_the_shell_loop(ip: InteractiveShell) -> None:
    cell = (
        "%%chain --async --input 2 -o rep --view none\n"
        "import asyncio\n"
        "async def twice(x):\n    await asyncio.sleep(0.01)\n    return 2 * x\n"
        "{'a': twice, 'b': twice}\n"
    )
    result = run(ip, cell)
    assert result.success, result.error_in_exec
    assert ip.user_ns["rep"].output == {"a": 4, "b": 4}


def test_a_branch_error_is_shown_with_the_branch_and_user_frames(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    cell = (
        "%%chain --input 1 -o rep --view none\n"
        "def fussy(x):\n    raise ValueError('no rhyme for orange')\n"
        "{'ok': lambda x: x, 'poem': fussy}\n"
    )
    result = run(ip, cell)
    assert result.success  # shown, not raised
    err = capsys.readouterr().err
    assert "ValueError: no rhyme for orange" in err
    assert "in branch 'poem'" in err
    assert "in fussy" in err  # the user's own frame
    assert "chainlab/engine" not in err  # none of ours
    assert isinstance(ip.user_ns["rep"].error, ValueError)


def test_raise_reraises_the_branch_error(ip: InteractiveShell) -> None:
    cell = (
        "%%chain --input 1 --raise --view none\n"
        "def fussy(x):\n    raise ValueError('boom')\n"
        "{'poem': fussy}\n"
    )
    result = run(ip, cell)
    assert isinstance(result.error_in_exec, ValueError)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%%chain --input 1\nx = 1\n", "must be the chain itself"),
        ("%%chain --input 1\n\n", "the cell is empty"),
        ("%%chain --input 1\n42\n", "evaluated to int 42, which is not a chain"),
        ("%%chain --input 1 --bogus\nlen\n", "unrecognized arguments: --bogus"),
        ("%%chain --input undefined_name\nlen\n", "could not evaluate --input 'undefined_name'"),
        ("%%chain --input 1 --mode fast\nlen\n", "--mode must be one of parallel"),
        ("%%chain --input 1 --view pie\nlen\n", "--view must be one of graph"),
        ("%%chain --input 1 --max-concurrency 0\nlen\n", "--max-concurrency must be a positive"),
        ("%%chain --input 1 --batch '[1]'\nlen\n", "either --input or --batch"),
        ("%%chain --input 1\ndef f(:\n", "not valid Python"),
        ("%%chain --input 1\n{'a': 5}\n", "for branch 'a'"),
        ("%%chain --batch 5\nlen\n", "--batch needs a list of inputs"),
        ("%%chain --batch 5 --view graph\nlen\n", "Write --batch '[5]'"),
        ("%%chain --batch 5 --view none\nlen\n", "or --input 5 to run the chain once"),
        ("%%chain --batch '\"abc\"' --view none\nlen\n", "would run once per character"),
        ("%%chain --batch '{\"a\": 1}'\nlen\n", "evaluated to dict"),
        ("%%chain --batch '[1, 2]' --mode compare\nlen\n", "does not take --batch"),
        ("%%chain --input 1 -o '1 bad name'\nlen\n", "-o needs a Python variable name"),
        ("%%chain --input 1 -o class\nlen\n", "got 'class'"),
    ],
)
def test_bad_cells_get_one_paragraph_usage_errors(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str], cell: str, expected: str
) -> None:
    result = run(ip, cell)
    assert not result.success
    err = capsys.readouterr().err
    assert "UsageError" in err
    assert expected in err
    assert "Traceback" not in err


def test_without_input_the_graph_is_drawn_and_nothing_runs(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int] = []
    ip.user_ns["calls"] = calls
    assert run(ip, "%%chain\n{'a': lambda x: calls.append(x)}").success
    assert calls == []
    assert "Add --input" in capsys.readouterr().out


def test_a_bad_batch_never_runs_the_chain(ip: InteractiveShell) -> None:
    calls: list[Any] = []
    ip.user_ns["calls"] = calls
    for batch in ("5", "'\"abc\"'", "'(x for x in [1])'"):
        assert not run(ip, f"%%chain --batch {batch} --view none\ncalls.append").success
    assert calls == []
    assert run(ip, "%%chain --batch '(1, 2)' --view none -o rep\ncalls.append").success
    assert calls == [1, 2]  # a tuple is a sequence of inputs too


def test_o_without_input_stores_a_report_that_says_nothing_ran(ip: InteractiveShell) -> None:
    ip.user_ns.pop("idle", None)
    assert run(ip, "%%chain -o idle\n{'a': len}").success
    report = ip.user_ns["idle"]
    assert isinstance(report, ChainReport)
    assert not report.ran
    assert (report.output, report.error, report.recording) == (None, None, None)
    assert report.chain.get_name() == "RunnableParallel<a>"
    assert repr(report) == (
        "ChainReport(RunnableParallel<a>, not run: add --input EXPR or --batch EXPR)"
    )


def test_chain_graph_line_magic(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(ip, "%chain_graph {'a': len, 'b': str.upper}").success
    assert not run(ip, "%chain_graph 42").success
    capsys.readouterr()
    assert not run(ip, "%chain_graph undefined_chain").success
    err = capsys.readouterr().err
    assert "name 'undefined_chain' is not defined" in err
    assert "e.g. %chain_graph my_chain or %chain_graph {'a': f, 'b': g}" in err
    assert "a topic" not in err  # a string is not a chain: no such hint


def test_unload_closes_every_widget_the_magic_showed(ip: InteractiveShell) -> None:
    assert run(ip, "%%chain --input 1 --view graph -o live_rep\n{'a': len, 'b': str}").success
    assert run(ip, "%%chain --input 2 -o dash_rep\n{'a': str, 'b': str}").success
    live, dash = ip.user_ns["live_rep"].view, ip.user_ns["dash_rep"].view
    widgets = [live, dash, dash.live, dash.controls, dash.controls.run_button, dash.timeline]
    assert all(widget.comm is not None for widget in widgets)
    ip.run_line_magic("unload_ext", "chainlab")
    ip.run_line_magic("load_ext", "chainlab")
    assert [widget.comm for widget in widgets] == [None] * len(widgets)
    assert live.publisher._thread is None


def test_unload_removes_the_magics_and_reload_brings_them_back(ip: InteractiveShell) -> None:
    ip.run_line_magic("unload_ext", "chainlab")
    assert "chain" not in ip.magics_manager.magics["cell"]
    assert not run(ip, "%%chain --input 1\nlen\n").success
    ip.run_line_magic("load_ext", "chainlab")
    assert "chain" in ip.magics_manager.magics["cell"]
    assert run(ip, "%%chain --input 1 --view none\nlen\n").success


def test_help_lists_every_option(ip: InteractiveShell) -> None:
    doc = ip.find_cell_magic("chain").__doc__ or ""
    for option in (
        "--input",
        "--batch",
        "--mode",
        "--async",
        "--max-concurrency",
        "--view",
        "-o",
        "--raise",
    ):
        assert option in doc, option
