"""Run every benchmark and print the tables: ``python -m benchmarks`` (or ``./dev bench``).

Each library is measured in a process of its own, so neither pays for the other's
imports, threads or memory. langchain_core is measured when it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

ROWS = [
    # key, label, unit, format, target
    ("lambda_us", "RunnableLambda(lambda x: x).invoke", "µs", "{:.1f}", "≤ 7 µs"),
    ("sequence_us", "3-step `\\|` sequence invoke", "µs", "{:.1f}", "≤ 20 µs"),
    ("parallel8_ms", "RunnableParallel, 8 trivial branches", "ms", "{:.3f}", "≤ 0.15 ms"),
    ("sleep32_invoke_s", "32 branches × sleep(0.05), invoke", "s", "{:.3f}", "≤ 0.06 s"),
    ("sleep32_ainvoke_s", "32 sync branches, ainvoke", "s", "{:.3f}", "≤ 0.06 s"),
    ("wide_async_s", "10,000 × asyncio.sleep(0.05), ainvoke", "s", "{:.2f}", "≤ 0.3 s"),
    ("wide_async_mb", "  … memory growth", "MB", "{:.0f}", "≤ +30 MB"),
    ("fail_fast_s", "fail at 50 ms beside a 1 s sibling", "s", "{:.3f}", "≤ 0.1 s"),
    ("peak_at_limit2", "leaves at once, nested, max_concurrency=2", "", "{}", "2"),
    (
        "abatch_started_after_failure",
        "abatch items ever started (20, limit 2, item 0 fails)",
        "",
        "{}",
        "2",
    ),
    ("error_names_branch", "error note names the branch", "", "{}", "True"),
]


def run(lib: str) -> dict[str, Any] | None:
    if lib != "chainlab" and importlib.util.find_spec("langchain_core") is None:
        return None
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", lib], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratio(key: str, ours: Any, theirs: Any) -> str:
    """How many times less chainlab needs (time or memory); counts get no ratio."""
    if not key.endswith(("_us", "_ms", "_s", "_mb")) or not ours or not theirs:
        return ""
    word = "less memory" if key.endswith("_mb") else "faster"
    return f"{theirs / ours:.1f}× {word}" if theirs > ours else f"{ours / theirs:.2f}× slower"


def engine_table() -> str:
    ours, theirs = run("chainlab"), run("langchain_core")
    assert ours is not None
    lines = [
        "| scenario | chainlab | langchain_core | langchain_core / chainlab | target |",
        "|---|---|---|---|---|",
    ]
    for key, label, unit, fmt, target in ROWS:
        a = fmt.format(ours[key]) + (f" {unit}" if unit else "")
        b = fmt.format(theirs[key]) + (f" {unit}" if unit else "") if theirs else "not installed"
        versus = ratio(key, ours[key], theirs[key]) if theirs else ""
        lines.append(f"| {label} | {a} | {b} | {versus} | {target} |")
    return "\n".join(lines)


def main() -> None:
    print("## Engine (DESIGN.md target table)\n")
    print(engine_table())
    for name in ("bench_tracing", "bench_executors"):
        if importlib.util.find_spec(f"benchmarks.{name}") is not None:
            print()
            importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main()
