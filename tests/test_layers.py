"""Imports point down the layers: engine -> sim / executors / trace -> viz -> widgets ->
jupyter / workflow / lessons -> cli. Every import counts, lazy ones in functions too."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import chainlab

ROOT = Path(chainlab.__file__).parent
RANK = {"_version": 0, "engine": 0, "sim": 1, "executors": 1, "trace": 1, "viz": 2}
RANK |= {"widgets": 3, "jupyter": 4, "workflow": 4, "lessons": 4, "cli": 5}
Edge = tuple[str, int, str, str, bool]  # (file, line, module, name, for type checkers only)


def module_of(path: Path) -> str:
    parts = ["chainlab", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    if not name.startswith("chainlab."):
        return False
    rel = ROOT.joinpath(*name.split(".")[1:])
    return rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file()


def imports(path: Path) -> list[Edge]:
    """Every chainlab import in a file, as (file, line, target module, name, typing); a
    module's attribute read (``run._current`` after ``from chainlab.engine import run``)
    counts too."""
    me, out, alias = module_of(path), [], {}
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    typing = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(str(path), node.lineno, a.name, "", id(node) in typing) for a in node.names]
            alias |= {a.asname: a.name for a in node.names if a.asname}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            mod = ".".join(p for p in (base, node.module or "") if p)
            for a in node.names:  # `from pkg import module` imports the module
                sub = f"{mod}.{a.name}"
                target, name = (sub, "") if is_module(sub) else (mod, a.name)
                out.append((str(path), node.lineno, target, name, id(node) in typing))
                alias |= {a.asname or a.name: sub} if not name else {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = alias.get(node.value.id)
            if module:
                out.append((str(path), node.lineno, module, node.attr, False))
    return [e for e in out if e[2] == "chainlab" or e[2].startswith("chainlab.")]


def package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while (w := stack.pop()) != v:
                comp.append(w)
            if comp:
                found.append(sorted([v, *comp]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


EDGES = [e for path in sorted(ROOT.rglob("*.py")) for e in imports(path)]
INSIDE = [e for e in EDGES if module_of(Path(e[0])) != "chainlab"]  # the top may import all


def where(e: Edge) -> str:
    what = f"from {e[2]} import {e[3]}" if e[3] else f"import {e[2]}"
    return f"{Path(e[0]).relative_to(ROOT.parent)}:{e[1]}: {what}"


def upward() -> list[str]:
    def rank(module: str) -> int:
        return RANK[package(module)] if package(module) else 99  # `chainlab` is the top

    return [where(e) for e in INSIDE if rank(e[2]) > rank(module_of(Path(e[0])))]


def cycles(edges: list[Edge], key: Callable[[str], str]) -> tuple[list[list[str]], str]:
    """The cycles among ``key(module)`` and a text naming each with the imports that
    close it. Cycles among the engine's own modules are left out: it is one unit."""
    pairs = [(key(module_of(Path(e[0]))), key(e[2]), e) for e in edges]
    graph: dict[str, set[str]] = {}
    for src, dst, _ in pairs:
        if src != dst:
            graph.setdefault(src, set()).add(dst)
    found = [c for c in sccs(graph) if not all(m.startswith("chainlab.engine.") for m in c)]
    lines = []
    for comp in found:
        lines.append(f"cycle {' <-> '.join(comp)}:")
        lines += ["  " + where(e) for s, d, e in pairs if s != d and s in comp and d in comp]
    return found, "\n".join(lines)


# Modules whose *types* name each other (imports under ``if TYPE_CHECKING:``, which never
# run): a Recording makes Sweeps and replays, which hold Recordings; a Pipeline compiles
# to runnables that run its steps. Listed so that a new one fails, and a fixed one too.
TRACE_HUB = ("concurrency", "insights", "langchain", "recording", "replay", "sweep")
TYPE_ONLY_CYCLES = [
    [f"chainlab.trace.{m}" for m in TRACE_HUB],
    [f"chainlab.workflow.{m}" for m in ("compiled", "execute", "nodes")],
]


def private_name(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def test_packages_are_all_ranked() -> None:
    assert {package(module_of(p)) for p in ROOT.rglob("*.py")} - {""} <= set(RANK)


def test_no_upward_import() -> None:
    assert not upward(), "imports pointing up the layers:\n" + "\n".join(upward())


def test_no_package_cycle() -> None:
    found, text = cycles(INSIDE, package)
    assert not found, text


def test_no_file_cycle_outside_the_engine() -> None:
    """Among imports that run (at import time or in a function): two modules whose
    types name each other (``Recording.sweep() -> Sweep``, ``Sweep.replays:
    list[Recording]``) import each other only for the type checker, which is fine."""
    found, text = cycles([e for e in INSIDE if not e[4]], str)
    assert not found, text


def test_type_only_cycles_are_the_known_ones() -> None:
    found, text = cycles(INSIDE, str)
    assert sorted(found) == sorted(TYPE_ONLY_CYCLES), text


def test_no_private_engine_name_outside_the_engine() -> None:
    outside = [e for e in INSIDE if package(module_of(Path(e[0]))) != "engine"]
    private = [where(e) for e in outside if package(e[2]) == "engine" and private_name(e[3])]
    assert not private, "private engine names used outside the engine:\n" + "\n".join(private)


def test_the_walk_sees_lazy_imports_and_cycles() -> None:
    """The checker itself: a function-level import counts, and Tarjan finds a cycle."""
    lazy = [e for e in EDGES if e[0].endswith("chainlab/__init__.py") and "jupyter" in e[2]]
    assert lazy, "the lazy `from chainlab.jupyter import ...` in chainlab/__init__.py"
    assert sccs({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
