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


def test_the_clock_reaches_the_runner_and_a_bad_one_names_the_choices(
    lessons_dir: Path, recorded: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["lessons", "--dir", str(lessons_dir), "--clock", "virtual", "passing"]) == 0
    assert [c["clock"] for c in recorded] == ["virtual"]
    recorded.clear()
    assert cli.main(["lessons", "--dir", str(lessons_dir), "passing"]) == 0
    assert [c["clock"] for c in recorded] == [None]  # learners' default: the env, else real
    with pytest.raises(SystemExit) as exited:
        cli.main(["lessons", "--dir", str(lessons_dir), "--clock", "mock"])
    assert exited.value.code == 2
    assert "'real', 'virtual'" in capsys.readouterr().err


@pytest.mark.notebook
def test_a_lesson_kernel_on_the_virtual_clock_reports_exact_times(tmp_path: Path) -> None:
    """A real kernel, with CHAINLAB_CLOCK=virtual set by the runner: 2 s and 1 s
    simulated branches overlap to exactly 2 s, and a speedup of exactly 1.5×."""
    write_notebook(
        tmp_path / "LC9.2.1-virtual.ipynb",
        IMPORTS,
        "import chainlab\n"
        "from chainlab.engine.clock_hooks import current_clock\n"
        "clock = current_clock()\n"
        "start = clock.now()\n"
        "pair = chainlab.RunnableParallel(\n"
        "    a=lambda x: chainlab.sleep(2), b=lambda x: chainlab.sleep(1))\n"
        "pair.invoke(0)\n"
        "took = round(clock.now() - start, 9)\n"
        "result_check('overlap', took, equals=2.0)\n"
        "result_check('speedup', 3 / took, equals=1.5, key_figure=True, unit='×')",
    )
    run = runner.execute_notebook(tmp_path / "LC9.2.1-virtual.ipynb", clock="virtual", timeout=60)
    assert run.ok, run.error or run.failures
    assert run.seconds < 30  # a few seconds of kernel start-up; the 2 s took no real time
    with pytest.raises(ValueError, match="real, virtual"):
        runner.execute_notebook(tmp_path / "LC9.2.1-virtual.ipynb", clock="mock")


