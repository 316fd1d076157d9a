r"""How a ShellTask talks to its command, without ever building command text from values.

**In: shell variables.** Each parameter whose name can be a shell variable (a plain
ASCII identifier) is the shell variable ``$name`` of the command's shell, *not
exported*: programs the command starts do not see it (a parameter named ``VIMINIT``
or ``MAKEFILES`` cannot reach vim or make). It travels in the environment only as
``CHAINLAB_PARAM_<name>``, a name no program acts on (export it yourself, or read
``$CHAINLAB_PARAM_name``, to hand it to a program). Strings arrive as they are,
anything else as JSON (``3``, ``true``, ``{"x": 1}``). The command text is run exactly
as written, so a value such as ``'; rm -rf ~'`` or ``$(reboot)`` arrives as those
characters in ``$name`` and is never parsed by the shell (quote your expansions,
``"$name"``, as usual in shell). A name the shell itself acts on (``PATH``, ``IFS``,
``BASH_ENV``, ...) or one already in the environment fails the task with
:class:`~chainlab.workflow.errors.UnsafeParameterName`; a value larger than one
environment variable can hold (128 KiB) fails it with a ``ValueError`` naming the
parameter. See :mod:`chainlab.workflow.shell_env` for the rule.

**Out: two ways, for each name in ``returns``.**

1. Write ``name=value`` lines (or one JSON object) to the file named by
   ``$CHAINLAB_RETURNS``::

       echo "count=$(wc -l < data.txt)" >> "$CHAINLAB_RETURNS"

2. Or set a shell variable of that name (runnable's style)::

       export count=$(wc -l < data.txt)

   chainlab reads the variables when the command ends: after its last line, when it
   calls ``exit``, and from an ``EXIT`` trap (a command may set its own EXIT trap too).
   Only a command that replaces the shell (``exec prog``) cannot return variables; it
   gets an error saying so, and can use the file.

The file wins when both give a name. **Values come back as the text the command
wrote** (``"007"``, ``"true"``, ``"1.10"`` stay strings), except in the JSON object
form of the file, whose values are JSON by construction. ``ShellTask(json_returns=True)``
decodes every other returned text as JSON too (text that is not JSON is then an error).

Each name in ``returns`` starts *unset* in the command, so a parameter of the same name
never passes for a return: a command that does not set it fails with "did not set".

The command runs under ``bash`` (``/bin/sh`` if bash is missing); a non-zero exit
status fails the task. If the run is cancelled (a sibling branch failed), the command's
process group is terminated (SIGTERM, then SIGKILL after :data:`KILL_AFTER` seconds).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainlab.engine import Cancelled, cancelled
from chainlab.workflow.errors import ReturnsError, ShellTaskError
from chainlab.workflow.shell_env import check_name, parameter_env, shell_variables

RETURNS_ENV = "CHAINLAB_RETURNS"
"""Environment variable naming the file a command may write its returns to."""
_VARS_ENV = "CHAINLAB_SHELL_VARIABLES_FILE"

# Saves the returned variables, keeping $? (so the script's status is the command's).
# From the top-level shell only: `( exit 1 )` or `$(...)` in the command must not write.
_PRELUDE = """\
__chainlab_save_returns() {{
    __chainlab_status=$?
    if [ "${{BASHPID:-$$}}" = "$$" ]; then
        {{
{lines}
        }} > "${{{var}}}"
    fi
    return "$__chainlab_status"
}}
trap __chainlab_save_returns EXIT
if [ -n "${{BASH_VERSION:-}}" ]; then
    eval 'exit() {{ __chainlab_save_returns; builtin exit "$@"; }}'
fi
unset -v {names}
"""
# one line per returned name; names are checked identifiers, values are only expanded
_LINE = """            if [ -n "${{{name}+set}}" ]; then printf '%s\\0' "{name}=${{{name}}}"; fi"""
_EPILOGUE = "\n__chainlab_save_returns\n"  # after the last line (the EXIT trap may be gone)


@dataclass
class ShellOutcome:
    returns: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""


def script(command: str, returns: list[str], params: dict[str, Any] | None = None) -> str:
    """The command, with the parameters set as (unexported) shell variables first, and
    wrapped so that the ``returns`` variables are saved when it ends."""
    variables = shell_variables({k: v for k, v in (params or {}).items() if k not in returns})
    if not returns:
        return variables + command
    lines = "\n".join(_LINE.format(name=name) for name in returns)
    prelude = _PRELUDE.format(lines=lines, var=_VARS_ENV, names=" ".join(returns))
    return variables + prelude + command + _EPILOGUE


def decode_json(text: str, name: str, owner: str) -> Any:
    """``json_returns=True``: the value of ``name`` must be JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ReturnsError(
            f"{owner} has json_returns=True, but {name}={text[:80]!r} is not JSON ({exc}); "
            "quote a string as JSON, e.g. '\"text\"'"
        ) from None


