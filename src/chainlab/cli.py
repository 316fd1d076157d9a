"""The ``chainlab`` command.

chainlab lab        copy the lessons into a folder of yours and open JupyterLab there
chainlab lessons    run every lesson headless and print a summary table
chainlab --version  the installed version
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from chainlab._version import __version__

DEFAULT_DIR = "chainlab-lessons"
DEFAULT_PORT = 8888

LAB_HELP = f"""\
Copy chainlab's lessons (LC2.1.1-LC2.1.8) and demo notebooks into a folder of yours,
then open JupyterLab there, on 127.0.0.1 only.

The first run copies the lessons into --dir (default ./{DEFAULT_DIR}): the lessons
at its top, the demos in notebooks/. The copy is yours to edit: later runs (after
`pip install -U chainlab`, say) bring a notebook up to date only if you never changed
it; a notebook you changed is never overwritten, and a newer version of it is written
beside it as <name>.chainlab-<version>.ipynb. New lessons are added.

JupyterLab never checks for news or updates, and its extension manager is read-only
(nothing is looked up on PyPI). Without --port it takes port {DEFAULT_PORT}, or the next
free one; with --port it takes exactly that port, or stops if it is in use.

Errors (exit status 2, one line): --dir is a file, the folder cannot be written, the
port is in use.
"""


class UsageError(Exception):
    """Bad input: ``main`` prints it on one line and exits with status 2."""


def lab(args: argparse.Namespace) -> int:
    """Copy the course into ``--dir`` (unless ``--no-copy``) and open JupyterLab there."""
    root = Path(args.dir or DEFAULT_DIR).absolute()
    writable_folder(root)
    if args.port is not None:
        free_port(args.port)
    if not args.no_copy:
        for line in copy_course(root):
            print(line, flush=True)
    print("Opening JupyterLab on", root, flush=True)
    return subprocess.call(lab_command(root, args), env=_without_announcements(os.environ))


def lab_command(root: Path, args: argparse.Namespace) -> list[str]:
    """The ``jupyter lab`` command line for ``root`` (loopback, no network checks)."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",  # not `jupyter lab`: that needs the jupyter-lab script on PATH
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={DEFAULT_PORT if args.port is None else args.port}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no extension searches on PyPI
    ]
    if args.port is not None:  # exactly that port: Jupyter would silently take another
        command.append("--ServerApp.port_retries=0")
    if os.geteuid() == 0:  # containers and CI machines often run as root
        command.append("--allow-root")
    if args.no_browser:
        command.append("--no-browser")
    start = first_lesson(root)
    if start:
        command.append(f"--LabApp.default_url=/lab/tree/{start}")
    return command


ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def _without_announcements(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with one more Jupyter config dir, whose page config disables the
    announcements plugin (its "get notified about Jupyter news?" toast covers outputs).

    JupyterLab reads ``labconfig/page_config.json`` from every dir on
    ``JUPYTER_CONFIG_PATH``; the user's own config is left untouched.
    """
    extra = Path(tempfile.gettempdir()) / f"chainlab-lab-config-{os.getuid()}"
    (extra / "labconfig").mkdir(parents=True, exist_ok=True)
    page = {"disabledExtensions": {ANNOUNCEMENTS: True}}
    (extra / "labconfig" / "page_config.json").write_text(json.dumps(page))
    paths = [str(extra), *filter(None, [environ.get("JUPYTER_CONFIG_PATH")])]
    return {**environ, "JUPYTER_CONFIG_PATH": os.pathsep.join(paths)}


def writable_folder(root: Path) -> None:
    """Make sure ``root`` is a folder we can write in (creating it), else UsageError."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"--dir {root} is a file, not a folder: give a folder for the lessons")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"cannot write in the folder {root} ({reason}): choose another with --dir"
        ) from None


def free_port(port: int) -> None:
    """Raise UsageError unless ``port`` can be listened on at 127.0.0.1."""
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port number (1-65535)")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Jupyter binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(
                f"port {port} on 127.0.0.1 is in use ({exc.strerror}): choose another with "
                "--port, or leave --port out to take the next free one"
            ) from None


