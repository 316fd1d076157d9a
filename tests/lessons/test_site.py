"""The rendered course (``./dev docs``): every notebook executed into a static page."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from chainlab.lessons.course import Course
from chainlab.lessons.site import build_site
from tests.lessons.helpers import real_work, write_notebook

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("LC*.ipynb"))
DEMOS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CI_TIME_SCALE = "0.2"  # the suite's scale; ./dev docs runs at full scale
PICTURE = re.compile(
    r'<div class="chainlab-static">.*?<img alt="chain graph" src="data:image/svg\+xml;base64,'
    r'([A-Za-z0-9+/=]+)"',
    re.S,
)


def pictures(page: str) -> list[ET.Element]:
    """The live graphs' pictures on a page, as SVG trees."""
    return [ET.fromstring(base64.b64decode(data)) for data in PICTURE.findall(page)]


def node_states(svg: ET.Element) -> list[str | None]:
    return [
        g.get("data-state")
        for g in svg.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "node"
    ]


@pytest.mark.slow
@pytest.mark.notebook
def test_a_small_course_becomes_pages_and_an_index(tmp_path: Path) -> None:
    lessons, demos = tmp_path / "lessons", tmp_path / "notebooks"
    lessons.mkdir()
    demos.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A lesson about fan-out\n\ntext"),
        nbformat.v4.new_code_cell(
            "import chainlab\nfrom chainlab import RunnableParallel\n"
            "live = chainlab.LiveGraph(RunnableParallel(a=str, b=repr))\nlive"
        ),
        nbformat.v4.new_code_cell("live.run(1)"),
    ]
    nbformat.write(nb, lessons / "LC1.1.1-fan-out.ipynb")
    write_notebook(demos / "demo.ipynb", "raise ValueError('broken demo')")
    out = tmp_path / "site"
    pages = build_site(out, Course(lessons, demos), time_scale=0.2, jobs=2)
    assert [p.file for p in pages] == ["LC1.1.1-fan-out.html", "notebooks/demo.html"]
    lesson = (out / "LC1.1.1-fan-out.html").read_text()
    (svg,) = pictures(lesson)  # the widget view is gone, its final picture stays
    assert set(node_states(svg)) == {"done"}
    assert "widget-view" not in lesson
    assert not re.search(r'<script[^>]+src="https?://', lesson)  # no CDN scripts
    index = (out / "index.html").read_text()
    assert '<a href="LC1.1.1-fan-out.html">A lesson about fan-out</a>' in index
    assert '<a href="notebooks/demo.html">' in index
    assert "(demo, FAILED;" in index  # a failed notebook is said so, not hidden
    assert pages[0].pictures == 1
    assert not pages[1].run.ok


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.timeout(900)
@pytest.mark.xdist_group("docs")
def test_dev_docs_builds_every_lesson_with_its_pictures(tmp_path: Path) -> None:
    """What ``./dev docs --clock virtual`` runs, end to end: the simulated waits take no
    real time; the notebooks of real work run on the real clock, at the CI time scale."""
    out = tmp_path / "site"
    env = {**os.environ, "CHAINLAB_TIME_SCALE": CI_TIME_SCALE}
    command = ["-m", "chainlab.lessons.site", "--out", str(out), "--jobs", "2"]
    done = subprocess.run(
        [sys.executable, *command, "--clock", "virtual"],
        capture_output=True,
        text=True,
        env=env,
        timeout=880,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    index = (out / "index.html").read_text()
    for path in LESSONS:
        page = (out / f"{path.stem}.html").read_text()
        assert f'href="{path.stem}.html"' in index
        executed = nbformat.read(out / f"{path.stem}.ipynb", as_version=4)
        outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
        views = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
        static = [
            o
            for o in outputs
            if 'class="chainlab-static"' in o.get("data", {}).get("text/html", "")
        ]
        assert len(static) >= len(views), path.name  # every live view has its picture
        found = pictures(page)
        graphs = [o for o in static if 'alt="chain graph"' in o["data"]["text/html"]]
        assert len(found) == len(graphs), path.name  # ... and the page shows every one
        if any("chainlab.show(" in c.source for c in executed.cells if c.cell_type == "code"):
            assert found, f"{path.name} shows live graphs: its page must have their pictures"
        for svg in found:  # each picture is a final state: no node left running
            states = node_states(svg)
            assert states, path.name
            assert "running" not in states, path.name
        timelines = sum("image/png" in o.get("data", {}) for o in outputs)
        assert page.count("data:image/png;base64") >= timelines, path.name  # every timeline
        assert found or timelines, f"{path.name}: a lesson page without a single picture"
    for path in DEMOS:
        assert (out / "notebooks" / f"{path.stem}.html").is_file()
        assert f'href="notebooks/{path.stem}.html"' in index
    clocks = {
        line.split()[0]: line.split()[3] for line in done.stdout.splitlines() if "pictures" in line
    }
    assert clocks == {
        ("notebooks/" if path in DEMOS else "") + f"{path.stem}.html": (
            "real" if real_work(path) else "virtual"
        )
        for path in LESSONS + DEMOS
    }
    assert set(clocks.values()) == {"real", "virtual"}
    assert f"wrote {len(LESSONS) + len(DEMOS)} pages" in done.stdout
