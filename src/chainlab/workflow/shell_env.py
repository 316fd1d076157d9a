"""Which parameters a ShellTask may put in its command's environment, and how.

Parameter names can come from data (a YAML file, a JSON payload, an earlier step), and
an environment variable can make a program run code: ``BASH_ENV`` names a file bash
runs first, ``PERL5OPT=-Mevil``, ``NODE_OPTIONS=--require ...``, ``GIT_SSH_COMMAND``,
``LD_PRELOAD``, ``PYTHONSTARTUP``... A list of known-bad names is never complete, so
the rule is mostly about *where* a name could come from:

1. A name that is not a plain ASCII identifier (``with-dash``, ``BASH_FUNC_f%%``,
   ``café``) cannot be a shell variable: it is not passed (silently).
2. A name is **refused** (the task fails with :class:`UnsafeParameterName`, naming it)
   when

   * a variable of that name is already in the environment chainlab runs in
     (``HOME``, ``LANG``, ``SSH_AUTH_SOCK``, ... whatever this machine sets), or
   * it is a name the shell, the dynamic loader or a common interpreter or tool acts
     on: see :data:`SHELL_NAMES`, :data:`PREFIXES` and :data:`SUFFIXES`
     (``LD_*``, ``DYLD_*``, ``BASH*``, ``PYTHON*``, ``PERL*``, ``GIT_*``,
     ``*_OPTIONS``, ``*_OPTS``, ``*FLAGS``, ``*PATH``, ``*_COMMAND``, ``*_proxy`` in
     any case, ...). This list is a safety net for variables this machine does not
     set today; it errs on the side of refusing.

Lowercase names other than ``*_proxy`` (``path``, ``home``, ``user``) are fine: the
shell's variables are case-sensitive and programs read the uppercase ones.

Values never need such care: they are passed as data, never parsed by the shell.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from chainlab.workflow.errors import UnsafeParameterName

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELL_NAMES = _names(
    """
    IFS PATH HOME SHELL ENV CDPATH GLOBIGNORE SHELLOPTS POSIXLY_CORRECT PS1 PS2 PS3 PS4
    PROMPT_COMMAND PROMPT_DIRTRIM OPTIND OPTARG OPTERR PWD OLDPWD SHLVL HOSTNAME HOSTTYPE
    MACHTYPE OSTYPE UID EUID PPID GROUPS RANDOM SRANDOM SECONDS LINENO EPOCHSECONDS
    EPOCHREALTIME FUNCNAME FUNCNEST PIPESTATUS DIRSTACK REPLY TIMEFORMAT TMOUT INPUTRC
    MAIL MAILCHECK IGNOREEOF FCEDIT FIGNORE EXECIGNORE HOSTFILE COLUMNS LINES TERM TERMINFO
    TERMCAP TMPDIR USER LOGNAME LANG LANGUAGE TZ EDITOR VISUAL PAGER MANPAGER BROWSER
    HOSTALIASES LOCALDOMAIN GLIBC_TUNABLES SSLKEYLOGFILE CURL_CA_BUNDLE REQUESTS_CA_BUNDLE
    DISPLAY ZDOTDIR KRB5CCNAME CC CXX CPP LD AR AS NM MAKE GOROOT GOPROXY GOTOOLCHAIN GOENV
    KUBECONFIG
    """
)
"""Names refused exactly (besides the prefixes and suffixes below)."""

PREFIXES = (
    "BASH",  # BASH_ENV, BASHOPTS, BASHPID, BASH_XTRACEFD, ...
    "CHAINLAB_",
    "LD_",
    "DYLD_",
    "PYTHON",
    "PERL",
    "RUBY",
    "NODE_",
    "NPM_",
    "JAVA_",
    "_JAVA_",
    "JDK_",
    "GIT_",
    "SSH_",
    "SSL_",
    "LC_",
    "MALLOC_",
    "GCONV_",
    "LUA_",
    "HIST",
    "COMP_",
    "READLINE_",
    "XDG_",
    "PIP_",
    "UV_",
    "CONDA",
    "VIRTUAL_ENV",
    "OPENSSL_",
    "LESS",
    "R_",
    "PHP",
    "GEM_",
    "JULIA_",
    "CARGO_",
    "RUST",
    "DOCKER_",
)
"""A name starting with one of these is refused."""

SUFFIXES = (
    "_OPTIONS",
    "_OPTS",
    "OPT",
    "FLAGS",
    "PATH",
    "_HOME",
    "_PROXY",
    "_INIT",
    "_CONFIG",
    "_COMMAND",
    "_CMD",
    "_WRAPPER",
    "_EDITOR",
    "_SHELL",
    "ASKPASS",
)
"""A name ending with one of these is refused (``_PROXY`` in any case)."""


def name_problem(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the parameter ``name`` may not reach a command's environment, or None.

    Only for plain identifiers (see :func:`passable`).
    """
    environ = os.environ if environ is None else environ
    if name in environ:
        return "a variable of that name is already in the environment"
    if (
        name in SHELL_NAMES
        or name.startswith(PREFIXES)
        or name.endswith(SUFFIXES)
        or name.upper().endswith("_PROXY")
    ):
        return "the shell, the loader or a program it starts acts on a variable of that name"
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
            "Rename it (lowercase names are usually fine)."
        )


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


def parameter_env(params: Mapping[Any, Any], owner: str = "ShellTask") -> dict[str, str]:
    """The environment entries for ``params``: plain identifiers only, each checked."""
    env: dict[str, str] = {}
    for name, value in params.items():
        if not passable(name):
            continue
        check_name(name, owner)
        env[name] = env_value(value, name)
    return env
