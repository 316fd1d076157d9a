"""Export formats checked field by field: the Chrome trace event schema and plain records."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel, record
from chainlab.trace import Recording, SpanRecord
from chainlab.trace.export import chrome_trace


@pytest.fixture(scope="module")
def rec() -> Recording:
    attempts = {"n": 0}

    def flaky(x: Any) -> Any:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ConnectionError("try again")
        return x

    def bad(x: Any) -> Any:
        raise KeyError("k")

    chain = RunnableLambda(lambda x: list(str(x))) | RunnableParallel(
        retried=RunnableLambda(flaky).with_retry(wait_exponential_jitter=False),
        rescued=RunnableLambda(bad).with_fallbacks([RunnableLambda(len)]),
        items=RunnableLambda(str.upper).map(),
    )
    with record("ünïcode trace") as recording:
        chain.with_config(tags=["demo"]).invoke(12)
    return recording


def test_chrome_trace_has_one_complete_event_per_span_with_the_schema_fields(
    rec: Recording,
) -> None:
    trace = rec.to_chrome_trace()
    assert set(trace) == {"traceEvents", "displayTimeUnit"}
    events = trace["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    meta = [e for e in events if e["ph"] == "M"]
    assert len(complete) == len(rec.spans)
    assert len(meta) == 1 + len({s.lane for s in rec.spans})  # process + one per lane
    assert {e["ph"] for e in events} == {"X", "M"}
    pids = {e["pid"] for e in events}
    assert len(pids) == 1
    assert isinstance(next(iter(pids)), int)
    for event, span in zip(complete, rec.spans, strict=True):
        assert set(event) == {"ph", "name", "cat", "pid", "tid", "ts", "dur", "args"}
        assert event["name"] == span.name
        assert event["cat"] == span.kind
        assert isinstance(event["tid"], int)
        assert event["tid"] >= 1
        assert event["ts"] == pytest.approx(span.start * 1e6, abs=1e-3)
        assert event["dur"] == pytest.approx(span.duration * 1e6, abs=1e-3)
        assert event["dur"] >= 0
        assert event["args"]["node_id"] == span.node_id
        assert event["args"]["path"] == span.path
        assert ("output" in event["args"]) == bool(span.output_preview)
        assert ("branch" in event["args"]) == (span.branch is not None)


def test_each_lane_is_one_named_thread(rec: Recording) -> None:
    events = rec.to_chrome_trace()["traceEvents"]
    threads = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert len(set(threads.values())) == len(threads)  # a tid per lane, a lane per tid
    assert 0 not in threads  # tid 0 is the process row
    lanes = [threads[e["tid"]] for e in events if e["ph"] == "X"]
    assert lanes == [s.lane for s in rec.spans]  # every span on its own lane's row


def test_retries_and_errors_are_in_the_args(rec: Recording) -> None:
    complete = [e for e in rec.to_chrome_trace()["traceEvents"] if e["ph"] == "X"]
    retried = [e for e in complete if e["args"]["node_id"].endswith("/retried")]
    assert [e["args"].get("attempt", 1) for e in retried] == [1, 2]
    assert retried[0]["args"]["error"] == "ConnectionError: try again"
    assert "error" not in retried[1]["args"]
    (failed,) = [e for e in complete if e["args"]["node_id"].endswith("/rescued/0")]
    assert failed["args"]["status"] == "error"
    assert failed["args"]["error"] == "KeyError: 'k'"
    items = [e for e in complete if e["args"]["node_id"].endswith("/items/*")]
    assert sorted(e["args"]["branch"] for e in items) == ["items", "items"]


def test_the_file_keeps_unicode_and_reads_back_equal(rec: Recording, tmp_path: Path) -> None:
    path = tmp_path / "sub.json"
    trace = rec.to_chrome_trace(str(path))
    raw = path.read_text(encoding="utf-8")
    assert "ünïcode trace" in raw  # written as text, not \\u escapes
    assert json.loads(raw) == trace
    assert chrome_trace([])["traceEvents"][0]["args"]["name"] == "chainlab"


def test_records_round_trip_through_json_and_back_into_span_records(rec: Recording) -> None:
    rows = rec.to_records()
    assert json.loads(json.dumps(rows)) == rows
    names = [f.name for f in fields(SpanRecord)]
    for row, span in zip(rows, rec.spans, strict=True):
        assert list(row) == names  # every field, in declaration order
        assert row["tags"] == ["demo"]
        error = span.error
        assert row["error"] == (None if error is None else f"{type(error).__name__}: {error}")
        rebuilt = SpanRecord(**{**row, "tags": tuple(row["tags"]), "error": span.error})
        assert rebuilt == span
    errors = [r["error"] for r in rows if r["status"] == "error"]
    assert sorted(errors) == ["ConnectionError: try again", "KeyError: 'k'"]
