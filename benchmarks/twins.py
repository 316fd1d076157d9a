"""Count the engine's sync/async twins: functions ``X`` / ``aX`` (or ``_x`` / ``_ax``).

A twin pair is two functions in the same scope (a module's top level, or one class)
whose names differ by the ``a`` of async: ``call_node`` / ``acall_node``,
``_invoke`` / ``_ainvoke``. Module-level pairs are matched across the engine's modules
too (``leaf.iter_leaf`` / ``streaming.aiter_leaf``). The count is the summed lines of
both functions of every pair: the code written twice, once with ``await``.

    python -m benchmarks.twins            # totals, per module
    python -m benchmarks.twins -v         # every pair
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "src" / "chainlab" / "engine"

Def = ast.FunctionDef | ast.AsyncFunctionDef


def _sync_name(name: str) -> str | None:
    """The sync twin's name of an async-looking ``name``, or None."""
    if name.startswith("_a") and len(name) > 2:
        return "_" + name[2:]
    if name.startswith("a") and len(name) > 1 and name[1] != "_":
        return name[1:]
    return None


def _lines(node: Def) -> int:
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def twin_pairs(root: Path = ENGINE) -> list[tuple[str, str, int]]:
    """``(sync, async, lines of both)`` for every twin pair under ``root``."""
    scopes: dict[str, dict[str, Def]] = defaultdict(dict)  # scope -> name -> def
    top: dict[str, tuple[str, Def]] = {}  # module-level name -> (module, def)
    for path in sorted(root.glob("*.py")):
        module = path.stem
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, Def):
                scopes[module][node.name] = node
                top.setdefault(node.name, (module, node))
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, Def):
                        scopes[f"{module}.{node.name}"][item.name] = item
    pairs: list[tuple[str, str, int]] = []
    seen: set[tuple[str, str]] = set()
    for scope, defs in scopes.items():
        for name, node in defs.items():
            sync = _sync_name(name)
            if sync is None:
                continue
            twin = defs.get(sync)
            where = scope
            if twin is None and "." not in scope and sync in top:
                where, twin = top[sync]
            if twin is None or (where, sync) in seen:
                continue
            seen.add((where, sync))
            pairs.append((f"{where}.{sync}", f"{scope}.{name}", _lines(twin) + _lines(node)))
    return pairs


def main(argv: list[str]) -> None:
    pairs = twin_pairs()
    per_module: dict[str, int] = defaultdict(int)
    for sync, _, lines in pairs:
        per_module[sync.split(".")[0]] += lines
    if "-v" in argv:
        for sync, asyn, lines in sorted(pairs):
            print(f"{lines:5d}  {sync} / {asyn}")
    for module, lines in sorted(per_module.items(), key=lambda kv: -kv[1]):
        print(f"{lines:5d}  {module}.py")
    total = sum(lines for *_, lines in pairs)
    engine = sum(len(p.read_text().splitlines()) for p in ENGINE.glob("*.py"))
    print(f"{len(pairs)} twin pairs, {total} lines ({total / engine:.0%} of {engine} engine lines)")


if __name__ == "__main__":
    main(sys.argv[1:])
