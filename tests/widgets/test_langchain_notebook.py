"""LangChain chains in every view, in a real kernel executed by nbclient.

A 3-branch ``langchain_core`` parallel of ``prompt | model | parser`` (the simulated
world as real LangChain components, ``chainlab.sim.langchain``) is handed to
``chainlab.show``, ``%%chain``, ``%chain_graph`` and ``chainlab.compare`` (both the
sequential/parallel comparison and the two engines side by side). Every branch is its
own nodes, a span is recorded per leaf call, the speedup is near the ideal 3×, a custom
``Runnable`` subclass is one labelled node with a note, and a failing LangChain chain
shows its failing node red with LangChain's exception.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytest.importorskip("langchain_core.runnables")

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.timeout(300),
    pytest.mark.xdist_group("widgets-notebook"),
]

SETUP = """\
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel
import chainlab
from chainlab.sim.langchain import ChatPromptTemplate, FakeChatModel, StrOutputParser

prompt = ChatPromptTemplate.from_template("Tell me a {kind} about {topic}")
models = {k: FakeChatModel(k, latency=0.4) for k in ("joke", "poem", "fact")}
chain = RunnableParallel(**{k: prompt | m | StrOutputParser() for k, m in models.items()})
x = {"topic": "cats", "kind": "story"}
LEAVES = 9

def leaf_states(live):
    graph, states = live.graph, live.publisher.last_states
    return {i: states.get(i, {}).get("state") for i in graph.leaf_ids()}
"""

CELLS = [
    SETUP,
    # show(): every branch is its own 3 nodes, a span per leaf call, all done
    """\
dash = chainlab.show(chain, x)
assert dash.error is None, dash.error
assert dash.result == {k: f"[{k}] answer about cats" for k in models}
assert len(dash.live.graph.leaf_ids()) == LEAVES, dash.live.graph.leaf_ids()
for key in models:
    assert {f"root/{key}/{i}" for i in range(3)} <= set(dash.live.graph.nodes)
assert len(dash.recording.leaf_spans) == LEAVES, len(dash.recording.leaf_spans)
assert set(leaf_states(dash.live).values()) == {"done"}, leaf_states(dash.live)
assert dash.live.publisher.last_progress["done"] == LEAVES
assert dash.recording.lanes_used == 3
print("show ok", dash.live.messages, "messages")
""",
    "%load_ext chainlab",
    """\
%%chain --input x -o report
chain
""",
    """\
assert report.error is None, report.error
assert len(report.recording.leaf_spans) == LEAVES
assert set(leaf_states(report.view.live).values()) == {"done"}
""",
    "%chain_graph chain",
    # compare(): sequential then parallel, on LangChain's engine
    """\
cmp = chainlab.compare(chain, x)
assert len(cmp.parallel.leaf_spans) == LEAVES and len(cmp.sequential.leaf_spans) == LEAVES
assert cmp.speedup > 2.0, cmp
print(cmp)
""",
    # the same chain on both engines, one time axis
    """\
both = chainlab.compare(chain, x, engines=("langchain_core", "chainlab"))
assert both.outputs["langchain_core"] == both.outputs["chainlab"] == dash.result
for engine, rec in both.recordings.items():
    assert len(rec.leaf_spans) == LEAVES, (engine, len(rec.leaf_spans))
    assert rec.lanes_used == 3, engine
both.plot()
""",
    # a custom Runnable subclass: one labelled node with a note, never an exception
    """\
class Shout(Runnable):
    def invoke(self, input, config=None, **kwargs):
        return str(input).upper()

odd = chainlab.show(RunnableParallel(loud=Shout(), joke=prompt | models["joke"]), x)
assert odd.error is None, odd.error
labels = [n.label for n in odd.live.graph.nodes.values()]
assert "Shout (custom)" in labels, labels
note = "Shout is a custom Runnable: drawn as one node (runs inside it show on it)"
assert odd.live.notes == [note]
assert "custom Runnable" in odd.live.title
""",
    # a LangChain chain that raises: its node red, with LangChain's exception
    """\
def no_rhyme(x):
    raise ValueError("no rhyme for orange")

bad_chain = RunnableParallel(poem=prompt | RunnableLambda(no_rhyme), joke=prompt | models["joke"])
bad = chainlab.show(bad_chain, x)
assert isinstance(bad.error, ValueError), bad.error
state = bad.live.publisher.last_states["root/poem/1"]
assert state["state"] == "failed" and "no rhyme for orange" in state["error"], state
assert bad.live.publisher.last_progress["status"] == "failed"
""",
]


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=240, kernel_name="python3", store_widget_state=True).execute()
    return nb


def _outputs(nb: nbformat.NotebookNode, index: int) -> list[Any]:
    return list(nb.cells[index].get("outputs", []))


def test_every_cell_ran_and_its_assertions_held(executed: nbformat.NotebookNode) -> None:
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert any("show ok" in o.get("text", "") for o in _outputs(executed, 1))


def test_the_static_pictures_show_every_branch_done(executed: nbformat.NotebookNode) -> None:
    """What nbconvert shows: the final graph, with each branch's nodes and the keys."""
    html = "".join(o.get("data", {}).get("text/html", "") for o in _outputs(executed, 1))
    assert "chainlab-static" in html
    svgs = [
        base64.b64decode(m).decode()
        for m in re.findall(r"data:image/svg\+xml;base64,([^\"]+)", html)
    ]
    graph = next(svg for svg in svgs if 'id="root/joke/1"' in svg)
    for key in ("joke", "poem", "fact"):
        for step in range(3):  # prompt, model, parser of each branch, each its own node
            assert f'id="root/{key}/{step}"' in graph
        assert f">{key}<" in graph  # the branch key on its edge
    assert "9/9 leaf calls" in html


def test_chain_graph_draws_the_branches_with_their_keys(executed: nbformat.NotebookNode) -> None:
    svg = "".join(o.get("data", {}).get("image/svg+xml", "") for o in _outputs(executed, 5))
    assert svg, _outputs(executed, 5)
    for key in ("joke", "poem", "fact"):
        assert f">{key}<" in svg  # the edge label: LangChain's get_graph() has none


def test_the_engine_comparison_is_a_picture(executed: nbformat.NotebookNode) -> None:
    assert any("image/png" in o.get("data", {}) for o in _outputs(executed, 7))
