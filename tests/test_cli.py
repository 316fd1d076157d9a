"""The ``chainlab`` command: ``lessons`` runs notebooks headless, ``lab`` opens JupyterLab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from chainlab import cli
from chainlab.lessons import LessonRun, runner
from tests.lessons.helpers import write_notebook

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = "from chainlab.lessons import check_exercise, result_check"
LESSONS = [
    "LC9.1.1-passing-lesson",
    "LC9.1.2-failing-check",
    "LC9.1.3-cell-error",
    "LC9.1.4-failing-solution",
]


@pytest.fixture
def lessons_dir(tmp_path: Path) -> Path:
    """Four tiny lessons: one passes (with an exercise not done yet), one fails a result
    check, one raises, one has a hidden solution that fails its self-check."""
    write_notebook(
        tmp_path / "LC9.1.1-passing-lesson.ipynb",
        IMPORTS,
        "result_check('speedup', 1.0095757124995923, between=(1, 3), key_figure=True, unit='×')",
        "check_exercise('todo', lambda: False)",  # the learner's part: not a failure
    )
    write_notebook(
        tmp_path / "LC9.1.2-failing-check.ipynb",
        IMPORTS,
        "result_check('calls', 12, equals=3)",
    )
    write_notebook(tmp_path / "LC9.1.3-cell-error.ipynb", "raise KeyError('topic')")
    write_notebook(
        tmp_path / "LC9.1.4-failing-solution.ipynb",
        IMPORTS,
        "result_check('wall time', 0.5, key_figure=True, unit=' s')",
        ("check_exercise('first k', lambda: False, hint='stop iterating')", ["solution"]),
    )
    (tmp_path / "README.md").write_text("not a lesson")
    return tmp_path


def table(out: str) -> dict[str, list[str]]:
    """The table's rows by lesson name (the first column), with their continuation lines."""
    rows: dict[str, list[str]] = {}
    last = ""
    for line in out.splitlines()[1:]:
        if line.startswith("LC"):
            last = line.split()[0]
            rows[last] = [line]
        elif line.strip():
            rows[last].append(line.strip())
    return rows


# -- chainlab lessons, in real kernels -----------------------------------------------------


@pytest.mark.notebook
def test_lessons_prints_the_table_and_fails_when_any_lesson_fails(
    lessons_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["lessons", "--dir", str(lessons_dir), "--timeout", "60", "--jobs", "2"])
    out, err = capfd.readouterr()  # capfd: the kernels' own stderr too
    assert code == 1
    header = out.splitlines()[0]
    assert header.split() == ["lesson", "status", "seconds", "key", "figure"]
    rows = table(out)
    assert list(rows) == LESSONS
    passing = rows["LC9.1.1-passing-lesson"]
    assert passing[0].split()[1] == "ok"
    assert float(passing[0].split()[2]) > 0
    assert passing[0].endswith("speedup = 1.01×")  # 3 significant digits and the unit
    assert len(passing) == 1  # an exercise not done yet is not a failure
    failing = rows["LC9.1.2-failing-check"]
    assert failing[0].split()[1] == "FAILED"
    assert failing[1].startswith("check calls: 12 is outside the expected range (== 3)")
    error = rows["LC9.1.3-cell-error"]
    assert error[0].split()[1] == "FAILED"
    assert error[1].startswith("error: ")
    assert "KeyError" in error[1]
    solution = rows["LC9.1.4-failing-solution"]
    assert solution[0].split()[1] == "FAILED"  # as the test suite judges it
    assert solution[0].endswith("wall time = 0.500 s")
    assert solution[1] == "solution of first k: stop iterating"
    assert "without encryption" not in out + err  # the kernels' TCP warning stays out


@pytest.mark.notebook
def test_only_runs_the_named_lessons(lessons_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["lessons", "--dir", str(lessons_dir), "--time-scale", "0.5", "passing"])
    out = capsys.readouterr().out
    assert code == 0
    assert list(table(out)) == ["LC9.1.1-passing-lesson"]


# -- chainlab lessons, argument handling (the runner replaced by a recorder) ---------------


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(path: Path, **kwargs: Any) -> LessonRun:
        calls.append({"path": Path(path), **kwargs})
        return LessonRun(Path(path), 0.5)

    monkeypatch.setattr(runner, "execute_notebook", fake)
    return calls


