"""Gemini CLI: whole-document sessions (re-parsed on every rewrite) and v0.39+ JSONL upserts."""

from __future__ import annotations

import json
from pathlib import Path

from aionisd.agents import parse_file
from aionisd.agents.base import ParseContext, parse_chunk, parse_document_bytes
from aionisd.agents.gemini import DOCUMENT_ADAPTER, JSONL_ADAPTER, shell_result
from aionisd.model import Event, IngestError, Run, fold
from tests import conftest

SAMPLES = conftest.SAMPLES / "gemini-cli"
DATA = conftest.DATA / "sources"
V023 = SAMPLES / "session-2026-01-15T20-51-f7633853.v0.23-json.json"
READ_WRITE = SAMPLES / "session-2026-01-10-faff42ab.v0.2x-json-read-write.json"
V040 = SAMPLES / "jsonl_v040.shape-fixture.jsonl"


def run_of(path: Path) -> Run:
    events = parse_file(path)
    assert not [e for e in events if isinstance(e, IngestError)]
    runs = fold(events)
    assert len(runs) == 1 and runs[0].agent == "gemini-cli"
    return runs[0]


@conftest.needs_samples
def test_v023_document() -> None:
    run = run_of(V023)
    cmds = [s for s in run.steps if s.kind == "command"]
    assert len(cmds) == 6
    assert all((s.status, s.exit_code) == ("succeeded", 0) for s in cmds)
    assert [s.command for s in cmds][:3] == ["ls -l docs/blue.md", "git status", "rm docs/blue.md"]
    assert cmds[0].stdout.startswith("-rw-r--r--@ 1 peytonmontei  staff  309")
    assert cmds[2].stdout == ""  # "Output: (empty)"
    assert cmds[0].started_at == "2026-01-15T20:51:59.064Z"
    assert cmds[0].ended_at == "2026-01-15T20:52:01.626Z"
    # the cwd is implied by write_file's relative path and the absolute one in its output
    assert run.cwd == "/Users/peytonmontei/Documents/entire/devenv/entireio/cli"
    assert cmds[0].cwd == run.cwd
    write = next(s for s in run.steps if s.kind == "file_write")
    assert write.input["path"] == "docs/blue.md" and write.input["content"].startswith("# Blue")
    assert run.goal == "run an agent that creates a color file inside docs, choose your color"
    assert run.model == "gemini-2.5-flash"
    doc = json.loads(V023.read_bytes())
    toks = [m["tokens"] for m in doc["messages"] if "tokens" in m]
    t = run.tokens
    assert t.cache_read == sum(x["cached"] for x in toks)
    assert t.input + t.cache_read == sum(x["input"] for x in toks)
    assert t.output == sum(x["output"] + x["thoughts"] for x in toks)
    assert t.total == sum(x["total"] for x in toks)


@conftest.needs_samples
def test_read_write_document_has_no_shell() -> None:
    run = run_of(READ_WRITE)
    assert [(s.kind, s.tool) for s in run.steps] == [
        ("tool", "read_file"),
        ("file_write", "write_file"),
    ]
    assert run.steps[1].input == {
        "path": "test-gemini.txt",
        "content": "hello from gemini,how are you",
    }


