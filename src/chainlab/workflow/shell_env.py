"""How a ShellTask's parameters reach its command: an allow-list, not a deny-list.

Parameter names can come from data (a YAML file, a JSON payload, an earlier step), and
an environment variable can make a program run code: ``BASH_ENV``, ``PERL5OPT``,
``NODE_OPTIONS``, ``VIMINIT``, ``MAKEFILES``, ``RSYNC_RSH``, ``npm_config_*``... No
list of such names is ever complete, so parameters never go into the environment
under their own names:

* In the environment of the command, and so of every program it starts, a parameter
  is only ``CHAINLAB_PARAM_<name>``: a prefix of chainlab's own, which no program
  acts on.
* In the command's shell, it is also the plain shell variable ``$name``, *not
  exported*: the command reads ``"$topic"`` as before, but a program it starts
  (vim, make, git, npm, ...) does not see ``VIMINIT`` in its environment unless the
  command itself exports it.

The only program that acts on those unexported variables is the shell itself, whose
variables are documented and few, so that rule is complete. A name is **refused** (the
task fails with :class:`UnsafeParameterName`, naming it) when it is

* one of the shell's own variables (:data:`SHELL_VARIABLES`: ``PATH``, ``IFS``,
  ``PS4``, ``HOME``, ``BASH_*``, ``HIST*``, ``LC_*``, ``histchars``, ...),
* already in the environment chainlab runs in (assigning it would change the
  exported variable), or
* chainlab's own (``CHAINLAB_*``).

A name that is not a plain ASCII identifier (``with-dash``, ``café``) cannot be a shell
variable: it is not passed (silently). Values never need such care: they are passed as
data, never parsed by the shell.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from chainlab.workflow.errors import UnsafeParameterName

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

PREFIX = "CHAINLAB_PARAM_"
"""The only names parameters have in a command's environment: ``CHAINLAB_PARAM_<name>``."""

MAX_VALUE_BYTES = 128 * 1024 - 1
"""The longest one environment entry may be (Linux's ``MAX_ARG_STRLEN``, 128 KiB)."""


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELL_VARIABLES = _names(
    """
    CDPATH CHILD_MAX COLUMNS COPROC DIRSTACK EMACS ENV EPOCHREALTIME EPOCHSECONDS EUID
    EXECIGNORE FCEDIT FIGNORE FUNCNAME FUNCNEST GLOBIGNORE GLOBSORT GROUPS HOME HOSTFILE
    HOSTNAME HOSTTYPE IFS IGNOREEOF INPUTRC INSIDE_EMACS LANG LINENO LINES MACHTYPE MAIL
    MAILCHECK MAILPATH MAPFILE OLDPWD OPTARG OPTERR OPTIND OSTYPE PATH PIPESTATUS
    POSIXLY_CORRECT PPID PROMPT_COMMAND PROMPT_DIRTRIM PS0 PS1 PS2 PS3 PS4 PWD RANDOM
    REPLY SECONDS SHELL SHELLOPTS SHLVL SRANDOM TIMEFORMAT TMOUT TMPDIR UID
    auto_resume histchars _
    """
)
"""The shell's own variables (bash's manual, "Shell Variables"; sh has a subset)."""

SHELL_PREFIXES = ("BASH", "COMP_", "HIST", "READLINE_", "LC_", "CHAINLAB_")
"""Families of the shell's variables (and chainlab's own names)."""


def name_problem(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the parameter ``name`` may not be passed to a command, or None.

    Only for plain identifiers (see :func:`passable`).
    """
    environ = os.environ if environ is None else environ
    if name in SHELL_VARIABLES or name.startswith(SHELL_PREFIXES):
        return "the shell itself acts on a variable of that name"
    if name in environ:
        return "a variable of that name is already in the environment"
    return None


def passable(name: object) -> bool:
    """True if ``name`` can be a shell variable at all (a plain ASCII identifier)."""
    return isinstance(name, str) and _NAME.match(name) is not None


def check_name(name: str, owner: str, role: str = "parameter") -> None:
    """Raise :class:`UnsafeParameterName` if ``name`` is refused (see the module doc)."""
    problem = name_problem(name)
    if problem is not None:
        raise UnsafeParameterName(
            f"{owner}: {role} {name!r} cannot be a variable of a shell command: {problem}. "
            "Rename it (see chainlab.workflow.shell_env for the rule)."
        )


def env_value(value: Any, name: str, owner: str = "ShellTask") -> str:
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
    size = len(text.encode(errors="surrogateescape")) + len(PREFIX + name) + 1
    if size > MAX_VALUE_BYTES:
        raise ValueError(
            f"{owner}: parameter {name!r} is {size:,} bytes; one environment variable "
            f"holds at most {MAX_VALUE_BYTES + 1:,} (the system's limit). Write the value "
            "to a file and pass its path instead."
        )
    return text


def parameter_env(params: Mapping[Any, Any], owner: str = "ShellTask") -> dict[str, str]:
    """The environment entries for ``params``: ``CHAINLAB_PARAM_<name>`` for each plain
    identifier, each name checked."""
    env: dict[str, str] = {}
    for name, value in params.items():
        if not passable(name):
            continue
        check_name(name, owner)
        env[PREFIX + name] = env_value(value, name, owner)
    return env


def shell_variables(params: Mapping[Any, Any]) -> str:
    """Shell lines that set each passed parameter as an unexported shell variable of
    the command's shell, from its ``CHAINLAB_PARAM_`` entry (names only, no values)."""
    return "".join(f'{name}="${{{PREFIX}{name}}}"\n' for name in params if passable(name))
