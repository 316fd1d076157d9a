r"""How a ShellTask talks to its command, without ever building command text from values.

**In: environment variables.** Each parameter whose name is an identifier is set in the
command's environment: strings as they are, anything else as JSON (``3``, ``true``,
``{"x": 1}``). The command text is run exactly as written, so a value such as
``'; rm -rf ~'`` or ``$(reboot)`` arrives as those characters in ``$name`` and is never
parsed by the shell (quote your expansions, ``"$name"``, as usual in shell). Names the
shell itself acts on (``PATH``, ``BASH_ENV``, ``IFS``, ... see :data:`PROTECTED`) are
left out, with a warning.

**Out: two ways, for each name in ``returns``.**

1. Write ``name=value`` lines (or one JSON object) to the file named by
   ``$CHAINLAB_RETURNS``::

       echo "count=$(wc -l < data.txt)" >> "$CHAINLAB_RETURNS"

2. Or set a shell variable of that name (runnable's style): chainlab reads it when the
   shell exits, through an ``EXIT`` trap it puts before the command::

       export count=$(wc -l < data.txt)

The file wins when both give a name. Each value is parsed as JSON when it is valid
JSON (``3`` -> 3, ``[1, 2]`` -> [1, 2], ``true`` -> True) and kept as a string
otherwise. A name given neither way is an error.

The command runs under ``bash`` (``/bin/sh`` if bash is missing); a non-zero exit
status fails the task. If the run is cancelled (a sibling branch failed), the command's
process group is terminated.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainlab.engine.cancel import Cancelled, cancelled
from chainlab.workflow.errors import ReturnsError, ShellTaskError

RETURNS_ENV = "CHAINLAB_RETURNS"
"""Environment variable naming the file a command may write its returns to."""
_VARS_ENV = "CHAINLAB_SHELL_VARIABLES_FILE"

_TRAP = """\
__chainlab_save_returns() {{
    __chainlab_status=$?
    {{
{lines}
    }} > "${var}"
    exit "$__chainlab_status"
}}
trap __chainlab_save_returns EXIT
"""
# one line per returned name; names are checked identifiers, values are only expanded
_TRAP_LINE = """        if [ -n "${{{name}+set}}" ]; then printf '%s\\0' "{name}=${{{name}}}"; fi"""


@dataclass
class ShellOutcome:
    returns: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""


def env_value(value: Any, name: str) -> str:
    """The environment form of a parameter: a str as is, anything else as JSON."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = str(value)
    if "\x00" in text:
        raise ValueError(
            f"parameter {name!r} contains a NUL character; it cannot be put in the environment"
        )
    return text


PROTECTED = frozenset(
    {
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "IFS",
        "PS4",
        "PATH",
        "CDPATH",
        "GLOBIGNORE",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "HOME",
        "SHELL",
    }
)
"""Variables a parameter may not replace: the shell or the loader would act on them
(``BASH_ENV`` names a file bash runs first, ``PATH`` picks the programs, ...)."""


def parameter_env(params: dict[str, Any], owner: str = "ShellTask") -> dict[str, str]:
    """The environment entries for ``params`` (identifier names only, none protected)."""
    env: dict[str, str] = {}
    for name, value in params.items():
        if not (isinstance(name, str) and name.isidentifier()):
            continue
        if name in PROTECTED or name.startswith(("BASH_", "CHAINLAB_")):
            warnings.warn(
                f"{owner}: parameter {name!r} is not put in the environment "
                "(it would change how the shell itself behaves)",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        env[name] = env_value(value, name)
    return env


def parse_value(text: str) -> Any:
    """JSON if the text is valid JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def trap_script(returns: list[str]) -> str:
    """The prelude that saves the ``returns`` variables when the shell exits."""
    lines = "\n".join(_TRAP_LINE.format(name=name) for name in returns)
    return _TRAP.format(lines=lines, var="{" + _VARS_ENV + "}")


def _read_returns_file(path: Path, owner: str) -> dict[str, Any]:
    if not path.exists():
        return {}
    text = path.read_text(errors="replace")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ReturnsError(f"{owner}: ${RETURNS_ENV} holds invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ReturnsError(f"{owner}: ${RETURNS_ENV} must hold a JSON object")
        return data
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ReturnsError(f"{owner}: line {line!r} of ${RETURNS_ENV} is not name=value")
        found[name.strip()] = parse_value(value)
    return found


def _read_variables(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    found: dict[str, Any] = {}
    for entry in path.read_bytes().split(b"\0"):
        if entry:
            name, _, value = entry.decode(errors="replace").partition("=")
            found[name] = parse_value(value)
    return found


def _wait(proc: subprocess.Popen[str], owner: str) -> tuple[str, str]:
    """Wait for the command, stopping it if the run is cancelled meanwhile."""
    while True:
        try:
            return proc.communicate(timeout=0.05)
        except subprocess.TimeoutExpired:
            if cancelled():
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                proc.communicate()
                raise Cancelled(f"{owner} was stopped: its run was cancelled") from None


def run_shell(
    command: str, params: dict[str, Any], returns: list[str], *, owner: str
) -> ShellOutcome:
    """Run ``command`` with ``params`` in its environment and collect ``returns``."""
    with tempfile.TemporaryDirectory(prefix="chainlab-shell-") as tmp:
        returns_file = Path(tmp) / "returns"
        vars_file = Path(tmp) / "variables"
        env = {
            **os.environ,
            **parameter_env(params, owner),
            RETURNS_ENV: str(returns_file),
            _VARS_ENV: str(vars_file),
        }
        script = trap_script(returns) + command if returns else command
        proc = subprocess.Popen(
            script,
            shell=True,
            executable=shutil.which("bash") or "/bin/sh",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group, so cancellation can stop it all
        )
        stdout, stderr = _wait(proc, owner)
        if proc.returncode != 0:
            tail = stderr.strip()[-500:]
            raise ShellTaskError(
                f"{owner} exited with status {proc.returncode}" + (f": {tail}" if tail else ""),
                returncode=proc.returncode,
                stderr=stderr,
            )
        found = {**_read_variables(vars_file), **_read_returns_file(returns_file, owner)}
    missing = [name for name in returns if name not in found]
    if missing:
        raise ReturnsError(
            f"{owner} did not return {missing}: in the command, `export NAME=value` or "
            f'`echo "NAME=value" >> "${RETURNS_ENV}"`'
        )
    return ShellOutcome({name: found[name] for name in returns}, stdout, stderr)
