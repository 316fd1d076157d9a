"""The rendered course: every lesson and demo executed, as a static HTML site.

``./dev docs`` (or ``python -m chainlab.lessons.site --out site``) runs each notebook
of the installed course in a fresh kernel, at full scale unless told otherwise, and
writes one page per notebook with nbconvert (and the executed notebook beside it),
plus ``index.html``. The pages need no
kernel, no JavaScript and no network: every live graph is shown by the static picture
that follows its widget (the final graph, coloured, as an image), timelines are PNGs,
and the widget views themselves, which would need a widget manager from a CDN, are
left out. Building reaches no network either.
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from chainlab.lessons.course import Course, find_course
from chainlab.lessons.runner import LessonRun, execute_all, find_lessons

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATIC_CLASS = "chainlab-static"  # the class of the pictures (chainlab.widgets.outputs)


@dataclass
class Page:
    """One rendered notebook."""

    source: Path
    file: str
    title: str
    run: LessonRun
    pictures: int
    """How many live-graph / dashboard pictures the page shows."""


def without_widget_views(nb: Any) -> Any:
    """A copy of ``nb`` without its widget views and widget state (their pictures stay)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET_VIEW not in o.get("data", {})]
    nb.metadata.pop("widgets", None)
    return nb


def title_of(nb: Any, fallback: str) -> str:
    """The first Markdown heading of ``nb``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return fallback


def render_page(nb: Any) -> str:
    """An executed notebook as a self-contained HTML page (nbconvert's lab template)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(without_widget_views(nb))
    return _offline(body)


def _offline(page: str) -> str:
    """Drop the template's CDN scripts (require.js, MathJax): the pages need none."""
    return re.sub(r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>', "", page)


def build_site(
    out: Path,
    course: Course | None = None,
    *,
    time_scale: float | None = None,
    clock: str | None = None,
    jobs: int = 2,
    timeout: float = 600,
) -> list[Page]:
    """Execute the course and write its pages and ``index.html`` into ``out``.

    ``clock="virtual"``: the simulated waits take no real time and the figures are
    exact; notebooks that measure real work still run on the real clock."""
    course = course or find_course()
    if course is None:
        raise FileNotFoundError("no course found: this chainlab installation has no lessons")
    lessons = find_lessons(course.lessons)
    demos = sorted(course.notebooks.glob("*.ipynb"))
    runs = execute_all(
        lessons + demos, jobs=jobs, time_scale=time_scale, clock=clock, timeout=timeout
    )
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for run in runs:
        folder = "notebooks/" if run.path in demos else ""
        file = f"{folder}{run.path.stem}.html"
        title = title_of(run.notebook, run.path.stem)
        (out / file).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(run.notebook, out / Path(file).with_suffix(".ipynb"))  # as executed
        page = render_page(run.notebook)
        (out / file).write_text(page, encoding="utf-8")
        pages.append(Page(run.path, file, title, run, page.count(f'class="{STATIC_CLASS}"')))
    (out / "index.html").write_text(index_html(pages, len(lessons)), encoding="utf-8")
    return pages


def index_html(pages: list[Page], lessons: int) -> str:
    """The course's front page: the lessons, then the demos, each with its status."""

    def rows(part: list[Page]) -> str:
        return "\n".join(
            f'<li><a href="{html.escape(p.file)}">{html.escape(p.title)}</a> '
            f"<small>({html.escape(p.source.stem)}{'' if p.run.ok else ', FAILED'}; "
            f'<a href="{html.escape(p.file[:-5])}.ipynb">notebook</a>)</small></li>'
            for p in part
        )

    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>chainlab: parallel runnables</title>
<style>body {{ font-family: sans-serif; max-width: 48em; margin: 2em auto; }}</style>
</head><body>
<h1>chainlab: parallel runnables</h1>
<p>Lessons LC2.1.1&ndash;LC2.1.8, executed, with their outputs: live graphs as their
final pictures, timelines, measured results. To run them yourself:
<code>pip install "chainlab[lab]"</code>, then <code>chainlab lab</code>.</p>
<h2>Lessons</h2>
<ol>
{rows(pages[:lessons])}
</ol>
<h2>Demos</h2>
<ul>
{rows(pages[lessons:])}
</ul>
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chainlab.lessons.site", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", default="site", help="the site's folder (default: ./site)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="shrink simulated latency (default: $CHAINLAB_TIME_SCALE or 1, full scale)",
    )
    parser.add_argument(
        "--clock",
        choices=["real", "virtual"],
        default=None,
        help="virtual: simulated delays take no real time and the pages show exact "
        "figures; notebooks that measure real work still run on the real clock "
        "(default: $CHAINLAB_CLOCK or real)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    args = parser.parse_args(argv)
    out = Path(args.out)
    pages = build_site(out, time_scale=args.time_scale, clock=args.clock, jobs=args.jobs)
    for page in pages:
        state = "ok" if page.run.ok else "error" if page.run.error else "a check failed"
        print(f"{page.file:<50} {page.pictures:2d} pictures  {page.run.clock:<7}  {state}")
        if page.run.error:
            print(f"    {page.run.error}")
        for check in page.run.failures:  # shown on the page too: a measurement off bounds
            print(f"    check {check.name}: {check.message}")
    print(f"wrote {len(pages)} pages and {out / 'index.html'}")
    # a notebook that raised is a broken course; a timing check off its bounds (a busy
    # machine) is shown on its page, as measured, and does not stop the site
    return 1 if any(page.run.error for page in pages) else 0


if __name__ == "__main__":
    sys.exit(main())
