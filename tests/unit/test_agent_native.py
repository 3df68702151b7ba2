"""The native trace format: schema validation per line, mapping to runs, and the round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from aionisd.agents import detect_adapter, native, parse_file
from aionisd.agents.base import ParseContext, parse_bytes
from aionisd.agents.native import (
    SCHEMA,
    dumps_trace,
    run_to_trace,
    schema_error,
    surely_valid,
    validator,
)
from aionisd.model import Event, IngestError, fold
from tests import conftest

SAMPLES = conftest.SAMPLES
DATA = conftest.DATA / "sources"
EXAMPLE = DATA / "native-design-example.jsonl"
NOW = "2026-11-24T12:00:00Z"


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_design_example() -> None:
    assert detect_adapter(EXAMPLE.read_bytes()) is not None
    events = parse_file(EXAMPLE)
    assert not [e for e in events if isinstance(e, IngestError)]
    (run,) = fold(events)
    assert (run.id, run.agent, run.session_id) == ("my-agent:r-1", "my-agent", "r-1")
    assert (run.goal, run.cwd, run.status) == ("set up the project", "/home/me/proj", "succeeded")
    assert (run.started_at, run.ended_at) == ("2026-11-24T10:00:00Z", "2026-11-24T10:00:05Z")
    venv, readme = run.steps
    assert (venv.kind, venv.tool, venv.command) == ("command", "bash", "python3 -m venv .venv")
    assert (venv.status, venv.exit_code, venv.duration_ms) == ("succeeded", 0, 2100)
    assert (readme.kind, readme.status) == ("file_write", "succeeded")
    assert readme.input == {"path": "/home/me/proj/README.md", "content": "# proj\n"}


def _line(**rec: Any) -> bytes:
    return json.dumps(rec).encode() + b"\n"


def test_schema_violations_are_ingest_errors_naming_the_field(tmp_path: Path) -> None:
    ts = "2026-11-24T10:00:00Z"
    lines = [
        _line(type="run.start", run_id="r", agent="a", ts=ts),
        _line(type="step.before", run_id="r", step_id="s1", tool="bash", input={}, ts=ts),
        _line(
            type="step.before",
            run_id="r",
            step_id="s2",
            tool="bash",
            input={"command": "make"},
            ts=ts,
        ),
        _line(type="step.after", run_id="r", step_id="s2", status="ok", ts=ts),
        _line(
            type="step.after",
            run_id="r",
            step_id="s2",
            status="failed",
            exit_code=2,
            ts="2026-11-24 10:00:09",
        ),
        _line(type="step.after", run_id="r", step_id="s2", status="failed", exit_code=2, ts=ts),
        _line(type="run.finish", run_id="r", status="success", ts=ts),
        _line(
            type="step.before",
            run_id="r",
            step_id="s3",
            tool="edit_file",
            input={"path": "/a", "old": "x"},
            ts=ts,
        ),
        _line(type="run.end", run_id="r", status="partial", ts=ts),
    ]
    f = tmp_path / "trace.jsonl"
    f.write_bytes(b"".join(lines))
    events = parse_file(f)
    errors = [e for e in events if isinstance(e, IngestError)]
    offsets = [sum(len(x) for x in lines[:i]) for i in range(len(lines))]
    assert [e.offset for e in errors] == [
        offsets[1],
        offsets[3],
        offsets[4],
        offsets[6],
        offsets[7],
    ]
    reasons = [e.reason for e in errors]
    assert "input: 'command' is a required property" in reasons[0]
    assert reasons[1].startswith("trace schema: status: 'ok' is not one of")
    assert "ts:" in reasons[2]
    assert "type: 'run.finish'" in reasons[3]
    assert "input: 'new' is a required property" in reasons[4]
    (run,) = fold(events)
    (step,) = run.steps
    assert (step.key, step.status, step.exit_code) == ("s2", "failed", 2)
    assert run.status == "partial"


def test_round_trip(tmp_path: Path) -> None:
    (run,) = fold(parse_file(EXAMPLE))
    out = tmp_path / "again.jsonl"
    out.write_bytes(dumps_trace(run_to_trace(run, NOW)))
    assert fold(parse_file(out)) == [run]


@conftest.needs_samples
def test_a_recorded_agent_session_written_as_a_trace() -> None:
    src = SAMPLES / "claude-code" / "entire-1a8a83a35a9b-v2.1.33-bash-failures.head.jsonl"
    (run,) = fold(parse_file(src))
    records = run_to_trace(run, NOW)
    assert all(schema_error(r) is None for r in records)
    (back,) = fold(_parse_trace(dumps_trace(records)))
    assert [(s.key, s.kind, s.status, s.exit_code, s.command, s.stdout, s.stderr) for s in back.steps] == [
        (s.key, s.kind, s.status, s.exit_code, s.command, s.stdout, s.stderr) for s in run.steps
    ]
    assert (back.goal, back.cwd, back.started_at) == (run.goal, run.cwd, run.started_at)


def _parse_trace(data: bytes) -> list[Event]:
    return parse_bytes(native.ADAPTER, data, ParseContext("trace.jsonl"))


_ts = st.sampled_from(
    [
        "2026-11-24T10:00:00Z",
        "2026-11-24T10:00:00.5+00:00",
        "2026-11-24",
        "2026-11-24T10:00:00+02:00",
        5,
    ]
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2),
    st.sampled_from(["", "x", "bash", "success", "failed"]),
)
_input = st.dictionaries(st.sampled_from(["command", "path", "content", "old", "new"]), _scalar, max_size=5)
_record = st.fixed_dictionaries(
    {"type": st.sampled_from(["run.start", "step.before", "step.after", "run.end", "x"])},
    optional={
        "run_id": st.one_of(st.sampled_from(["r", ""]), _scalar),
        "ts": _ts,
        "agent": _scalar,
        "goal": _scalar,
        "cwd": _scalar,
        "step_id": st.one_of(st.just("s"), _scalar),
        "tool": st.sampled_from(["bash", "write_file", "edit_file", "mcp", "", 3]),
        "input": st.one_of(_input, _scalar),
        "status": st.sampled_from(["success", "failed", "not_run", "partial", "ok", None]),
        "exit_code": _scalar,
        "stdout": _scalar,
        "duration_ms": _scalar,
    },
)


@settings(max_examples=400, deadline=None)
@given(_record)
def test_fast_check_never_accepts_what_the_schema_rejects(rec: dict[str, Any]) -> None:
    if surely_valid(rec):
        assert validator().is_valid(rec)
    assert (schema_error(rec) is None) == validator().is_valid(rec)


def test_fast_check_accepts_the_common_shapes() -> None:
    for raw in EXAMPLE.read_bytes().splitlines():
        assert surely_valid(json.loads(raw))
