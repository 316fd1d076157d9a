"""Export: Chrome trace / Perfetto JSON and plain records."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chainlab import RunnableLambda, RunnableParallel, record


def nap(x: Any) -> Any:
    time.sleep(0.005)
    return x


def test_chrome_trace_file(tmp_path: Path) -> None:
    chain = RunnableLambda(nap) | RunnableParallel(a=nap, b=nap)
    with record("demo") as rec:
        chain.invoke(1)
    path = tmp_path / "trace.json"
    returned = rec.to_chrome_trace(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == returned
    events = data["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == len(rec.spans) == 5
    names = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert names == {s.lane for s in rec.spans}
    process = [e for e in events if e.get("name") == "process_name"]
    assert process[0]["args"]["name"] == "demo"
    tids = {e["tid"] for e in events if e.get("name") == "thread_name"}
    assert {e["tid"] for e in complete} <= tids
    by_node = {e["args"]["node_id"]: e for e in complete}
    leaf = by_node["root/1/a"]
    span = next(s for s in rec.spans if s.node_id == "root/1/a")
    assert leaf["ts"] == round(span.start * 1e6, 3)
    assert leaf["dur"] >= 5000  # microseconds
    assert leaf["cat"] == "leaf"
    assert leaf["args"]["status"] == "ok"
    assert leaf["args"]["branch"] == "a"


def test_errors_in_the_trace() -> None:
    def bad(x: Any) -> Any:
        raise RuntimeError("nope")

    with record() as rec:
        try:
            RunnableLambda(bad).invoke(1)
        except RuntimeError:
            pass
    (event,) = [e for e in rec.to_chrome_trace()["traceEvents"] if e["ph"] == "X"]
    assert event["args"]["error"] == "RuntimeError: nope"
    assert event["args"]["status"] == "error"


def test_records_are_plain_json_ready_dicts() -> None:
    with record() as rec:
        RunnableParallel(a=nap, b=str).invoke(3)
    rows = rec.to_records()
    assert len(rows) == 3
    json.dumps(rows)  # plain values only
    assert set(rows[0]) >= {
        "run_id",
        "parent_id",
        "node_id",
        "path",
        "name",
        "kind",
        "lane",
        "start",
        "end",
        "duration",
        "status",
        "error",
        "input_preview",
        "output_preview",
        "is_leaf",
        "branch",
    }
    assert rows[0]["parent_id"] is None
    assert rows[1]["parent_id"] == rows[0]["run_id"]


def test_importing_trace_does_not_import_matplotlib() -> None:
    code = "import sys, chainlab.trace, chainlab.viz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
