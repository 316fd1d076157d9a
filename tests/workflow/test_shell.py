"""ShellTask: parameters only through the environment, returns read back safely."""

from __future__ import annotations

import os
import time

import pytest

from chainlab.workflow import (
    Parallel,
    Pipeline,
    PythonTask,
    ReturnsError,
    ShellTask,
    ShellTaskError,
    UnsafeParameterName,
    WorkflowDefinitionError,
)

HOSTILE = {
    "quote": "'; touch pwned_quote; echo '",
    "dquote": '"; touch pwned_dquote; "',
    "subst": "$(touch pwned_subst)",
    "backtick": "`touch pwned_backtick`",
    "chain": "x; touch pwned_chain && echo y | tee pwned_pipe",
    "multiline": "line one\n touch pwned_newline\nkey=value",
}


def test_hostile_parameter_values_are_only_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = " ".join(f'"${name}"' for name in HOSTILE)
    unquoted = " ".join(f"${name}" for name in HOSTILE)
    command = f"""
    printf '%s\\0' {names} > received.bin
    echo {unquoted} > /dev/null
    eval_me=$subst
    export same_quote="$quote" same_subst="$subst" same_multi="$multiline"
    """
    task = ShellTask(
        name="hostile",
        command=command,
        returns=["same_quote", "same_subst", "same_multi"],
    )
    result = Pipeline(steps=[task]).execute(HOSTILE)
    assert result.status == "success", result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["received.bin"], "a value was executed"
    received = (tmp_path / "received.bin").read_bytes().split(b"\0")[:-1]
    assert [r.decode() for r in received] == list(HOSTILE.values())
    assert result.parameters["same_quote"] == HOSTILE["quote"]
    assert result.parameters["same_subst"] == HOSTILE["subst"]
    assert result.parameters["same_multi"] == HOSTILE["multiline"]


def test_values_go_in_as_json_and_come_back_as_text_unless_json_is_asked_for():
    command = """
    [ "$n" = 3 ] && [ "$flag" = true ] && [ "$cfg" = '{"x": 10}' ] || exit 7
    export count=$((n + 1)) label='"hello"' doc='{"a": [1, 2]}'
    exit 0
    """
    params = {"n": 3, "flag": True, "cfg": {"x": 10}}
    task = ShellTask(command=command, returns=["count", "label", "doc"])
    result = Pipeline(steps=[task]).execute(params)
    assert result.status == "success", result.error
    assert result.parameters["count"] == "4"
    assert result.parameters["label"] == '"hello"'
    assert result.parameters["doc"] == '{"a": [1, 2]}'

    task = ShellTask(command=command, returns=["count", "label", "doc"], json_returns=True)
    result = Pipeline(steps=[task]).execute(params)
    assert result.status == "success", result.error
    assert result.parameters["count"] == 4
    assert result.parameters["label"] == "hello"
    assert result.parameters["doc"] == {"a": [1, 2]}


def test_returns_through_the_returns_file():
    lines = ShellTask(
        name="lines",
        command='echo "total=42" >> "$CHAINLAB_RETURNS"; echo "name=a=b" >> "$CHAINLAB_RETURNS"',
        returns=["total", "name"],
    )
    as_json = ShellTask(
        name="json",
        command='echo \'{"items": [1, 2], "total": 1}\' > "$CHAINLAB_RETURNS"; export total=0',
        returns=["items"],
    )
    result = Pipeline(steps=[lines, as_json]).execute()
    assert result.status == "success", result.error
    assert result.parameters == {"total": "42", "name": "a=b", "items": [1, 2]}


def test_output_is_captured_and_printed(capsys):
    result = Pipeline(
        steps=[ShellTask(name="hello shell", command="echo 'Hello World!'")]
    ).execute()
    assert result.steps["hello shell"].output == "Hello World!\n"
    assert "Hello World!" in capsys.readouterr().out


def test_non_zero_exit_and_missing_returns_fail_the_task():
    result = Pipeline(steps=[ShellTask(name="bad", command="echo nope >&2; exit 3")]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, ShellTaskError)
    assert result.error.returncode == 3
    assert "nope" in str(result.error)

    result = Pipeline(steps=[ShellTask(name="quiet", command="true", returns=["x"])]).execute()
    assert isinstance(result.error, ReturnsError)
    assert "did not set x" in str(result.error)
    assert "CHAINLAB_RETURNS" in str(result.error)

    with pytest.raises(WorkflowDefinitionError):
        ShellTask(command="true", returns=["$(bad)"])


def test_python_and_shell_steps_share_parameters():
    def make():
        return 5

    def check(shell_out):
        return shell_out * 2

    pipeline = Pipeline(
        steps=[
            PythonTask(function=make, returns=["n"]),
            ShellTask(
                command="export shell_out=$((n * 10))", returns=["shell_out"], json_returns=True
            ),
            PythonTask(function=check, returns=["final"]),
        ]
    )
    assert pipeline.execute().parameters == {"n": 5, "shell_out": 50, "final": 100}


def test_a_cancelled_shell_command_is_stopped(tmp_path):
    pid_file = tmp_path / "pid"

    def fail_soon():
        for _ in range(100):  # wait until the shell has started
            if pid_file.exists() and pid_file.read_text().strip():
                break
            time.sleep(0.02)
        raise RuntimeError("sibling failed")

    shell = ShellTask(name="long", command=f'echo $$ > "{pid_file}"; sleep 30')
    pipeline = Pipeline(
        steps=[
            Parallel(name="p", branches={"shell": shell, "fail": PythonTask(function=fail_soon)})
        ]
    )
    started = time.perf_counter()
    result = pipeline.execute()
    assert result.status == "fail"
    assert time.perf_counter() - started < 5
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the shell command was still running 5 s after its run was cancelled")


def test_parameters_cannot_replace_variables_the_shell_acts_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    startup = tmp_path / "startup.sh"
    startup.write_text("touch pwned_bash_env\n")
    task = ShellTask(command="touch ran", name="env")
    for name, value in {"BASH_ENV": str(startup), "PATH": "/nowhere"}.items():
        result = Pipeline(steps=[task]).execute({name: value, "fine": 1})
        assert result.status == "fail"
        assert isinstance(result.error, UnsafeParameterName)
        assert f"ShellTask 'env': parameter {name!r}" in str(result.error)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["startup.sh"]  # nothing ran
