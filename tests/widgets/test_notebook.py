"""The widgets in a real kernel, executed headless by nbclient (``store_widget_state``).

This checks what the notebook file keeps: the widget state (every node done), the
widget and then its static final-state picture per ``show`` (no second copy from the
cell's last expression; the picture refreshed after the run), what nbconvert's HTML
shows with and without the stored widget state, errors shown and not swallowed, and
the number of widget messages per second the publisher sent over IOPub.
"""

from __future__ import annotations

import base64
import collections
import copy
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.timeout(300),
    pytest.mark.xdist_group("widgets-notebook"),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

SETUP = """\
import time
import chainlab
from chainlab import RunnableLambda, RunnableParallel

def nap(seconds, name):
    def work(x):
        time.sleep(seconds)
        return x
    return RunnableLambda(work, name=name)

def boom(x):
    raise ValueError("no rhyme for orange")

branches = {f"b{i}": nap(0.2 + 0.1 * i, f"step{i}") for i in range(4)}
items = RunnableLambda(lambda x: list(range(2000)), name="split") | nap(0.003, "item").map()
chain = RunnableParallel(**branches, items=items)
"""

CELLS = [
    SETUP,
    "dash = chainlab.show(chain, 1, config={'max_concurrency': 8})",
    "assert dash.error is None and len(dash.result['items']) == 2000\n"
    "print('messages', dash.live.messages, 'wall', round(dash.wall_s, 3))",
    "chainlab.show(RunnableParallel(a=nap(0.05, 'a'), b=nap(0.05, 'b')), 2)",
    "bad = chainlab.show(RunnableParallel(poem=boom, joke=nap(0.05, 'joke')), 1)",
    "assert isinstance(bad.error, ValueError)\nprint('error kept:', repr(bad.error))",
    "live = chainlab.LiveGraph(RunnableParallel(a=nap(0.05, 'a'), b=nap(0.1, 'b')))\nlive",
    "live.run(3)",
]


class CountingClient(NotebookClient):
    """An nbclient that notes the arrival time of every comm message, per comm."""

    comm_times: dict[str, list[float]]

    def handle_comm_msg(self, outs: Any, msg: dict[str, Any], cell_index: int) -> None:
        if msg["msg_type"] == "comm_msg":
            self.comm_times[msg["content"]["comm_id"]].append(time.monotonic())
        super().handle_comm_msg(outs, msg, cell_index)


@pytest.fixture(scope="module")
def executed() -> tuple[nbformat.NotebookNode, CountingClient]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = CountingClient(nb, timeout=240, store_widget_state=True, kernel_name="python3")
    client.comm_times = collections.defaultdict(list)
    client.execute()
    ARTIFACTS.mkdir(exist_ok=True)
    nbformat.write(nb, ARTIFACTS / "widgets-nbclient.ipynb")
    return nb, client