def test_time_scale_and_timeout_reach_the_runner(
    lessons_dir: Path, recorded: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lessons", "--dir", str(lessons_dir), "--time-scale", "0.2", "--timeout", "9"]
    assert cli.main([*args, "LC9.1.2", "LC9.1.3"]) == 0
    assert sorted(c["path"].name for c in recorded) == [
        "LC9.1.2-failing-check.ipynb",
        "LC9.1.3-cell-error.ipynb",
    ]
    assert {(c["time_scale"], c["timeout"]) for c in recorded} == {(0.2, 9.0)}
    assert "0.5" in capsys.readouterr().out


def test_without_time_scale_the_kernels_inherit_the_environment(
    lessons_dir: Path, recorded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLAB_TIME_SCALE", "0.3")
    assert cli.main(["lessons", "--dir", str(lessons_dir), "passing"]) == 0
    (call,) = recorded
    assert call["time_scale"] is None  # execute_notebook then leaves the env as it is


def test_no_lessons_found_is_an_error(
    tmp_path: Path, lessons_dir: Path, recorded: list[dict[str, Any]], capsys: Any
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["lessons", "--dir", str(empty)]) == 1
    assert cli.main(["lessons", "--dir", str(lessons_dir), "no-such-lesson"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"chainlab lessons: no lessons (LC*.ipynb) found in {empty.resolve()}",
        f"chainlab lessons: no lessons (LC*.ipynb) matching 'no-such-lesson' found in "
        f"{lessons_dir.resolve()}",
    ]
    assert recorded == []


def test_lessons_that_run_alone_run_after_the_others_one_at_a_time(
    lessons_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = lessons_dir / "LC9.1.1-passing-lesson.ipynb"
    nb = nbformat.read(first, as_version=4)
    nb.metadata["chainlab"] = {"run_alone": True}  # as LC2.1.7, which measures processes
    nbformat.write(nb, first)
    assert runner.runs_alone(first)
    assert not runner.runs_alone(lessons_dir / "LC9.1.2-failing-check.ipynb")
    spans: dict[str, tuple[float, float]] = {}

    def fake(path: Path, **kwargs: Any) -> LessonRun:
        start = time.perf_counter()
        time.sleep(0.2)
        spans[Path(path).name] = (start, time.perf_counter())
        return LessonRun(Path(path), 0.2)

    monkeypatch.setattr(runner, "execute_notebook", fake)
    assert cli.main(["lessons", "--dir", str(lessons_dir), "--jobs", "2"]) == 0
    alone_start = spans.pop(first.name)[0]
    assert len(spans) == 3
    assert all(end <= alone_start for _, end in spans.values())  # nothing beside it
    assert list(table(capsys.readouterr().out)) == LESSONS  # the table keeps curriculum order


# -- chainlab lab --------------------------------------------------------------------------

environments: list[dict[str, str] | None] = []  # the env of each launch (see `launched`)


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    commands: list[list[str]] = []
    environments.clear()

    def call(command: list[str], env: dict[str, str] | None = None) -> int:
        commands.append(command)
        environments.append(env)
        return 7

    monkeypatch.setattr(subprocess, "call", call)
    return commands


def test_lab_runs_jupyter_on_loopback_with_network_checks_off(
    tmp_path: Path, launched: list[list[str]]
) -> None:
    assert cli.main(["lab", "--dir", str(tmp_path), "--port", "9999"]) == 7  # its exit code
    (command,) = launched
    assert command[:4] == [sys.executable, "-m", "jupyter", "lab"]
    options = command[4:]
    assert f"--ServerApp.root_dir={tmp_path}" in options
    assert "--ServerApp.ip=127.0.0.1" in options
    assert "--ServerApp.port=9999" in options
    assert "--LabApp.news_url=None" in options
    assert "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate" in options
    assert "--LabApp.extension_manager=readonly" in options  # no searches on PyPI
    assert "--no-browser" not in options
    assert not any(o.startswith("--LabApp.default_url") for o in options)  # no lessons here


def test_lab_turns_the_announcements_plugin_off(
    tmp_path: Path, launched: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "get notified about Jupyter news?" toast would cover the first outputs."""
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/elsewhere")
    cli.main(["lab", "--dir", str(tmp_path)])
    (env,) = environments
    assert env is not None
    assert env["PATH"] == os.environ["PATH"]  # the rest passes through
    first, *rest = env["JUPYTER_CONFIG_PATH"].split(os.pathsep)
    assert rest == ["/elsewhere"]  # the user's config dirs are kept
    page = json.loads((Path(first) / "labconfig" / "page_config.json").read_text())
    assert page == {"disabledExtensions": {cli.ANNOUNCEMENTS: True}}
    assert cli.ANNOUNCEMENTS == "@jupyterlab/apputils-extension:announcements"


@pytest.mark.parametrize(("uid", "allowed"), [(0, True), (1000, False)])
def test_lab_allows_root_only_when_running_as_root(
    uid: int, allowed: bool, tmp_path: Path, launched: list[list[str]], monkeypatch: Any
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: uid)  # JupyterLab refuses root without it
    cli.main(["lab", "--dir", str(tmp_path)])
    (command,) = launched
    assert ("--allow-root" in command) is allowed


def test_lab_opens_the_first_lesson_of_the_checkout(launched: list[list[str]]) -> None:
    assert cli.main(["lab", "--no-browser"]) == 7
    (command,) = launched
    assert f"--ServerApp.root_dir={ROOT}" in command
    assert "--ServerApp.port=8888" in command
    assert "--no-browser" in command
    first = "lessons/LC2.1.1-runnableparallel-overview.ipynb"
    assert (ROOT / first).exists()
    assert f"--LabApp.default_url=/lab/tree/{first}" in command


def test_lab_help_and_usage_errors_through_the_real_entry_point() -> None:
    env = {**os.environ, "CHAINLAB_TIME_SCALE": "not a number"}  # must not break the parser
    help_text = subprocess.run(
        [sys.executable, "-m", "chainlab.cli", "lab", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    for option in ("--dir", "--port", "--no-browser"):
        assert option in help_text
    missing = subprocess.run(
        [sys.executable, "-m", "chainlab.cli"], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert "lab" in missing.stderr
    assert "lessons" in missing.stderr
    with pytest.raises(SystemExit) as info:
        cli.main(["lessons", "--jobs", "two"])
    assert info.value.code == 2