def copy_course(root: Path) -> list[str]:
    """Copy (or bring up to date) the installed course in ``root``; what it did."""
    from chainlab.lessons.course import candidates, find_course, sync_course

    course = find_course()
    if course is None:
        looked = " and ".join(str(c / "lessons") for c in candidates())
        raise UsageError(f"this chainlab has no lessons to copy (looked in {looked})")
    try:
        report = sync_course(course, root, __version__)
    except OSError as exc:
        raise UsageError(f"cannot copy the lessons into {root}: {exc}") from None
    return report.lines()


def first_lesson(root: Path) -> str:
    """The first lesson under ``root`` (at its top, or in ``lessons/``), relative."""
    from chainlab.lessons.runner import find_lessons

    for folder in (root, root / "lessons"):
        found = find_lessons(folder)
        if found:
            return found[0].relative_to(root).as_posix()
    return ""


def lessons(args: argparse.Namespace) -> int:
    """Execute every lesson headless; print lesson, status, seconds and its key figure."""
    from chainlab.engine.clock_hooks import asked_clock
    from chainlab.lessons.runner import default_lessons_dir, execute_all, find_lessons

    where = Path(args.dir) if args.dir else default_lessons_dir()
    paths = find_lessons(where)
    if args.only:
        paths = [p for p in paths if any(key in p.name for key in args.only)]
    if not paths:
        which = f"matching {' or '.join(args.only)} " if args.only else ""
        print(f"chainlab lessons: no lessons {which}found in {where}", file=sys.stderr)
        return 2

    runs = execute_all(
        paths, jobs=args.jobs, time_scale=args.time_scale, clock=args.clock, timeout=args.timeout
    )
    width = max(len(p.stem) for p in paths)
    asked = args.clock or asked_clock()
    print(f"{'lesson':<{width}}  status  seconds  key figure")
    for run in runs:
        figure = run.key_figure
        shown = f"{figure.name} = {figure.shown_value}" if figure else ""
        status = "ok" if run.ok else "FAILED"
        print(f"{run.path.stem:<{width}}  {status:<6}  {run.seconds:7.1f}  {shown}")
        if run.clock == "real" and asked == "virtual":
            print(f"{'':<{width}}  on the real clock: it measures real work")
        if run.error:
            print(f"{'':<{width}}  error: {run.error}")
        for check in run.failures:  # failed result checks and hidden solutions
            what = "check" if check.kind == "result" else "solution of"
            print(f"{'':<{width}}  {what} {check.name}: {check.message}")
    return 0 if all(run.ok for run in runs) else 1


def parser() -> argparse.ArgumentParser:
    """The command line: ``chainlab lab``, ``chainlab lessons``, ``--version``."""
    top = argparse.ArgumentParser(prog="chainlab", description=__doc__.split("\n")[0])
    top.add_argument("--version", action="version", version=f"chainlab {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    p_lab = sub.add_parser(
        "lab",
        help="copy the lessons into a folder of yours and open JupyterLab there",
        description=LAB_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_lab.add_argument(
        "--dir", help=f"the folder for your copy of the lessons (default: ./{DEFAULT_DIR})"
    )
    p_lab.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"the port to serve on (default: {DEFAULT_PORT}, or the next free one)",
    )
    p_lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p_lab.add_argument(
        "--no-copy",
        action="store_true",
        help="open --dir as it is, copying nothing (./dev lab opens the checkout so)",
    )
    p_lab.set_defaults(func=lab)
    p_run = sub.add_parser(
        "lessons",
        help="run every lesson headless and print a table",
        description="Run the installed lessons (or those in --dir) in fresh kernels and "
        "print one line per lesson: its status, seconds and key figure. Exit status 0 if "
        "all pass, 1 if any fails, 2 if none is found.",
    )
    p_run.add_argument("--dir", help="a lessons folder (default: the installed lessons)")
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
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"chainlab {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
