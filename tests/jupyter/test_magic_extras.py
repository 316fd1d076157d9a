"""%%chain --replay N and the stall report, through IPython's own shell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

from chainlab.jupyter.extras import replay_line, stall_lines


@pytest.fixture(scope="module")
def ip() -> Iterator[InteractiveShell]:
    shell = start_ipython() or InteractiveShell.instance()
    shell.run_line_magic("load_ext", "chainlab")
    yield shell
    shell.run_line_magic("unload_ext", "chainlab")


def run(ip: InteractiveShell, cell: str) -> Any:
    return ip.run_cell(cell, store_history=False)


NAPS = (
    "import time\n"
    "def nap(x):\n    time.sleep(0.05)\n    return x\n"
    "{'a': nap, 'b': nap, 'c': nap, 'd': nap}\n"
)


def test_replay_prints_predicted_beside_measured(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(ip, "%%chain --input 1 --replay 1 -o rep --view none\n" + NAPS).success
    out = capsys.readouterr().out
    assert "replay: with max_concurrency=1 this run would take" in out
    report = ip.user_ns["rep"]
    line, predicted = replay_line(report.recording, 1)
    assert line in out
    assert predicted.predicted
    assert predicted.analysis().lanes_used == 1  # four 50 ms naps, one at a time
    assert predicted.wall_s == pytest.approx(report.recording.work_s, rel=0.01)


def test_replay_with_the_timeline_shows_the_two_plots(ip: InteractiveShell) -> None:
    shown: list[Any] = []
    import IPython.display

    original = IPython.display.display
    IPython.display.display = lambda *objs, **kw: shown.extend(objs)  # type: ignore[assignment]
    try:
        assert run(ip, "%%chain --input 1 --replay 2 --view timeline\n" + NAPS).success
    finally:
        IPython.display.display = original
    figures = [o for o in shown if hasattr(o, "axes")]
    titles = [ax.get_title(loc="left") for fig in figures for ax in fig.axes]
    assert any(t.startswith("predicted, max_concurrency=2") for t in titles), titles
    assert any(t.startswith("measured") for t in titles), titles


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_replay_must_be_positive(ip: InteractiveShell, bad: str) -> None:
    result = run(ip, f"%%chain --input 1 --replay {bad} --view none\nstr")
    assert not result.success
    assert "--replay must be a positive integer" in str(result.error_in_exec)


ASYNC_BRANCHES = (
    "import asyncio, time\n"
    "async def blocks(x):\n    time.sleep(0.3)\n    return x\n"
    "async def polite(x):\n    await asyncio.sleep(0.05)\n    return x\n"
)


def test_async_stall_is_reported_in_the_summary(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    cell = "%%chain --async --input 1 -o rep --view none\n" + ASYNC_BRANCHES
    result = run(ip, cell + "{'bad': blocks, 'good': polite}\n")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "⚠ event-loop stall: RunnableParallel<bad,good>/bad blocked the event loop" in out
    assert len(stall_lines(ip.user_ns["rep"].recording)) == 1


def test_clean_async_run_reports_no_stall(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    cell = "%%chain --async --input 1 --view none\n" + ASYNC_BRANCHES
    assert run(ip, cell + "{'a': polite, 'b': polite}\n").success
    assert "stall" not in capsys.readouterr().out


def test_help_lists_replay(ip: InteractiveShell) -> None:
    assert "--replay" in (ip.find_cell_magic("chain").__doc__ or "")
