"""%%chain in IPython's shell: what each view displays, limits, the report, async modes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

from chainlab.jupyter.magics import ChainReport
from chainlab.trace import Comparison, Recording

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """\
import threading, chainlab

class Gauge:
    '''How many calls run at once, at most (30 ms of simulated I/O each).'''
    def __init__(self):
        self.lock, self.now, self.peak = threading.Lock(), 0, 0
    def __call__(self, x):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        chainlab.sleep(0.03)
        with self.lock:
            self.now -= 1
        return x

def fussy(x):
    raise ValueError('no rhyme')
"""


@pytest.fixture(scope="module")
def ip() -> Iterator[InteractiveShell]:
    shell = start_ipython() or InteractiveShell.instance()  # one shell per process
    shell.run_line_magic("load_ext", "chainlab")
    shell.run_cell(SETUP, store_history=False)
    yield shell
    shell.run_line_magic("unload_ext", "chainlab")


@pytest.fixture
def shown(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The data of every new display, in order (updates of a display are not new ones).

    The terminal shell computes only text/plain; a notebook asks for pictures too.
    """
    published: list[dict[str, Any]] = []

    def publish(data: dict[str, Any], metadata: Any = None, **kwargs: Any) -> None:
        if not kwargs.get("update"):
            published.append(data)

    monkeypatch.setattr(ip.display_pub, "publish", publish)
    types = ["text/plain", "image/png", "image/svg+xml"]
    monkeypatch.setattr(ip.display_formatter, "active_types", types)
    return published


def run(ip: InteractiveShell, cell: str) -> Any:
    result = ip.run_cell(cell, store_history=False)
    return result


def report(ip: InteractiveShell) -> ChainReport:
    rep = ip.user_ns["rep"]
    assert isinstance(rep, ChainReport)
    return rep


def test_batch_with_the_graph_view_shows_one_graph_counting_items(
    ip: InteractiveShell, shown: list[dict[str, Any]]
) -> None:
    cell = "%%chain --batch '[1, 2, 3]' --view graph -o rep\n{'a': Gauge(), 'b': str}\n"
    assert run(ip, cell).success
    rep = report(ip)
    assert rep.output == [{"a": i, "b": str(i)} for i in (1, 2, 3)]
    assert sum(WIDGET in data for data in shown) == 1  # one live graph for the whole batch
    assert not any("image/png" in data for data in shown)  # no timeline in this view
    progress = rep.view.progress
    assert (progress["unit"], progress["done"], progress["total"]) == ("items", 3, 3)
    assert progress["status"] == "done"
    assert sum(s.parent_id is None for s in rep.recording.spans) == 3


def test_the_timeline_view_shows_a_figure_and_no_widget(
    ip: InteractiveShell, shown: list[dict[str, Any]]
) -> None:
    assert run(ip, "%%chain --input 2 --view timeline -o rep\n{'a': Gauge(), 'b': Gauge()}").success
    assert sum("image/png" in data for data in shown) == 1
    assert not any(WIDGET in data for data in shown)
    assert "{'a': 2, 'b': 2}" in [data.get("text/plain") for data in shown]
    assert report(ip).view is None


@pytest.mark.parametrize(("limit", "expected_peak"), [(2, 2), (3, 3)])
def test_max_concurrency_is_honoured(
    ip: InteractiveShell, virtual: Any, limit: int, expected_peak: int
) -> None:
    ip.user_ns["gauge"] = gauge = ip.user_ns["Gauge"]()
    cell = f"%%chain --input 0 --max-concurrency {limit} --view none -o rep\n"
    cell += "{" + ", ".join(f"'k{i}': gauge" for i in range(6)) + "}\n"
    assert run(ip, cell).success
    assert gauge.peak == expected_peak
    assert report(ip).recording.lanes_used <= limit
    assert report(ip).options["max_concurrency"] == limit


def test_sequential_mode_runs_one_leaf_at_a_time(ip: InteractiveShell, virtual: Any) -> None:
    ip.user_ns["gauge"] = gauge = ip.user_ns["Gauge"]()
    cell = "%%chain --input 0 --mode sequential --view none -o rep\n"
    cell += "{'a': gauge, 'b': gauge, 'c': gauge}"
    assert run(ip, cell).success
    rec = report(ip).recording
    assert gauge.peak == 1
    assert rec.lanes_used == 1
    assert round(rec.speedup, 6) == 1.0  # nothing overlapped
    assert round(rec.ceiling, 6) == 3.0  # what parallel could have given


def test_the_report_holds_everything_about_the_run(ip: InteractiveShell) -> None:
    ip.user_ns["topic"] = "cats"
    assert run(ip, "%%chain --input topic --view none -o rep\nchain = str.upper\nchain").success
    rep = report(ip)
    assert rep.input == "cats"
    assert rep.output == "CATS"
    assert rep.error is None
    assert rep.comparison is None
    assert rep.view is None
    assert isinstance(rep.recording, Recording)
    assert [s.output_preview for s in rep.recording.spans] == ["'CATS'"]
    assert rep.chain.invoke("dogs") == "DOGS"
    assert rep.options == {
        "input": "topic",
        "batch": None,
        "mode": "parallel",
        "use_async": False,
        "max_concurrency": None,
        "replay": None,
        "view": "none",
        "output_name": "rep",
        "reraise": False,
    }
    assert repr(rep) == "ChainReport(upper, output='CATS')"