def live_graphs(nb: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    state = nb.metadata.widgets[WIDGET_STATE]["state"]
    return {
        model_id: w["state"]
        for model_id, w in state.items()
        if w["state"].get("_anywidget_id") == "chainlab.widgets.livegraph.LiveGraph"
    }


def view_id(output: dict[str, Any]) -> str:
    return str(output["data"][WIDGET_VIEW]["model_id"])


def test_widget_state_has_every_node_done(executed: Any) -> None:
    nb, _ = executed
    graphs = live_graphs(nb)
    assert len(graphs) == 4  # the three dashboards' graphs and the LiveGraph
    state = nb.metadata.widgets[WIDGET_STATE]["state"]
    dashboard = state[view_id(nb.cells[1].outputs[0])]["state"]
    live = state[dashboard["children"][1].removeprefix("IPY_MODEL_")]["state"]
    node_ids = set(re.findall(r'<g id="([^"]+)" class="node"', live["svg"]))
    assert len(node_ids) > 10
    assert {gid: st["state"] for gid, st in live["states"].items()} == dict.fromkeys(
        node_ids, "done"
    )
    items = [st for gid, st in live["states"].items() if gid.endswith("/*")]
    assert [(st["done"], st["total"]) for st in items] == [(2000, 2000)]
    progress = live["progress"]
    assert progress["status"] == "done"
    assert progress["done"] == progress["total"] == 4 + 1 + 2000


def test_each_show_is_the_widget_then_its_final_static_picture(executed: Any) -> None:
    nb, _ = executed
    for index in (1, 3, 4):  # a statement, a last expression, a failing run
        outputs = nb.cells[index].outputs
        displays = [o for o in outputs if o["output_type"] != "stream"]
        assert [o["output_type"] for o in displays] == ["display_data"] * 2, index
        widget, picture = displays
        assert set(widget["data"]) == {WIDGET_VIEW, "text/plain"}
        html = picture["data"]["text/html"]
        assert html.startswith('<div class="chainlab-static">')
        svg = decoded_svg(html)
        assert 'data-state="pending"' not in svg
        assert 'data-state="running"' not in svg
        assert "data:image/png;base64," in html  # the timeline
    assert "<b>result</b>" in nb.cells[1].outputs[1]["data"]["text/html"]
    failed = nb.cells[4].outputs[1]["data"]["text/html"]
    assert "ValueError" in failed
    assert "branch `poem` failed" in failed


def decoded_svg(html: str) -> str:
    encoded = re.search(r"data:image/svg\+xml;base64,([^\"]+)", html)
    assert encoded is not None
    return base64.b64decode(encoded.group(1)).decode()


def test_nbconvert_html_shows_the_final_pictures_with_or_without_widget_state(
    executed: Any,
) -> None:
    from nbconvert import HTMLExporter

    nb, _ = executed
    without_state = copy.deepcopy(nb)
    del without_state.metadata["widgets"]
    for notebook, views in ((nb, 4), (without_state, 0)):
        html, _ = HTMLExporter().from_notebook_node(notebook)
        # with stored state, nbconvert renders each widget output as its view only
        assert html.count('<script type="application/vnd.jupyter.widget-view+json">') == views
        pictures = html.split('<div class="chainlab-static">')[1:]
        assert len(pictures) == 4  # three dashboards and a live graph: each picture once
        for picture in pictures:
            svg = decoded_svg(picture)
            assert svg.count('data-state="done"') + svg.count('data-state="failed"') > 3
            assert 'data-state="running"' not in svg
            assert 'data-state="pending"' not in svg
        ARTIFACTS.mkdir(exist_ok=True)
        name = "widgets-nbconvert" + ("" if views else "-no-state") + ".html"
        (ARTIFACTS / name).write_text(html)


def test_errors_are_shown_and_kept_not_raised(executed: Any) -> None:
    nb, _ = executed
    assert "error kept: ValueError('no rhyme for orange')" in nb.cells[5].outputs[0]["text"]


def test_a_displayed_live_graph_gets_its_final_svg(executed: Any) -> None:
    nb, _ = executed
    widget, picture = nb.cells[6].outputs
    assert WIDGET_VIEW in widget["data"]
    svg = picture["data"]["image/svg+xml"]
    assert svg.count('data-state="done"') == svg.count('class="node"') > 3


def test_the_publisher_stays_under_20_messages_per_second(executed: Any) -> None:
    nb, client = executed
    live_id = next(iter(live_graphs(nb)))  # the first dashboard's graph: 2,000+ spans
    times = client.comm_times[live_id]
    text = nb.cells[2].outputs[0]["text"]
    messages, wall = int(text.split()[1]), float(text.split()[3])
    assert len(times) == messages  # every message the kernel counted reached the client
    assert wall > 0.7
    assert messages >= 5  # live updates during the run
    assert messages <= 20 * wall + 2, (messages, wall)  # + the reset before the run
    # everything the first dashboard sent, all widgets together, stays far below the
    # server's 1,000 messages/s limit
    total = sum(len(t) for t in client.comm_times.values())
    assert total < 200
