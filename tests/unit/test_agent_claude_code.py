"""Claude Code transcripts: every layout in the samples, with the figures SOURCES.md states."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from aionisd.agents import claude_code, parse_file
from aionisd.agents.base import ParseContext, parse_chunk
from aionisd.model import IngestError, Run, Step, fold
from tests import conftest

SAMPLES = conftest.SAMPLES
CC = SAMPLES / "claude-code"
PROC = SAMPLES / "procedural" / "claude-code"


def run_of(path: Path) -> Run:
    events = parse_file(path)
    assert not [e for e in events if isinstance(e, IngestError)]
    runs = fold(events)
    assert len(runs) == 1
    assert runs[0].agent == "claude-code"
    return runs[0]


def commands(run: Run, subagent: bool | None = None) -> list[Step]:
    return [s for s in run.steps if s.kind == "command" and (subagent is None or s.subagent == subagent)]


def outcomes(steps: list[Step]) -> Counter[tuple[str, int | None]]:
    return Counter((s.status, s.exit_code) for s in steps)


@conftest.needs_samples
def test_bash_failures_figures() -> None:
    run = run_of(CC / "entire-1a8a83a35a9b-v2.1.33-bash-failures.head.jsonl")
    cmds = commands(run)
    assert len(cmds) == 51
    by_status = Counter(s.status for s in cmds)
    assert by_status == {"succeeded": 38, "failed": 7, "not_run": 6}
    failed = Counter(s.exit_code for s in cmds if s.status == "failed")
    assert failed == {1: 4, 128: 2, 129: 1}
    assert all(s.exit_code is None for s in cmds if s.status == "not_run")
    first = cmds[0]
    assert first.command == "git status 2>&1" and first.exit_code == 128
    assert first.stderr.startswith("fatal: unable to read")
    assert first.cwd == "/Users/alex/workspace/cli/.worktrees/1"
    assert (first.started_at, first.ended_at) == (
        "2026-02-07T00:14:03.929Z",
        "2026-02-07T00:14:04.045Z",
    )
    assert first.duration_ms == 116
    mcp = [s for s in run.steps if s.tool.startswith("mcp__")]
    assert [(s.kind, s.tool) for s in mcp] == [("tool", "mcp__linear-server__create_issue")]
    assert run.goal == "our git status has broken, why?"
    assert run.git_branch and run.model == "claude-opus-4-6"


@conftest.needs_samples
def test_grep_no_match_keeps_succeeded_with_unknown_exit_code() -> None:
    run = run_of(CC / "entire-1a8a83a35a9b-v2.1.33-bash-failures.head.jsonl")
    cmds = commands(run)
    assert outcomes(cmds)[("succeeded", 0)] == 35
    assert outcomes(cmds)[("succeeded", None)] == 3


@conftest.needs_samples
def test_concatenated_json_objects_window() -> None:
    path = CC / "entire-37995ebed6e4-v2.1.12-concatenated-json-objects.window.jsonl"
    doubled = path.read_bytes().split(b"\n")[70]
    assert doubled.count(b'}{"type":"summary"') == 1
    run = run_of(path)
    cmds = commands(run)
    assert len(cmds) == 7
    assert outcomes(cmds) == {("succeeded", 0): 6, ("failed", 1): 1}
    # the assistant record at the start of the doubled line was read too
    first_half = json.loads(doubled[: doubled.index(b'}{"type":"summary"') + 1])
    assert run.ended_at is not None and run.ended_at >= first_half["timestamp"]
    rejected = [s for s in run.steps if s.status == "not_run"]
    assert [(s.tool, s.kind) for s in rejected] == [("Edit", "file_edit")]


@conftest.needs_samples
def test_inline_sidechain_1_0_layout() -> None:
    run = run_of(CC / "ccviewer-v1.0.108-inline-sidechain-task.jsonl")
    cmds = commands(run)
    assert len(cmds) == 5
    assert all(s.subagent for s in cmds)
    failed = [s for s in cmds if s.status == "failed"]
    assert len(failed) == 1 and failed[0].exit_code is None
    assert failed[0].stderr.startswith("lsd: 3: No such file or directory")
    assert outcomes(cmds)[("succeeded", 0)] == 4
    multi = [s for s in run.steps if s.tool == "MultiEdit"]
    assert multi[0].kind == "file_edit"
    assert multi[0].input["path"] == "/path/to/Demo/CLAUDE.md"
    assert len(multi[0].input["edits"]) == 6
    assert set(multi[0].input["edits"][0]) == {"old", "new"}
    # an Edit refused before it ran ("File has not been read yet") did not run
    edit = next(s for s in run.steps if s.tool == "Edit")
    assert edit.status == "not_run" and set(edit.input) == {"path", "old", "new"}
    assert run.goal is not None and run.goal.startswith("/orchestrator @CLAUDE.md")


@pytest.mark.parametrize(
    ("name", "shell", "expected"),
    [
        (
            "entire-6c3e73767733-v2.1.12-small-bash-progress-failure.jsonl",
            2,
            {("succeeded", 0): 1, ("failed", 1): 1},
        ),
        (
            "entire-00c9e2351016-v2.1.29-interrupt-rejection.jsonl",
            2,
            {("succeeded", 0): 1, ("failed", 1): 1},
        ),
        ("entire-a6e4c2a0fbd1-v2.0.76-compaction.jsonl", 4, {("succeeded", 0): 4}),
        ("entire-10a740e118e0-v2.1.19-task-subagent-progress.jsonl", 1, {("succeeded", 0): 1}),
        (
            "entire-f810e13fce67-v2.0.76-background-tasks-taskoutput.head.jsonl",
            3,
            {("succeeded", 0): 3},
        ),
    ],
)
@conftest.needs_samples
def test_shell_counts_of_samples(name: str, shell: int, expected: dict[object, int]) -> None:
    run = run_of(CC / name)
    main = commands(run, subagent=False)
    assert len(main) == shell
    assert outcomes(main) == expected


@conftest.needs_samples
def test_progress_and_compaction_lines_are_not_steps() -> None:
    run = run_of(CC / "entire-a6e4c2a0fbd1-v2.0.76-compaction.jsonl")
    assert len(run.steps) == 10  # 3 Read + 3 Edit + 4 Bash tool_use blocks, nothing else
    assert run.goal is not None and run.goal.startswith("for the change in cmd/entire/cli")
    assert not run.goal.startswith("This session is being continued")
    progress = run_of(CC / "entire-6c3e73767733-v2.1.12-small-bash-progress-failure.jsonl")
    assert {s.key for s in progress.steps} == {s.key for s in progress.steps if s.key.startswith("toolu_")}
    assert len(progress.steps) == 6


@conftest.needs_samples
def test_interrupt_and_rejection() -> None:
    run = run_of(CC / "entire-00c9e2351016-v2.1.29-interrupt-rejection.jsonl")
    edits = [s for s in run.steps if s.tool == "Edit"]
    assert [s.status for s in edits] == ["not_run", "succeeded", "succeeded"]
    assert all(s.kind == "file_edit" and s.input["path"].endswith(".go") for s in edits)
    assert run.goal == "fix tests"


@conftest.needs_samples
def test_task_subagent_progress_is_recorded_as_subagent_steps() -> None:
    run = run_of(CC / "entire-10a740e118e0-v2.1.19-task-subagent-progress.jsonl")
    sub = [s for s in run.steps if s.subagent]
    assert sub and all(s.key.startswith("toolu_") for s in sub)
    sub_cmds = commands(run, subagent=True)
    assert len(sub_cmds) == 8
    assert outcomes(sub_cmds) == {("succeeded", 0): 7, ("not_run", None): 1}
    writes = [s for s in sub if s.kind == "file_write"]
    assert [w.input["path"].rsplit("/", 1)[-1] for w in writes] == ["review-01.md"]
    task = next(s for s in run.steps if s.tool == "Task")
    assert task.kind == "tool" and not task.subagent and task.status == "succeeded"
    assert run.model == "claude-opus-4-5-20251101"


@conftest.needs_samples
def test_subagent_file_and_progress_mirror_dedupe(tmp_path: Path) -> None:
    """The sub-agent's own transcript (2.x: <session>/subagents/agent-*.jsonl) holds the same
    tool_use ids as the agent_progress mirror: reading both must not duplicate steps."""
    path = CC / "entire-10a740e118e0-v2.1.19-task-subagent-progress.jsonl"
    lines = []
    for raw in path.read_bytes().splitlines():
        rec = json.loads(raw)
        data = rec.get("data")
        if rec.get("type") == "progress" and isinstance(data, dict) and data.get("type") == "agent_progress":
            inner = data["message"]
            extra = {"isSidechain": True, "sessionId": rec["sessionId"], "cwd": rec["cwd"]}
            lines.append({**inner, **extra, "agentId": data["agentId"]})
    sub_dir = tmp_path / "163396cf-348b-4175-90f5-5ca0986ac0f1" / "subagents"
    sub_dir.mkdir(parents=True)
    sub_file = sub_dir / "agent-a102bdd.jsonl"
    sub_file.write_text("".join(json.dumps(r) + "\n" for r in lines))
    alone = fold(parse_file(path))[0]
    both = fold(parse_file(path) + parse_file(sub_file))
    assert len(both) == 1
    assert [s.key for s in both[0].steps] == [s.key for s in alone.steps]
    assert commands(both[0], subagent=True) == commands(alone, subagent=True)
    only_sub = fold(parse_file(sub_file))[0]
    assert only_sub.session_id == alone.session_id
    assert all(s.subagent for s in only_sub.steps)


@pytest.mark.parametrize(
    ("name", "shell", "expected", "tokens"),
    [
        (
            "git-sync-dependabot-xcrypto-bump.jsonl",
            17,
            {("succeeded", 0): 16, ("running", None): 1},
            (8_089, 95_825, 753_946, 7_864),
        ),
        (
            "git-sync-port-ci-workflows-and-lint-tooling.jsonl",
            16,
            {("succeeded", 0): 12, ("failed", 1): 2, ("not_run", None): 2},
            (3_069, 42_222, 1_476_601, 11_382),
        ),
        (
            "entire-cli-test-repo-harness-run.jsonl",
            49,
            {("succeeded", 0): 42, ("failed", 1): 6, ("failed", 127): 1},
            (422, 104_251, 2_777_172, 3_003),
        ),
        (
            "imessage-mail-publish-skill-as-new-github-repo.jsonl",
            23,
            {("succeeded", 0): 23},
            (25, 46_367, 922_409, 6_638),
        ),
    ],
)
@conftest.needs_samples
def test_procedural_sessions(
    name: str, shell: int, expected: dict[object, int], tokens: tuple[int, int, int, int]
) -> None:
    run = run_of(PROC / name)
    cmds = commands(run)
    assert len(cmds) == shell
    assert outcomes(cmds) == expected
    t = run.tokens
    assert (t.input, t.cache_creation, t.cache_read, t.output) == tokens


@conftest.needs_samples
def test_write_steps_carry_path_and_content() -> None:
    run = run_of(PROC / "git-sync-port-ci-workflows-and-lint-tooling.jsonl")
    writes = [s for s in run.steps if s.kind == "file_write"]
    assert len(writes) == 9
    for w in writes:
        assert set(w.input) == {"path", "content"}
        assert w.input["path"].startswith("/") and isinstance(w.input["content"], str)
    assert all(s.kind == "tool" for s in run.steps if s.tool in ("Read", "Grep", "Glob"))


@conftest.needs_samples
def test_resume_mid_file_with_persisted_state() -> None:
    """A crash after committing an offset resumes there with the state saved at that offset."""
    path = PROC / "entire-cli-test-repo-harness-run.jsonl"
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    adapter = claude_code.ADAPTER
    ctx = ParseContext(str(path))
    first, consumed = parse_chunk(adapter, data[:cut], 0, ctx)
    saved = json.dumps(ctx.state)
    resumed = ParseContext(str(path), json.loads(saved))
    second, _ = parse_chunk(adapter, data[consumed:], consumed, resumed, final=True)
    assert fold(first + second) == fold(parse_file(path))
    # re-reading the tail (e.g. the offset was not committed) converges to the same runs
    again = ParseContext(str(path), json.loads(saved))
    third, _ = parse_chunk(adapter, data[consumed:], consumed, again, final=True)
    assert fold(first + second + third) == fold(parse_file(path))
