"""Plain data shared by every part of aionisd: what adapters emit, what the store keeps.

Adapters never build whole runs: they emit small *events* that the store (or `fold`) merges by
key, so reading a file twice, or resuming after a crash, converges to the same runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal


def now(timespec: str = "milliseconds") -> str:
    """RFC 3339 UTC (`...Z`), the one timestamp format of runs, events and audit: sortable as text."""
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


StepKind = Literal["command", "file_write", "file_edit", "tool"]
StepStatus = Literal["succeeded", "failed", "not_run", "running"]
RunStatus = Literal["running", "succeeded", "failed", "partial", "interrupted"]

OUTPUT_HEAD = 64 * 1024
OUTPUT_TAIL = 64 * 1024


def bound_output(text: str | None) -> tuple[str, int]:
    """Keep a 64 KiB head and a 64 KiB tail of a step's output; return it with the original size."""
    if not text:
        return "", 0
    size = len(text.encode("utf-8", "surrogatepass"))
    if len(text) <= OUTPUT_HEAD + OUTPUT_TAIL:
        return text, size
    cut = size - OUTPUT_HEAD - OUTPUT_TAIL
    return f"{text[:OUTPUT_HEAD]}\n[... {cut} bytes elided ...]\n{text[-OUTPUT_TAIL:]}", size


@dataclass(slots=True)
class RunEvent:
    """A session was seen (or learned more about itself). Later non-None fields win."""

    session_id: str
    agent: str
    cwd: str | None = None
    git_branch: str | None = None
    goal: str | None = None
    ts: str | None = None  # RFC 3339 of the record that said it; min is started_at, max ended_at
    status: RunStatus | None = None
    model: str | None = None


@dataclass(slots=True)
class StepEvent:
    """A step began or finished. `key` is stable within the session (e.g. the tool_use id).

    Fields left None keep what an earlier event for the same key said.
    """

    session_id: str
    key: str
    kind: StepKind | None = None
    tool: str | None = None
    command: str | None = None
    input: dict[str, Any] | None = None
    cwd: str | None = None
    status: StepStatus | None = None
    exit_code: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    subagent: bool | None = None
    shell: str | None = None  # "bash -lc" when the agent ran it that way


@dataclass(slots=True)
class UsageEvent:
    """Token usage of one model response; deduplicated by (session, message_id)."""

    session_id: str
    message_id: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cumulative: bool = False  # Codex reports running totals: the last one wins


@dataclass(slots=True)
class IngestError:
    """A record that could not be read; the rest of the file still is."""

    offset: int
    reason: str
    path: str = ""


Event = RunEvent | StepEvent | UsageEvent | IngestError


@dataclass(slots=True)
class Step:
    seq: int
    key: str
    kind: StepKind = "tool"
    tool: str = ""
    command: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    cwd: str | None = None
    status: StepStatus = "running"
    exit_code: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_size: int = 0
    stderr_size: int = 0
    subagent: bool = False
    shell: str | None = None


@dataclass(slots=True)
class Tokens:
    input: int = 0
    output: int = 0
    cache_creation: int = 0
    cache_read: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_creation + self.cache_read


@dataclass(slots=True)
class Run:
    id: str
    agent: str
    session_id: str
    cwd: str | None = None
    git_branch: str | None = None
    goal: str | None = None
    model: str | None = None
    status: RunStatus = "running"
    started_at: str | None = None
    ended_at: str | None = None
    tokens: Tokens = field(default_factory=Tokens)
    steps: list[Step] = field(default_factory=list)
    playbook_id: str | None = None
    playbook_version: int | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # NAME -> fingerprint, redacted at ingest


def run_id_for(agent: str, session_id: str) -> str:
    """Stable run id: the same session always lands in the same run."""
    return f"{agent}:{session_id}"


def merge_step(step: Step, ev: StepEvent) -> Step:
    """Apply a step event to a step: non-None fields win; output is bounded on the way in."""
    for f in (
        "kind",
        "tool",
        "command",
        "input",
        "cwd",
        "status",
        "exit_code",
        "started_at",
        "ended_at",
        "duration_ms",
        "subagent",
        "shell",
    ):
        v = getattr(ev, f)
        if v is not None:
            setattr(step, f, v)
    if ev.stdout is not None:
        step.stdout, step.stdout_size = bound_output(ev.stdout)
    if ev.stderr is not None:
        step.stderr, step.stderr_size = bound_output(ev.stderr)
    if step.duration_ms is None and step.started_at and step.ended_at:
        step.duration_ms = duration_ms(step.started_at, step.ended_at)
    return step


def merge_run(run: Run, ev: RunEvent) -> Run:
    for f in ("cwd", "git_branch", "goal", "status", "model"):
        v = getattr(ev, f)
        if v is not None and (f != "goal" or run.goal is None):
            setattr(run, f, v)
    if ev.ts:
        if run.started_at is None or ev.ts < run.started_at:
            run.started_at = ev.ts
        if run.ended_at is None or ev.ts > run.ended_at:
            run.ended_at = ev.ts
    return run


def duration_ms(start: str, end: str) -> int | None:
    from datetime import datetime

    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0, int((b - a).total_seconds() * 1000))


def fold(events: list[Event] | Any) -> list[Run]:
    """Merge a stream of events into runs, in memory, the way the store does on disk."""
    runs: dict[str, Run] = {}
    steps: dict[tuple[str, str], Step] = {}
    usage: dict[tuple[str, str], UsageEvent] = {}
    for ev in events:
        if isinstance(ev, IngestError):
            continue
        if isinstance(ev, RunEvent):
            rid = run_id_for(ev.agent, ev.session_id)
            run = runs.setdefault(rid, Run(id=rid, agent=ev.agent, session_id=ev.session_id))
            merge_run(run, ev)
            continue
        run = _run_for_session(runs, ev.session_id)
        if isinstance(ev, UsageEvent):
            k = (run.id, ev.message_id)
            if k in usage and not ev.cumulative:
                continue
            usage[k] = ev
            continue
        sk = (run.id, ev.key)
        st = steps.get(sk)
        if st is None:
            st = Step(seq=len(run.steps) + 1, key=ev.key)
            steps[sk] = st
            run.steps.append(st)
        merge_step(st, ev)
        for ts in (ev.started_at, ev.ended_at):
            if ts:
                merge_run(run, RunEvent(run.session_id, run.agent, ts=ts))
    for run in runs.values():
        run.tokens = total_tokens([u for (rid, _), u in usage.items() if rid == run.id])
    return list(runs.values())


def total_tokens(usages: list[UsageEvent]) -> Tokens:
    """Sum per-message usage; cumulative reports (Codex) count only their largest total."""
    t = Tokens()
    cumul = [u for u in usages if u.cumulative]
    for u in [u for u in usages if not u.cumulative] + (
        [max(cumul, key=lambda u: u.input_tokens + u.output_tokens)] if cumul else []
    ):
        t.input += u.input_tokens
        t.output += u.output_tokens
        t.cache_creation += u.cache_creation_tokens
        t.cache_read += u.cache_read_tokens
    return t


def _run_for_session(runs: dict[str, Run], session_id: str) -> Run:
    for run in runs.values():
        if run.session_id == session_id:
            return run
    rid = run_id_for("unknown", session_id)
    return runs.setdefault(rid, Run(id=rid, agent="unknown", session_id=session_id))


def to_dict(obj: Any) -> Any:
    """Dataclasses to JSON-ready dicts."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_dict(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
