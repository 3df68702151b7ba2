"""The native aionis trace format (DESIGN.md "Native trace format"), for agents that record
themselves and for replays recorded as runs.

Each line is validated against `aionisd/data/schemas/trace.schema.json`; a line that breaks
it is an IngestError naming the field, and reading goes on. `run_to_trace` writes a Run back
in this format, so a trace read and written again is the same run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeGuard

from aionisd.model import (
    Event,
    IngestError,
    Run,
    RunEvent,
    RunStatus,
    StepEvent,
    StepKind,
    StepStatus,
)

from .base import Agent, Framing, ParseContext, head_objects

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

RUN_AGENT = "native"
TYPES = ("run.start", "step.before", "step.after", "run.end")

SCHEMA: dict[str, Any] = json.loads(
    resources.files("aionisd").joinpath("data/schemas/trace.schema.json").read_text("utf-8")
)


@cache
def validator() -> Draft202012Validator:
    """The schema's validator, built on first use: the registry imports this module for every
    `aionis` command, and importing jsonschema would triple that start-up time."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SCHEMA)


_STEP_STATUS: dict[str, StepStatus] = {
    "success": "succeeded",
    "failed": "failed",
    "not_run": "not_run",
}
_RUN_STATUS: dict[str, RunStatus] = {
    "success": "succeeded",
    "failed": "failed",
    "partial": "partial",
}
_STEP_NAMES = ("success", "failed", "not_run")
_RUN_NAMES = ("success", "failed", "partial")
_TOOL_KIND: dict[str, StepKind] = {
    "bash": "command",
    "write_file": "file_write",
    "edit_file": "file_edit",
}


_TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|\+00:00)")


def schema_error(rec: Any) -> str | None:
    """Why a record breaks the trace schema (naming the field), or None when it is valid."""
    if surely_valid(rec):
        return None
    from jsonschema.exceptions import best_match

    err = best_match(validator().iter_errors(rec))
    if err is None:
        return None
    where = "/".join(str(p) for p in err.absolute_path)
    return f"{where}: {err.message}" if where else err.message


def _str(v: Any, min_len: int = 0) -> TypeGuard[str]:
    return isinstance(v, str) and len(v) >= min_len


def _int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _opt(rec: dict[str, Any], key: str, min_len: int = 0) -> bool:
    return key not in rec or _str(rec[key], min_len)


def surely_valid(rec: Any) -> bool:
    """A fast, conservative check: True only for records the schema accepts.

    jsonschema costs ~50x a json.loads per line; this keeps ingest of well-formed traces fast,
    and anything it is unsure of goes to the real validator (which gives the error message).
    """
    if not isinstance(rec, dict):
        return False
    t = rec.get("type")
    rid = rec.get("run_id")
    ts = rec.get("ts")
    if not (_str(rid, 1) and len(rid) <= 256 and _str(ts) and _TS_RE.fullmatch(ts)):
        return False
    if t == "run.start":
        return (
            _str(rec.get("agent"), 1)
            and _opt(rec, "goal")
            and _opt(rec, "cwd", 1)
            and _opt(rec, "git_branch")
            and _opt(rec, "model")
        )
    sid = rec.get("step_id")
    if t == "step.before":
        inp = rec.get("input")
        tool = rec.get("tool")
        if not (
            _str(sid, 1)
            and len(sid) <= 256
            and _str(tool, 1)
            and isinstance(inp, dict)
            and _opt(rec, "cwd", 1)
        ):
            return False
        if tool == "bash":
            return _str(inp.get("command"), 1)
        if tool == "write_file":
            return _str(inp.get("path"), 1) and _str(inp.get("content"))
        if tool == "edit_file":
            return _str(inp.get("path"), 1) and _str(inp.get("old")) and _str(inp.get("new"))
        return True
    if t == "step.after":
        ec = rec.get("exit_code")
        dur = rec.get("duration_ms")
        return (
            _str(sid, 1)
            and len(sid) <= 256
            and rec.get("status") in _STEP_NAMES
            and (ec is None or _int(ec))
            and _opt(rec, "stdout")
            and _opt(rec, "stderr")
            and ("duration_ms" not in rec or (_int(dur) and dur >= 0))
        )
    if t == "run.end":
        return rec.get("status") in _RUN_NAMES
    return False