@conftest.needs_samples
def test_document_rewrites_never_duplicate() -> None:
    """The watcher re-parses the whole document on every rewrite, with the same state."""
    data = V023.read_bytes()
    doc = json.loads(data)
    early = {**doc, "messages": doc["messages"][:3]}
    ctx = ParseContext(str(V023))
    events: list[Event] = []
    events += parse_document_bytes(DOCUMENT_ADAPTER, json.dumps(early, indent=2).encode(), ctx)
    events += parse_document_bytes(DOCUMENT_ADAPTER, data, ctx)
    events += parse_document_bytes(DOCUMENT_ADAPTER, data, ctx)
    assert fold(events) == fold(parse_file(V023))
    torn = parse_document_bytes(DOCUMENT_ADAPTER, data[: len(data) // 2], ctx)
    (err,) = torn
    assert isinstance(err, IngestError) and err.offset == 0 and "invalid JSON" in err.reason


@conftest.needs_samples
def test_v040_jsonl_shape() -> None:
    run = run_of(V040)
    (step,) = run.steps
    assert (step.kind, step.command, step.status, step.exit_code) == (
        "command",
        "ls -F",
        "succeeded",
        0,
    )
    assert step.stdout == "AgentSessions/\nREADME.md"
    assert run.session_id == "gemini_stage0_jsonl" and run.goal == "Say hello and list files."
    assert run.ended_at == "2026-04-29T21:39:45.996Z"


def test_upserts_rewind_and_exit_codes() -> None:
    run = run_of(DATA / "gemini-upsert-rewind.jsonl")
    assert run.cwd == "/home/dev/app"
    by_key = {s.key: s for s in run.steps}
    assert list(by_key) == ["shell-1", "shell-2"]
    first = by_key["shell-1"]  # re-appended when it finished: one step, finished state
    assert (first.status, first.exit_code, first.stdout) == ("failed", 2, "FAIL: lint")
    assert first.ended_at == "2026-05-02T09:00:05.000Z"
    # rewound past, but it ran: it stays
    cancelled = by_key["shell-2"]
    assert (cancelled.status, cancelled.exit_code) == ("not_run", None)
    assert run.goal == "run the checks"
    assert run.ended_at == "2026-05-02T09:00:13.000Z"
    t = run.tokens
    assert (t.input, t.cache_read, t.output) == (400 + 300, 600 + 900, 25 + 30)


def test_running_then_finished_in_chunks() -> None:
    path = DATA / "gemini-upsert-rewind.jsonl"
    data = path.read_bytes()
    cut = data.index(b'{"$set"')
    ctx = ParseContext(str(path))
    first, consumed = parse_chunk(JSONL_ADAPTER, data[:cut], 0, ctx)
    mid = fold(first)[0].steps[0]
    assert (mid.status, mid.exit_code, mid.ended_at) == ("running", None, None)
    second, _ = parse_chunk(JSONL_ADAPTER, data[consumed:], consumed, ctx, final=True)
    assert fold(first + second) == fold(parse_file(path))


def test_subagent_recording_joins_parent(tmp_path: Path) -> None:
    chats = tmp_path / "tmp" / "proj" / "chats" / "parent-session-1"
    chats.mkdir(parents=True)
    f = chats / "child-1.jsonl"
    lines = [
        {
            "sessionId": "child-1",
            "projectHash": "ab",
            "startTime": "2026-05-02T09:00:00.000Z",
            "kind": "subagent",
        },
        {
            "id": "c1",
            "timestamp": "2026-05-02T09:00:01.000Z",
            "type": "gemini",
            "toolCalls": [
                {
                    "id": "t1",
                    "name": "run_shell_command",
                    "args": {"command": "make"},
                    "status": "success",
                    "timestamp": "2026-05-02T09:00:02.000Z",
                    "result": [
                        {
                            "functionResponse": {
                                "id": "t1",
                                "response": {"output": "Output: ok\nExit Code: 0"},
                            }
                        }
                    ],
                }
            ],
        },
    ]
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    run = run_of(f)
    assert run.session_id == "parent-session-1"
    assert run.steps[0].subagent and run.steps[0].exit_code == 0


def test_shell_result_text() -> None:
    text = "Command: x\nDirectory: (root)\nOutput: a\nb\nError: oops\nExit Code: 7\nSignal: (none)"
    assert shell_result(text) == (7, "a\nb", "oops")
    assert shell_result("Output: (empty)\nError: (none)\nExit Code: 0") == (0, "", "")
    assert shell_result("plain text") == (None, "plain text", "")