def test_a_failing_branch_in_compare_mode_is_shown_not_raised(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(
        ip, "%%chain --input 1 --mode compare --view timeline -o rep\n{'ok': str, 'p': fussy}"
    )
    assert result.success
    rep = report(ip)
    assert isinstance(rep.error, ValueError)
    err = capsys.readouterr().err
    assert "ValueError: no rhyme" in err
    assert "in branch 'p'" in err
    assert "chainlab/engine" not in err
    assert "timeline unavailable" not in err
    failed = run(ip, "%%chain --input 1 --mode compare --view none --raise\n{'p': fussy}")
    assert isinstance(failed.error_in_exec, ValueError)


def test_async_compare_mode_stores_a_comparison(ip: InteractiveShell) -> None:
    cell = (
        "%%chain --async --input 1 --mode compare --view none -o rep\n"
        "import asyncio\n"
        "async def anap(x):\n    await asyncio.sleep(0.03)\n    return x\n"
        "{'a': anap, 'b': anap, 'c': anap}\n"
    )
    result = run(ip, cell)
    assert result.success, result.error_in_exec
    rep = report(ip)
    assert isinstance(rep.comparison, Comparison)
    assert rep.output == {"a": 1, "b": 1, "c": 1}
    assert rep.recording is rep.comparison.parallel
    assert rep.comparison.sequential.lanes_used == 1
    assert rep.comparison.speedup > 1.5


def test_async_without_input_only_draws_the_graph(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str], shown: list[dict[str, Any]]
) -> None:
    calls: list[Any] = []
    ip.user_ns["calls"] = calls
    ip.user_ns.pop("rep", None)
    assert run(ip, "%%chain --async -o rep\n{'a': lambda x: calls.append(x)}").success
    assert calls == []
    assert not report(ip).ran  # -o keeps a report that says nothing ran
    assert "not run: add --input" in repr(report(ip))
    assert "Add --input" in capsys.readouterr().out
    assert any("RunnableParallel<a>  (fork)" in data.get("text/plain", "") for data in shown)


def test_the_graph_falls_back_to_the_python_layout_without_dot(
    ip: InteractiveShell,
    shown: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert run(ip, "%chain_graph {'a': len, 'b': str}").success
    assert set(shown[-1]) == {"text/plain", "image/svg+xml"}
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot anywhere
    assert run(ip, "%chain_graph {'a': len, 'b': str}").success
    assert set(shown[-1]) == {"text/plain", "image/svg+xml"}  # laid out in Python
    assert '<g id="root/a" class="node">' in shown[-1]["image/svg+xml"]
    assert shown[-1]["text/plain"].splitlines()[:5] == [
        "input",
        "↓",
        "RunnableParallel<a,b>  (fork)",
        "├─ a ─▶ len",
        "└─ b ─▶ str",
    ]


def test_compare_mode_shows_the_live_graph_ending_on_the_parallel_run(
    ip: InteractiveShell, shown: list[dict[str, Any]]
) -> None:
    for flag in ("", "--async "):
        shown.clear()
        cell = f"%%chain {flag}--input 1 --mode compare --view graph -o rep\n"
        assert run(ip, cell + "{'a': Gauge(), 'b': Gauge()}").success
        rep = report(ip)
        assert isinstance(rep.comparison, Comparison)
        assert sum(WIDGET in data for data in shown) == 1
        live = rep.view
        assert live is not None
        assert live.progress["runs"] == 2  # it watched both runs ...
        assert live.progress["run_label"] == "parallel"  # ... and shows the second
        assert live.progress["status"] == "done"
        assert {live.states[k]["state"] for k in ("root/a", "root/b")} == {"done"}


def test_a_chain_whose_graph_cannot_be_built_still_runs_as_one_node(
    ip: InteractiveShell,
) -> None:
    ip.run_cell(
        "from chainlab import RunnableLambda\n"
        "class Mine(RunnableLambda):  # a custom runnable with a bug in _children\n"
        "    def _children(self):\n"
        "        raise RuntimeError('no children for you')\n",
        store_history=False,
    )
    for view in ("graph", "both"):
        cell = f"%%chain --input 21 --view {view} -o rep\n{{'a': Mine(lambda x: 2 * x)}}"
        with pytest.warns(RuntimeWarning, match="shows the whole chain as one node"):
            result = run(ip, cell)
        assert result.success
        rep = report(ip)
        assert rep.error is None
        assert rep.output == {"a": 42}
        live = rep.view if view == "graph" else rep.view.live
        assert set(live.graph.nodes) == {"__input__", "root", "__output__"}
        assert live.states["root"]["state"] == "done"
        assert live.progress["status"] == "done"


def test_an_error_in_the_cell_body_shows_the_users_frames_only(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(ip, "%%chain --input 1 --view none\nx = undefined_name\nlen")
    assert isinstance(result.error_in_exec, NameError)
    out = "".join(capsys.readouterr())
    assert "----> 1 x = undefined_name" in out
    for ours in ("magics.py", "cell.py", "chainlab/"):
        assert ours not in out, out


@pytest.mark.parametrize("view", ["both", "graph", "none"])
def test_raise_shows_one_traceback_of_the_users_frames(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str], view: str
) -> None:
    result = run(ip, f"%%chain --input 1 --raise --view {view}\n{{'ok': str, 'poem': fussy}}")
    assert isinstance(result.error_in_exec, ValueError)
    out = "".join(capsys.readouterr())
    assert out.count("ValueError: no rhyme") == 1, out  # not printed and then raised too
    assert out.count("Traceback") == 1, out
    assert "raise ValueError('no rhyme')" in out  # the user's line
    assert "in branch 'poem'" in out
    for ours in ("dashboard.py", "engine", "magics.py", "present.py", "chainlab/"):
        assert ours not in out, out