@pytest.mark.notebook
def test_a_notebook_of_real_work_runs_on_the_real_clock_and_the_table_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The virtual clock cannot see CPU or ``time.sleep``: a notebook that says so in
    its metadata runs on the real clock even when the virtual one is asked for."""
    probe = (
        "from chainlab.engine.clock_hooks import current_clock\n"
        "result_check('clock', type(current_clock()).__name__, equals=EXPECTED)"
    )
    simulated = write_notebook(
        tmp_path / "LC9.3.1-simulated.ipynb", IMPORTS, "EXPECTED = 'VirtualClock'\n" + probe
    )
    real = write_notebook(
        tmp_path / "LC9.3.2-real-work.ipynb", IMPORTS, "EXPECTED = 'NoneType'\n" + probe
    )
    nb = nbformat.read(real, as_version=4)
    nb.metadata["chainlab"] = {"clock": "real"}
    nbformat.write(nb, real)
    assert runner.measures_real_work(nb)
    runs = runner.execute_all([simulated, real], clock="virtual", timeout=60)
    assert [(r.ok, r.clock) for r in runs] == [(True, "virtual"), (True, "real")], [
        r.error or r.failures for r in runs
    ]
    assert cli.main(["lessons", "--dir", str(tmp_path), "--clock", "virtual"]) == 0
    rows = table(capsys.readouterr().out)
    note = "on the real clock: it measures real work"
    assert [note in " ".join(rows[name]) for name in rows] == [False, True], rows


def test_without_time_scale_the_kernels_inherit_the_environment(
    lessons_dir: Path, recorded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLAB_TIME_SCALE", "0.3")
    assert cli.main(["lessons", "--dir", str(lessons_dir), "passing"]) == 0
    (call,) = recorded
    assert call["time_scale"] is None  # execute_notebook then leaves the env as it is


def test_no_lessons_found_is_an_error_saying_where_it_looked(
    tmp_path: Path, lessons_dir: Path, recorded: list[dict[str, Any]], capsys: Any
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["lessons", "--dir", str(empty)]) == 2
    assert capsys.readouterr().err == f"chainlab lessons: no lessons found in {empty}\n"
    assert cli.main(["lessons", "--dir", str(lessons_dir), "no-such", "LC7"]) == 2
    assert capsys.readouterr().err == (
        f"chainlab lessons: no lessons matching no-such or LC7 found in {lessons_dir}\n"
    )
    assert recorded == []


def test_lessons_without_dir_run_the_installed_lessons_from_any_folder(
    tmp_path: Path, recorded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an empty folder
    assert cli.main(["lessons", "LC2.1.1"]) == 0
    (call,) = recorded
    assert call["path"] == next((ROOT / "lessons").glob("LC2.1.1-*.ipynb"))


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
    port = free_port()
    assert cli.main(["lab", "--dir", str(tmp_path), "--port", str(port)]) == 7  # its exit code
    (command,) = launched
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]  # no PATH lookup
    options = command[3:]
    assert f"--ServerApp.root_dir={tmp_path}" in options
    assert "--ServerApp.ip=127.0.0.1" in options
    assert f"--ServerApp.port={port}" in options
    assert "--ServerApp.port_retries=0" in options  # that port or none
    assert "--LabApp.news_url=None" in options
    assert "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate" in options
    assert "--LabApp.extension_manager=readonly" in options  # no searches on PyPI
    assert "--no-browser" not in options
    first = "LC2.1.1-runnableparallel-overview.ipynb"
    assert f"--LabApp.default_url=/lab/tree/{first}" in options


def test_lab_copies_the_course_into_chainlab_lessons_then_keeps_the_learners_edits(
    tmp_path: Path, launched: list[list[str]], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lab", "--no-browser"]) == 7
    folder = tmp_path / "chainlab-lessons"
    lessons = sorted(p.name for p in folder.glob("LC*.ipynb"))
    assert lessons == sorted(p.name for p in (ROOT / "lessons").glob("LC*.ipynb"))
    assert len(lessons) == 8
    assert sorted(p.name for p in (folder / "notebooks").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("*.ipynb")
    )
    out = capsys.readouterr().out
    assert f"copied 14 files (lessons, demos) into {folder}" in out
    (command,) = launched
    assert f"--ServerApp.root_dir={folder}" in command
    assert "--ServerApp.port=8888" in command  # the default, or the next free one:
    assert not any(o.startswith("--ServerApp.port_retries") for o in command)
    # the learner works in a lesson; a later run keeps it
    mine = folder / lessons[0]
    mine.write_text(mine.read_text().replace("RunnableParallel", "MY NOTES", 1))
    edited = mine.read_text()
    assert cli.main(["lab", "--no-browser"]) == 7
    assert mine.read_text() == edited
    assert "copied" not in capsys.readouterr().out  # nothing new to say


def test_lab_no_copy_opens_a_folder_as_it_is(tmp_path: Path, launched: list[list[str]]) -> None:
    assert cli.main(["lab", "--dir", str(tmp_path), "--no-copy"]) == 7
    assert list(tmp_path.iterdir()) == []
    (command,) = launched
    assert not any(o.startswith("--LabApp.default_url") for o in command)  # no lessons here


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
    assert cli.main(["lab", "--dir", str(ROOT), "--no-copy", "--no-browser"]) == 7  # ./dev lab
    (command,) = launched
    assert f"--ServerApp.root_dir={ROOT}" in command
    assert "--no-browser" in command
    first = "lessons/LC2.1.1-runnableparallel-overview.ipynb"
    assert (ROOT / first).exists()
    assert f"--LabApp.default_url=/lab/tree/{first}" in command


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m chainlab.cli ARGS`` (a lab that did start would hit the timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "chainlab.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in (root writes anywhere but in /sys)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def test_lab_bad_dir_and_port_one_line_each_and_exit_status_2(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    locked = unwritable_folder(tmp_path)
    with __import__("socket").socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cases = {
            "file": run_cli("lab", "--no-browser", "--dir", str(a_file)),
            "locked": run_cli("lab", "--no-browser", "--dir", str(locked)),
            "inside locked": run_cli("lab", "--no-browser", "--dir", str(locked / "lessons")),
            "port": run_cli(
                "lab", "--no-browser", "--dir", str(tmp_path / "ok"), "--port", str(port)
            ),
            "no port": run_cli("lab", "--no-browser", "--port", "70000", cwd=tmp_path),
        }
    for case, done in cases.items():
        assert done.returncode == 2, (case, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1, (case, done.stderr)  # one line
        assert done.stderr.startswith("chainlab lab: "), (case, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout
        assert "Opening JupyterLab" not in done.stdout, case
    assert f"--dir {a_file} is a file, not a folder" in cases["file"].stderr
    assert f"cannot write in the folder {locked} (" in cases["locked"].stderr
    assert "choose another with --dir" in cases["locked"].stderr
    assert str(locked / "lessons") in cases["inside locked"].stderr
    assert f"port {port} on 127.0.0.1 is in use" in cases["port"].stderr
    assert "choose another with --port" in cases["port"].stderr
    assert "--port 70000 is not a port number" in cases["no port"].stderr
    assert a_file.read_text() == "not a folder"
    assert not (
        tmp_path / "ok" / "LC2.1.1-runnableparallel-overview.ipynb"
    ).exists()  # checks first


def test_version() -> None:
    import chainlab

    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"chainlab {chainlab.__version__}\n"


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
    for option in ("--dir", "--port", "--no-browser", "--no-copy"):
        assert option in help_text
    for explained in ("chainlab-lessons", "never overwritten", ".chainlab-<version>.ipynb"):
        assert explained in " ".join(help_text.split()), explained
    missing = subprocess.run(
        [sys.executable, "-m", "chainlab.cli"], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert "lab" in missing.stderr
    assert "lessons" in missing.stderr
    with pytest.raises(SystemExit) as info:
        cli.main(["lessons", "--jobs", "two"])
    assert info.value.code == 2