class NativeAdapter:
    """JSONL traces under `$XDG_DATA_HOME/aionis/traces`."""

    name = "native"
    agent = RUN_AGENT
    framing: Framing = "jsonl"

    def wants(self, path: str) -> bool:
        return path.endswith(".jsonl")

    def detect(self, head: bytes) -> bool:
        objs = head_objects(head, 2)
        return bool(objs) and objs[0].get("type") in TYPES and "run_id" in objs[0]

    def parse_document(self, doc: Any, ctx: ParseContext) -> Iterator[Event]:
        return iter(())

    def parse_record(self, rec: Any, ctx: ParseContext) -> Iterator[Event]:
        why = schema_error(rec)
        if why is not None:
            yield IngestError(ctx.offset, f"trace schema: {why}", ctx.path)
            return
        t = rec["type"]
        rid = rec["run_id"]
        ts = rec["ts"]
        agents: dict[str, str] = ctx.state.setdefault("agents", {})
        if t == "run.start":
            agents[rid] = rec["agent"]
            yield RunEvent(
                rid,
                rec["agent"],
                cwd=rec.get("cwd"),
                git_branch=rec.get("git_branch"),
                goal=rec.get("goal"),
                ts=ts,
                model=rec.get("model"),
            )
        elif t == "step.before":
            tool = rec["tool"]
            kind = _TOOL_KIND.get(tool, "tool")
            inp = rec["input"]
            yield StepEvent(
                rid,
                rec["step_id"],
                kind=kind,
                tool=tool,
                command=inp["command"] if kind == "command" else None,
                input=inp,
                cwd=rec.get("cwd"),
                status="running",
                started_at=ts,
            )
        elif t == "step.after":
            yield StepEvent(
                rid,
                rec["step_id"],
                status=_STEP_STATUS[rec["status"]],
                exit_code=rec.get("exit_code"),
                ended_at=ts,
                duration_ms=rec.get("duration_ms"),
                stdout=rec.get("stdout"),
                stderr=rec.get("stderr"),
            )
        else:
            yield RunEvent(rid, agents.get(rid, RUN_AGENT), status=_RUN_STATUS[rec["status"]], ts=ts)


_TOOL_OF_KIND = {"command": "bash", "file_write": "write_file", "file_edit": "edit_file"}
_STATUS_OUT = {"succeeded": "success", "failed": "failed", "not_run": "not_run"}
_RUN_OUT = {"succeeded": "success", "failed": "failed", "partial": "partial"}


def run_to_trace(run: Run, ts: str) -> list[dict[str, Any]]:
    """A run as native trace records. `ts` stands in for times the run does not know.

    Steps whose input does not fit a native tool (e.g. a multi-edit) are written as `tool`
    steps under their own tool name; a step still running gets no step.after, and a run still
    running gets no run.end.
    """
    start = run.started_at or ts
    out: list[dict[str, Any]] = [
        _clean(
            {
                "type": "run.start",
                "run_id": run.session_id,
                "agent": run.agent,
                "goal": run.goal,
                "cwd": run.cwd,
                "git_branch": run.git_branch,
                "model": run.model,
                "ts": start,
            }
        )
    ]
    for s in run.steps:
        tool = _TOOL_OF_KIND.get(s.kind, s.tool or "tool")
        rec = {
            "type": "step.before",
            "run_id": run.session_id,
            "step_id": s.key,
            "tool": tool,
            "input": s.input,
            "cwd": s.cwd,
            "ts": s.started_at or start,
        }
        if tool in ("bash", "write_file", "edit_file") and schema_error(rec) is not None:
            rec["tool"] = s.tool or "tool"
        out.append(_clean(rec))
        if s.status in _STATUS_OUT:
            out.append(
                _clean(
                    {
                        "type": "step.after",
                        "run_id": run.session_id,
                        "step_id": s.key,
                        "status": _STATUS_OUT[s.status],
                        "exit_code": s.exit_code,
                        "stdout": s.stdout or None,
                        "stderr": s.stderr or None,
                        "duration_ms": s.duration_ms,
                        "ts": s.ended_at or s.started_at or start,
                    }
                )
            )
    if run.status in _RUN_OUT:
        out.append(
            {
                "type": "run.end",
                "run_id": run.session_id,
                "status": _RUN_OUT[run.status],
                "ts": run.ended_at or ts,
            }
        )
    return out


def dumps_trace(records: list[dict[str, Any]]) -> bytes:
    """Trace records as JSONL bytes (one compact line each)."""
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode(
        "utf-8"
    )


def _clean(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if v is not None}


ADAPTER = NativeAdapter()

AGENT = Agent(
    name="native",
    title="aionis trace",
    run_agent=RUN_AGENT,
    watch_key="native",
    log_dir="$XDG_DATA_HOME/aionis/traces",
    adapters=(ADAPTER,),
    # tool names of agents that record themselves in this format
    read_only_tools=frozenset({"think", "finish", "view", "ls", "find", "search"}),
)