def _read_returns_file(path: Path, owner: str) -> tuple[dict[str, Any], bool]:
    """The values in ``$CHAINLAB_RETURNS``, and whether they are JSON already."""
    if not path.exists():
        return {}, False
    text = path.read_text(errors="replace")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ReturnsError(f"{owner}: ${RETURNS_ENV} holds invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ReturnsError(f"{owner}: ${RETURNS_ENV} must hold a JSON object")
        return data, True
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ReturnsError(f"{owner}: line {line!r} of ${RETURNS_ENV} is not name=value")
        found[name.strip()] = value
    return found, False


def _read_variables(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in path.read_bytes().split(b"\0"):
        if entry:
            name, _, value = entry.decode(errors="replace").partition("=")
            found[name] = value
    return found


KILL_AFTER = 3.0
"""Seconds a cancelled command gets to end after SIGTERM before SIGKILL."""


def _signal(proc: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def _wait(proc: subprocess.Popen[str], owner: str) -> tuple[str, str]:
    """Wait for the command, stopping it if the run is cancelled meanwhile."""
    while True:
        try:
            return proc.communicate(timeout=0.05)
        except subprocess.TimeoutExpired:
            if cancelled():
                _signal(proc, signal.SIGTERM)
                try:
                    proc.communicate(timeout=KILL_AFTER)
                except subprocess.TimeoutExpired:
                    _signal(proc, signal.SIGKILL)
                    proc.communicate()
                raise Cancelled(f"{owner} was stopped: its run was cancelled") from None


def collect(
    returns: list[str], vars_file: Path, returns_file: Path, *, owner: str, json_returns: bool
) -> dict[str, Any]:
    """The value of each name in ``returns``: from the file, else from the variables."""
    from_file, is_json = _read_returns_file(returns_file, owner)
    saved = vars_file.exists()
    variables = _read_variables(vars_file) if saved else {}
    values: dict[str, Any] = {}
    missing = []
    for name in returns:
        if name in from_file:
            value, is_text = from_file[name], not is_json
        elif name in variables:
            value, is_text = variables[name], True
        else:
            missing.append(name)
            continue
        values[name] = decode_json(value, name, owner) if json_returns and is_text else value
    if missing and not saved:
        raise ReturnsError(
            f"{owner} did not set {', '.join(missing)}: its shell ended without chainlab "
            "reading its variables (did the command `exec` another program?). Write the "
            f'values to the file instead: echo "NAME=value" >> "${RETURNS_ENV}"'
        )
    if missing:
        raise ReturnsError(
            f"{owner} did not set {', '.join(missing)}: in the command, `export NAME=value` "
            f'or `echo "NAME=value" >> "${RETURNS_ENV}"` (a parameter of the same name '
            "does not count)"
        )
    return values


def run_shell(
    command: str,
    params: dict[str, Any],
    returns: list[str],
    *,
    owner: str,
    json_returns: bool = False,
) -> ShellOutcome:
    """Run ``command`` with ``params`` in its environment and collect ``returns``."""
    for name in returns:  # unset in the command: it must not break the shell
        check_name(name, owner, role="return")
    with tempfile.TemporaryDirectory(prefix="chainlab-shell-") as tmp:
        returns_file = Path(tmp) / "returns"
        vars_file = Path(tmp) / "variables"
        env = {
            **os.environ,
            **parameter_env(params, owner),
            RETURNS_ENV: str(returns_file),
            _VARS_ENV: str(vars_file),
        }
        proc = _start(
            script(command, returns, params),
            env,
            owner,
        )
        stdout, stderr = _wait(proc, owner)
        if proc.returncode != 0:
            tail = stderr.strip()[-500:]
            raise ShellTaskError(
                f"{owner} exited with status {proc.returncode}" + (f": {tail}" if tail else ""),
                returncode=proc.returncode,
                stderr=stderr,
            )
        values = collect(returns, vars_file, returns_file, owner=owner, json_returns=json_returns)
    return ShellOutcome(values, stdout, stderr)


def _start(text: str, env: dict[str, str], owner: str) -> subprocess.Popen[str]:
    """Start the command under bash (or sh), in a process group of its own."""
    try:
        return subprocess.Popen(
            text,
            shell=True,
            executable=shutil.which("bash") or "/bin/sh",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group, so cancellation can stop it all
        )
    except OSError as exc:  # E2BIG: the environment as a whole is too large
        total = sum(len(k) + len(v) + 2 for k, v in env.items())
        raise ShellTaskError(
            f"{owner} could not start: {exc.strerror} (its environment is {total:,} "
            "bytes with the parameters); pass large values through a file instead",
            returncode=-1,
            stderr="",
        ) from exc
