"""ShellTask in detail: both return protocols and their precedence, returned text kept
as is (JSON only on request), exit statuses, refused parameter names, hostile values,
returns that survive the command's own EXIT trap, retries, and concurrent shells."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chainlab.workflow import (
    Parallel,
    Pipeline,
    ReturnsError,
    ShellTask,
    ShellTaskError,
    UnsafeParameterName,
    WorkflowDefinitionError,
)
from chainlab.workflow.shell_env import env_value, name_problem, parameter_env


def run(command: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Pipeline(steps=[ShellTask(command=command, **kwargs)]).execute(params)


TEXTS = ["3", "1.10", "-2.5", "12345", "true", "null", "NaN", '"quoted"', "[1, 2]", "007"]
TEXTS += ['{"a": {"b": 1}}', "hello world", "[1,", ""]


@pytest.mark.parametrize("text", TEXTS)
def test_returned_text_comes_back_unchanged_both_ways(text: str) -> None:
    file_way = run(f"printf 'v=%s\\n' '{text}' >> \"$CHAINLAB_RETURNS\"", returns=["v"])
    assert file_way.status == "success", file_way.error
    assert file_way.parameters["v"] == text
    assert type(file_way.parameters["v"]) is str
    export_way = run(f"export v='{text}'", returns=["v"])
    assert export_way.parameters["v"] == text
    assert type(export_way.parameters["v"]) is str


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("1.10", 1.1),
        ("true", True),
        ("null", None),
        ('"007"', "007"),
        ("[1, 2]", [1, 2]),
        ('{"a": {"b": 1}}', {"a": {"b": 1}}),
    ],
)
def test_json_returns_decodes_every_returned_text(text: str, value: Any) -> None:
    file_way = run(
        f"printf 'v=%s\\n' '{text}' >> \"$CHAINLAB_RETURNS\"", returns=["v"], json_returns=True
    )
    assert file_way.status == "success", file_way.error
    assert file_way.parameters["v"] == value
    export_way = run(f"export v='{text}'", returns=["v"], json_returns=True)
    assert export_way.parameters["v"] == value


@pytest.mark.parametrize("text", ["007", "hello", "", "[1,"])
def test_json_returns_refuses_text_that_is_not_json(text: str) -> None:
    result = run(f"export v='{text}'", returns=["v"], json_returns=True, name="j")
    assert isinstance(result.error, ReturnsError)
    assert "ShellTask 'j' has json_returns=True" in str(result.error)
    assert f"v={text!r}" in str(result.error)


def test_the_file_wins_over_a_variable_of_the_same_name() -> None:
    command = 'export a=from_var b=from_var\necho "a=from_file" >> "$CHAINLAB_RETURNS"'
    result = run(command, returns=["a", "b"])
    assert result.parameters == {"a": "from_file", "b": "from_var"}


def test_a_json_object_file_returns_several_names_at_once_as_json() -> None:
    command = 'printf \'{"n": 2, "s": "2", "words": ["a"], "unused": 0}\' > "$CHAINLAB_RETURNS"'
    result = run(command, returns=["n", "s", "words"])
    assert result.parameters == {"n": 2, "s": "2", "words": ["a"]}  # only what returns names
    decoded_once = run(command, returns=["s"], json_returns=True)
    assert decoded_once.parameters == {"s": "2"}  # JSON already: not decoded twice


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "invalid JSON"),
        ("just a line", "not name=value"),
        ("[1, 2]", "not name=value"),
    ],
)
def test_a_malformed_returns_file_is_a_returns_error(content: str, match: str) -> None:
    result = run(f"printf '%s' '{content}' > \"$CHAINLAB_RETURNS\"", returns=["x"], name="bad")
    assert result.status == "fail"
    assert isinstance(result.error, ReturnsError)
    assert "ShellTask 'bad'" in str(result.error)
    assert match in str(result.error)


def test_blank_lines_comments_and_equals_in_values_are_handled() -> None:
    command = (
        "{ echo; echo '# a comment'; echo 'url=http://x/?a=1&b=2'; echo ' n =5'; } "
        '> "$CHAINLAB_RETURNS"'
    )
    result = run(command, returns=["url", "n"])
    assert result.parameters == {"url": "http://x/?a=1&b=2", "n": "5"}


def test_plain_shell_variables_and_multiline_values_come_back() -> None:
    command = 'count=3\nlines="one\ntwo=2\nthree"\nexport unset_later=1; unset unset_later'
    result = run(command, returns=["count", "lines"])
    assert result.parameters == {"count": "3", "lines": "one\ntwo=2\nthree"}
    missing = run(command, returns=["unset_later"])
    assert isinstance(missing.error, ReturnsError)
    assert "did not set unset_later" in str(missing.error)


@pytest.mark.parametrize("status", [1, 2, 42, 127])
def test_the_exit_status_is_kept_with_or_without_returns(status: int) -> None:
    plain = run(f"echo to-stderr >&2; exit {status}", name="plain")
    assert isinstance(plain.error, ShellTaskError)
    assert plain.error.returncode == status
    assert f"exited with status {status}" in str(plain.error)
    assert "to-stderr" in plain.error.stderr
    assert "ShellTask 'plain'" in str(plain.error)
    # with returns, chainlab's EXIT trap runs first: it must not swallow the status
    traced = run(f"export x=1; exit {status}", returns=["x"], name="traced")
    assert isinstance(traced.error, ShellTaskError)
    assert traced.error.returncode == status


def test_a_failing_command_in_the_middle_does_not_fail_the_task_unless_it_exits() -> None:
    result = run("false; export ok=yes", returns=["ok"])
    assert result.parameters["ok"] == "yes"  # as in any shell script: the last status counts
    strict = run("set -e; false; export ok=yes", returns=["ok"])
    assert isinstance(strict.error, ShellTaskError)
    assert strict.error.returncode == 1


def test_a_command_that_is_not_found_is_a_shell_error() -> None:
    result = run("definitely-not-a-command-chainlab-xyz")
    assert isinstance(result.error, ShellTaskError)
    assert result.error.returncode == 127
    assert "not found" in str(result.error)


def test_env_values_strings_as_is_and_others_as_json() -> None:
    assert env_value("a b", "s") == "a b"
    assert env_value(3, "n") == "3"
    assert env_value([1, "x"], "l") == '[1, "x"]'
    assert env_value(None, "z") == "null"
    assert env_value({1, 2}, "set").startswith("{")  # not JSON: str()
    with pytest.raises(ValueError, match="NUL"):
        env_value("a\x00b", "bad")


def test_a_nul_in_a_value_fails_the_task_naming_the_parameter() -> None:
    result = run('echo "$v"', {"v": "a\x00b"})
    assert result.status == "fail"
    assert "'v'" in str(result.error)
    assert "NUL" in str(result.error)


def test_only_identifier_names_reach_the_environment() -> None:
    env = parameter_env({"ok_name": 1, "with-dash": 2, "1st": 3, "spaced name": 4})
    assert env == {"CHAINLAB_PARAM_ok_name": "1"}
    result = run(
        'echo "[$ok_name]"; env | grep -c "^with-dash=" || true',
        {"ok_name": "yes", "with-dash": "no"},
        name="names",
    )
    assert result.steps["names"].output == "[yes]\n0\n"


SHELL_OWN = [
    "BASH_ENV",
    "BASH_XTRACEFD",
    "BASHOPTS",
    "SHELLOPTS",
    "ENV",
    "IFS",
    "PS4",
    "PATH",
    "CDPATH",
    "HOME",
    "SHELL",
    "LC_ALL",
    "HISTFILE",
    "histchars",
    "CHAINLAB_RETURNS",
    "CHAINLAB_PARAM_x",
]


@pytest.mark.parametrize("name", SHELL_OWN)
def test_a_name_the_shell_itself_acts_on_fails_the_task_before_it_runs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("touch ran", {"fine": 1, name: "-Mevil"}, name="t")
    assert result.status == "fail"
    assert isinstance(result.error, UnsafeParameterName)
    assert f"ShellTask 't': parameter {name!r} cannot be a variable" in str(result.error)
    assert not (tmp_path / "ran").exists()
    with pytest.raises(UnsafeParameterName, match=repr(name)):
        parameter_env({name: "x"})


PROGRAM_NAMES = [  # each makes some program run code or read a file of the attacker's
    "VIMINIT",
    "MAKEFILES",
    "RSYNC_RSH",
    "SVN_SSH",
    "CVS_RSH",
    "HGEDITOR",
    "SYSTEMD_PAGER",
    "GNUPGHOME",
    "WGETRC",
    "AWS_CONFIG_FILE",
    "JUPYTER_CONFIG_DIR",
    "IPYTHONDIR",
    "npm_config_script_shell",
    "PERL5OPT",
    "NODE_OPTIONS",
    "GIT_SSH_COMMAND",
    "PYTHONSTARTUP",
    "PYTHONWARNINGS",
    "LD_PRELOAD",
    "JAVA_TOOL_OPTIONS",
    "https_proxy",
]


@pytest.mark.parametrize("name", PROGRAM_NAMES)
def test_a_parameter_never_reaches_the_environment_of_a_program_the_command_starts(
    name: str,
) -> None:
    """The allow-list: programs see only ``CHAINLAB_PARAM_<name>``; the command's own
    shell has ``$name`` (a deny-list of such names could never be complete)."""
    probe = f"import os; print(os.environ.get({name!r}, 'absent'))"
    result = run(
        'echo "shell: $' + name + '"; ' + f'{sys.executable} -c "{probe}"; '
        f'echo "prefixed: $CHAINLAB_PARAM_{name}"',
        {name: ":silent !id > PWNED"},
        name="t",
    )
    assert result.status == "success", result.error
    assert result.steps["t"].output.splitlines() == [
        "shell: :silent !id > PWNED",
        "absent",
        "prefixed: :silent !id > PWNED",
    ]


def test_a_value_too_big_for_the_environment_fails_naming_the_parameter() -> None:
    result = run('echo "${#blob}"', {"small": 1, "blob": "x" * 2_000_000}, name="t")
    assert result.status == "fail"
    assert isinstance(result.error, ValueError)
    assert "parameter 'blob' is 2,000,0" in str(result.error)
    assert "file" in str(result.error)


def test_a_parameter_named_like_a_variable_already_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZZ_CHAINLAB_TEST_SET", "from the machine")
    result = run('echo "$ZZ_CHAINLAB_TEST_SET"', {"ZZ_CHAINLAB_TEST_SET": "x"}, name="t")
    assert isinstance(result.error, UnsafeParameterName)
    assert "'ZZ_CHAINLAB_TEST_SET'" in str(result.error)
    assert "already in the environment" in str(result.error)
    assert name_problem("ZZ_CHAINLAB_TEST_SET", {}) is None  # only because it is set


@pytest.mark.parametrize("name", ["path", "home", "user", "shell", "n", "TOPIC", "Max_Len"])
def test_ordinary_names_reach_the_environment(name: str) -> None:
    result = run(f'export got="${name}"', {name: "value"}, returns=["got"])
    assert result.status == "success", result.error
    assert result.parameters["got"] == "value"


def test_a_return_name_the_shell_acts_on_is_refused() -> None:
    result = run("export PATH=/x", returns=["PATH"], name="t")
    assert isinstance(result.error, UnsafeParameterName)
    assert "return 'PATH'" in str(result.error)
    with pytest.raises(WorkflowDefinitionError, match="ASCII"):
        ShellTask(command="true", returns=["café"])


def test_a_parameter_cannot_redirect_the_returns_file(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    result = run(
        'echo "x=1" >> "$CHAINLAB_RETURNS"', {"CHAINLAB_RETURNS": str(decoy)}, returns=["x"]
    )
    assert isinstance(result.error, UnsafeParameterName)
    assert not decoy.exists()


def test_a_declared_return_is_never_filled_from_a_parameter_of_that_name() -> None:
    result = run("true", {"hits": 99}, returns=["hits"], name="t")
    assert result.status == "fail"
    assert isinstance(result.error, ReturnsError)
    assert "ShellTask 't' did not set hits" in str(result.error)
    seen = run('export before="${hits-unset}" hits=1', {"hits": 99}, returns=["before", "hits"])
    assert seen.parameters == {"before": "unset", "hits": "1"}  # a return starts unset


@pytest.mark.parametrize(
    "command",
    [
        "trap 'echo bye' EXIT; export out=1",
        "trap 'echo bye' EXIT; export out=1; exit 0",
        "trap 'echo bye' EXIT; out=1; f() { exit; }; f",
        "trap - EXIT; out=1",
        "out=0; (out=2; exit 0); x=$(out=3; exit 0); out=1",
    ],
)
def test_returns_survive_the_command_s_own_exit_trap_and_subshell_exits(command: str) -> None:
    result = run(command, returns=["out"])
    assert result.status == "success", result.error
    assert result.parameters["out"] == "1"


def test_a_command_that_replaces_the_shell_is_told_to_use_the_file() -> None:
    result = run("out=1; exec true", returns=["out"], name="x")
    assert isinstance(result.error, ReturnsError)
    assert "did not set out" in str(result.error)
    assert "exec" in str(result.error)
    assert "CHAINLAB_RETURNS" in str(result.error)
    via_file = run('echo out=1 > "$CHAINLAB_RETURNS"; exec true', returns=["out"])
    assert via_file.parameters == {"out": "1"}


HOSTILE = [
    "'; touch pwned; echo '",
    '"; touch pwned; echo "x',
    "$(touch pwned)",
    "`touch pwned`",
    "a; touch pwned",
    "a && touch pwned",
    "a | tee pwned",
    "a\ntouch pwned",
    "${IFS}touch${IFS}pwned",
    "> pwned",
    "*",
    "-rf",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_round_trips_unexecuted(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").write_text("")
    command = 'printf "%s" "$v" > got.txt; echo "$v" >/dev/null; export same="$v"'
    result = run(command, {"v": value}, returns=["same"])
    assert result.status == "success", result.error
    assert (tmp_path / "got.txt").read_text() == value
    assert result.parameters["same"] == value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "got.txt"]


def test_a_value_that_is_valid_json_comes_back_unchanged_and_is_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    value = '"; touch pwned; echo "'  # a JSON string literal, and a shell injection
    result = run('printf "%s" "$v" > got.txt; export same="$v"', {"v": value}, returns=["same"])
    assert (tmp_path / "got.txt").read_text() == value  # the command saw it as is
    assert result.parameters["same"] == value  # and it comes back as is
    assert not (tmp_path / "pwned").exists()


def test_hostile_names_in_returns_are_refused_before_running() -> None:
    for name in ("$(id)", "a;b", "x y", "", "1x"):
        with pytest.raises(WorkflowDefinitionError):
            ShellTask(command="true", returns=[name])
    with pytest.raises(WorkflowDefinitionError, match="command string"):
        ShellTask(command="   ")


def test_max_attempts_retries_a_failing_command(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    command = f"""
    n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "{counter}"
    [ "$n" -ge 3 ] || exit 9
    export tries=$n
    """
    result = run(command, returns=["tries"], max_attempts=3, name="flaky")
    assert result.status == "success", result.error
    assert result.parameters["tries"] == "3"
    assert result.steps["flaky"].attempts == 3
    again = run(command.replace("-ge 3", "-ge 99"), returns=["tries"], max_attempts=2, name="x")
    assert isinstance(again.error, ShellTaskError)
    assert again.error.returncode == 9
    assert again.steps["x"].attempts == 2


def test_shell_branches_run_at_the_same_time(tmp_path: Path) -> None:
    # each branch waits (up to 10 s) for the other's marker file: only overlap passes
    def branch(me: str, other: str) -> ShellTask:
        return ShellTask(
            name=me,
            command=(
                f'touch "{tmp_path}/{me}"; '
                f'for i in $(seq 200); do [ -e "{tmp_path}/{other}" ] && break; sleep 0.05; done; '
                f'[ -e "{tmp_path}/{other}" ] || exit 5; export {me}_saw={other}'
            ),
            returns=[f"{me}_saw"],
        )

    pipeline = Pipeline(
        steps=[Parallel(name="p", branches={"a": branch("a", "b"), "b": branch("b", "a")})]
    )
    t0 = time.perf_counter()
    result = pipeline.execute()
    assert result.status == "success", result.error
    assert result.parameters == {"a_saw": "b", "b_saw": "a"}
    assert time.perf_counter() - t0 < 8


def test_output_of_each_branch_is_kept_apart_and_stderr_is_printed(
    capfd: pytest.CaptureFixture[str],
) -> None:
    pipeline = Pipeline(
        steps=[
            Parallel(
                name="p",
                branches={
                    "a": ShellTask(name="sa", command="echo from-a; echo warn-a >&2"),
                    "b": ShellTask(name="sb", command="printf from-b"),
                },
            )
        ]
    )
    result = pipeline.execute()
    assert result.steps["p/a/sa"].output == "from-a\n"
    assert result.steps["p/b/sb"].output == "from-b"
    out, err = capfd.readouterr()
    assert "from-a" in out
    assert "from-b" in out
    assert "warn-a" in err


def test_the_command_runs_in_the_current_directory_with_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINLAB_TEST_INHERITED", "inherited")
    result = run(
        'export here="$PWD" inherited="$CHAINLAB_TEST_INHERITED"', returns=["here", "inherited"]
    )
    assert Path(result.parameters["here"]).resolve() == tmp_path.resolve()
    assert result.parameters["inherited"] == "inherited"
