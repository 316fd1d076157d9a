"""Execute lesson notebooks headless (nbclient) and collect their checks.

Used by ``chainlab lessons`` and by the test suite, so both judge a lesson the same way.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainlab.lessons.checks import CHECK_MIME, Check


@dataclass
class LessonRun:
    """What executing one notebook gave."""

    path: Path
    seconds: float
    checks: list[Check] = field(default_factory=list)
    error: str | None = None
    notebook: Any = None
    solutions: bool = False
    clock: str = "real"
    """The clock the kernel ran on: ``virtual`` only if asked for and the notebook
    does not measure real work (:func:`measures_real_work`)."""

    @property
    def failures(self) -> list[Check]:
        """Failed result checks, and solutions that failed their exercise's check.

        An exercise the learner has not done yet is not a failure; its solution failing
        (in a run with ``solutions=True``, or a first-edition hidden solution cell) is:
        the lesson would not teach what it says.
        """
        return [
            c
            for c in self.checks
            if not c.passed
            and (
                c.kind == "result"
                or (c.kind == "exercise" and self.solutions)
                or "solution" in c.extra.get("cell_tags", [])
            )
        ]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures

    @property
    def key_figure(self) -> Check | None:
        """The check a summary shows: the one marked ``key_figure``, else the first result."""
        marked = next((c for c in self.checks if c.key_figure), None)
        return marked or next((c for c in self.checks if c.kind == "result"), None)


def find_lessons(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """The lesson notebooks, in curriculum order (LC2.1.9 before LC2.1.10)."""
    return sorted(Path(directory or default_lessons_dir()).glob("LC*.ipynb"), key=_curriculum_key)


def _curriculum_key(path: Path) -> list[Any]:
    # numbers compare as numbers; the split alternates str, int, str... so types align
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def runs_alone(path: str | os.PathLike[str]) -> bool:
    """Whether a notebook must run with no other notebook beside it.

    Lessons that measure CPU-bound speedups (processes on every core) set
    ``"chainlab": {"run_alone": true}`` in their notebook metadata: another lesson
    computing at the same time would take the cores they measure.
    """
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    return bool(nb.metadata.get("chainlab", {}).get("run_alone", False))


def measures_real_work(nb: Any) -> bool:
    """Whether a notebook times real work (CPU, subprocesses, ``time.sleep``), which a
    virtual clock cannot see: its metadata says ``"chainlab": {"clock": "real"}``.
    Such a notebook runs on the real clock even when the virtual one is asked for."""
    return nb.metadata.get("chainlab", {}).get("clock") == "real"


def default_lessons_dir() -> Path:
    """The installed lessons: the wheel's package data, else the source checkout's."""
    from chainlab.lessons.course import installed_lessons_dir

    return installed_lessons_dir()


def execute_notebook(
    path: str | os.PathLike[str],
    *,
    timeout: float = 120,
    time_scale: float | None = None,
    clock: str | None = None,
    store_widget_state: bool = True,
    kernel_name: str = "python3",
    transform: Callable[[Any], Any] | None = None,
    solutions: bool = False,
) -> LessonRun:
    """Run every cell of a notebook in a fresh kernel; never raises for cell errors.

    ``solutions=True`` first puts each exercise's solution in place of its starter cell
    (:func:`chainlab.lessons.solutions.with_solutions`); a learner's notebook never
    holds them. ``transform`` then turns the notebook into the one to run (for
    example :func:`chainlab.lessons.swap.to_langchain`); the run's ``notebook`` is
    the transformed one, executed. ``clock="virtual"`` runs the kernel with
    ``CHAINLAB_CLOCK=virtual`` (the simulated world's time jumps ahead; see
    :mod:`chainlab.engine.clock`); None: the kernel inherits ``CHAINLAB_CLOCK``. A
    notebook that :func:`measures_real_work` runs on the real clock either way; the
    run's ``clock`` says which one it got.
    """
    import nbclient
    import nbformat

    from chainlab.engine.clock_hooks import asked_clock
    from chainlab.lessons.exercises import lesson_id_of
    from chainlab.lessons.solutions import with_solutions

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if solutions:
        nb = with_solutions(nb, lesson_id_of(path))
    if transform is not None:
        nb = transform(nb)
    # the kernel gets its own environment: os.environ stays untouched, so concurrent
    # runs (``chainlab lessons --jobs 2``) neither leak nor mix their time scales
    start_kernel: dict[str, Any] = {}
    env: dict[str, str] = {}
    if time_scale is not None:
        env["CHAINLAB_TIME_SCALE"] = str(time_scale)
    if clock is not None:
        env["CHAINLAB_CLOCK"] = check_clock(clock)
    ran_on = env.get("CHAINLAB_CLOCK") or asked_clock()  # a bad value: the kernel says so
    if ran_on == "virtual" and measures_real_work(nb):
        env["CHAINLAB_CLOCK"] = ran_on = "real"
    if env:
        start_kernel["env"] = {**os.environ, **env}
    client = nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=store_widget_state,
        # ipykernel warns on stderr that its loopback TCP is unencrypted: noise in a table
        extra_arguments=["--IPKernelApp.log_level=ERROR"] if kernel_name == "python3" else [],
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute(**start_kernel)
    except nbclient.exceptions.CellExecutionError as exc:
        error = _short_error(exc)
    except Exception as exc:  # kernel died, timeout
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    checks = collect_checks(nb)
    return LessonRun(path, seconds, checks, error, nb, solutions=solutions, clock=ran_on)


def execute_all(paths: list[Path], *, jobs: int = 2, **options: Any) -> list[LessonRun]:
    """Run every notebook, ``jobs`` at a time; the results in the order of ``paths``.

    Notebooks that measure CPU-bound speedups (:func:`runs_alone`) need the cores to
    themselves: they run after the others, one at a time. ``options`` go to
    :func:`execute_notebook`.
    """
    from concurrent.futures import ThreadPoolExecutor

    def execute(path: Path) -> LessonRun:
        return execute_notebook(path, **options)

    alone = [p for p in paths if runs_alone(p)]
    shared = [p for p in paths if p not in alone]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = dict(zip(shared, pool.map(execute, shared), strict=True))
    for path in alone:
        done[path] = execute(path)
    return [done[path] for path in paths]


def check_clock(clock: str) -> str:
    """``clock`` if it names a clock, else a ValueError naming the choices."""
    from chainlab.engine.clock_hooks import CHOICES

    if clock not in CHOICES:
        raise ValueError(f"clock must be one of {', '.join(CHOICES)}, got {clock!r}")
    return clock


def _short_error(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    tail = [line for line in lines if "Error" in line or "Exception" in line]
    return (tail[-1] if tail else lines[-1] if lines else repr(exc))[:300]


def collect_checks(nb: Any) -> list[Check]:
    """Every check a notebook's outputs recorded, in order."""
    checks = []
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(CHECK_MIME)
            if record:
                checks.append(Check.from_record(record, cell_tags=tags))
    return checks
