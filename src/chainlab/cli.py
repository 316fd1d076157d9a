"""The ``chainlab`` command.

chainlab lab        open JupyterLab on the lessons
chainlab lessons    run every lesson headless and print a summary table
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def lab(args: argparse.Namespace) -> int:
    """Open JupyterLab on the lessons folder (on loopback only)."""
    from chainlab.lessons.runner import default_lessons_dir

    root = Path(args.dir) if args.dir else default_lessons_dir().parent
    start = "lessons/LC2.1.1-runnableparallel-overview.ipynb" if (root / "lessons").is_dir() else ""
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={args.port}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no extension searches on PyPI
    ]
    if os.geteuid() == 0:  # containers and CI machines often run as root
        command.append("--allow-root")
    if args.no_browser:
        command.append("--no-browser")
    if start and (root / start).exists():
        command.append(f"--LabApp.default_url=/lab/tree/{start}")
    print("Opening JupyterLab on", root, flush=True)
    return subprocess.call(command)


def lessons(args: argparse.Namespace) -> int:
    """Execute every lesson headless; print lesson, status, seconds and its key figure."""
    from chainlab.lessons.runner import LessonRun, execute_notebook, find_lessons, runs_alone

    paths = find_lessons(args.dir)
    if args.only:
        paths = [p for p in paths if any(key in p.name for key in args.only)]
    if not paths:
        print("no lessons found in", args.dir or "lessons/")
        return 1

    def execute(path: Path) -> LessonRun:
        return execute_notebook(
            path, time_scale=args.time_scale, clock=args.clock, timeout=args.timeout
        )

    # lessons that measure CPU-bound speedups need the cores to themselves: they run
    # after the others, one at a time; the table keeps the curriculum order
    alone = [p for p in paths if runs_alone(p)]
    shared = [p for p in paths if p not in alone]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        done = dict(zip(shared, pool.map(execute, shared), strict=True))
    for path in alone:
        done[path] = execute(path)
    runs = [done[path] for path in paths]
    width = max(len(p.stem) for p in paths)
    print(f"{'lesson':<{width}}  status  seconds  key figure")
    for run in runs:
        figure = run.key_figure
        shown = f"{figure.name} = {figure.shown_value}" if figure else ""
        status = "ok" if run.ok else "FAILED"
        print(f"{run.path.stem:<{width}}  {status:<6}  {run.seconds:7.1f}  {shown}")
        if run.error:
            print(f"{'':<{width}}  error: {run.error}")
        for check in run.failures:  # failed result checks and hidden solutions
            what = "check" if check.kind == "result" else "solution of"
            print(f"{'':<{width}}  {what} {check.name}: {check.message}")
    return 0 if all(run.ok for run in runs) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chainlab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_lab = sub.add_parser("lab", help="open JupyterLab on the lessons")
    p_lab.add_argument("--dir", help="folder to open (default: the checkout holding lessons/)")
    p_lab.add_argument("--port", type=int, default=8888)
    p_lab.add_argument("--no-browser", action="store_true")
    p_lab.set_defaults(func=lab)
    p_run = sub.add_parser("lessons", help="run every lesson headless and print a table")
    p_run.add_argument("--dir", help="lessons folder (default: lessons/)")
    p_run.add_argument(
        "--time-scale",
        type=float,
        default=None,  # None: the kernels inherit CHAINLAB_TIME_SCALE (checked there)
        help="shrink simulated latency (e.g. 0.2; default: $CHAINLAB_TIME_SCALE or 1)",
    )
    p_run.add_argument(
        "--clock",
        choices=["real", "virtual"],
        default=None,  # None: the kernels inherit CHAINLAB_CLOCK (real when unset)
        help="virtual: simulated delays take no real time and report exact figures "
        "(default: $CHAINLAB_CLOCK or real)",
    )
    p_run.add_argument("--jobs", type=int, default=2, help="lessons run at once")
    p_run.add_argument("--timeout", type=float, default=300, help="seconds per cell")
    p_run.add_argument("only", nargs="*", help="run only lessons whose file name contains these")
    p_run.set_defaults(func=lessons)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
