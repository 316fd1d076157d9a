"""The drawings the engine and the trace objects call are registered by chainlab.viz."""

from __future__ import annotations

import pytest

from chainlab import RunnableLambda, RunnableParallel, record
from chainlab.engine import register_view, view
from chainlab.viz import render


def test_graph_views_are_the_viz_renderers() -> None:
    assert view("graph.draw_ascii") is render.draw_ascii
    assert view("graph.mimebundle") is render.mimebundle
    graph = RunnableParallel(a=str, b=repr).get_graph()
    assert graph.draw_ascii() == render.draw_ascii(graph)
    assert graph.draw_mermaid() == render.draw_mermaid(graph)


def test_recording_plot_goes_through_the_registered_view() -> None:
    with record() as rec:
        RunnableLambda(str.upper).invoke("x")
    calls = []

    def fake_plot(recording: object, **kwargs: object) -> str:
        calls.append((recording, kwargs))
        return "drawn"

    original = view("plot_recording")
    register_view("plot_recording", fake_plot)
    try:
        assert rec.plot() == "drawn"
    finally:
        register_view("plot_recording", original)
    assert calls == [(rec, {"ax": None})]
    assert view("plot_recording") is original


def test_an_unknown_view_is_named_with_the_known_ones() -> None:
    with pytest.raises(LookupError, match=r"no view 'graph\.draw_png' is registered") as info:
        view("graph.draw_png")
    assert "graph.draw_ascii" in str(info.value)
    assert "import chainlab.viz" in str(info.value)


def test_importing_viz_does_not_load_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, chainlab; print('matplotlib' in sys.modules, bool(chainlab.viz))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
