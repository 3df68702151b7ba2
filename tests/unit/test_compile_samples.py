"""The compiler on real agent logs (../shared/samples, provenance in SOURCES.md there)."""

from __future__ import annotations

import pytest

from aionisd.agents import parse_file
from aionisd.canonical import canonical_bytes
from aionisd.compile import NOTHING, Compiled, NothingToReplay, compile_run
from aionisd.model import Run, fold
from aionisd.playbook import validate
from tests import conftest

SAMPLES = conftest.SAMPLES
if not SAMPLES.is_dir():
    pytest.skip(f"samples not found at {SAMPLES}", allow_module_level=True)

NOW = "2026-01-01T00:00:00Z"
CODEX_READS = "codex/rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.head.jsonl"
EDITS = "claude-code/entire-37995ebed6e4-v2.1.12-concatenated-json-objects.window.jsonl"
FORENSICS = "claude-code/entire-1a8a83a35a9b-v2.1.33-bash-failures.head.jsonl"
PROCEDURAL = sorted(str(p.relative_to(SAMPLES)) for p in (SAMPLES / "procedural").rglob("*.jsonl"))


def load(rel: str) -> Run:
    runs = fold(parse_file(SAMPLES / rel))
    assert runs, rel
    return max(runs, key=lambda r: len(r.steps))


def compiled(rel: str) -> Compiled:
    c = compile_run(load(rel), now=NOW)
    assert validate(c.doc) == []
    return c


def test_codex_session_of_reads_compiles_to_nothing() -> None:
    run = load(CODEX_READS)
    assert sum(s.kind == "command" for s in run.steps) == 35
    with pytest.raises(NothingToReplay) as err:
        compile_run(run, now=NOW)
    assert str(err.value) == "nothing to replay: the run changed nothing" == NOTHING


def test_edits_become_file_steps_fmt_is_a_step_go_test_a_check() -> None:
    run = load(EDITS)
    c = compiled(EDITS)
    steps = c.doc["steps"]
    edits = [s for s in run.steps if s.tool == "Edit"]
    done = [s for s in edits if s.status == "succeeded"]
    assert len(edits) == 8 and len(done) == 7  # the last Edit never got its result
    file_edits = [s for s in steps if s["kind"] == "file_edit"]
    assert len(file_edits) == len(done)
    assert [(e["old"], e["new"]) for e in file_edits] == [(s.input["old"], s.input["new"]) for s in done]
    assert all(e["path"].startswith("${workdir}/cmd/entire/cli/logging/") for e in file_edits)

    fmt_runs = [s for s in run.steps if s.command and "mise run fmt" in s.command]
    fmt_steps = [s for s in steps if s["kind"] == "command" and "mise run fmt" in s["run"]]
    assert {s["run"] for s in fmt_steps} == {s.command for s in fmt_runs}
    assert len(fmt_runs) == 3 and len(fmt_steps) == 2  # the first failed, retried verbatim later
    assert [s.status for s in fmt_runs] == ["failed", "succeeded", "succeeded"]
    assert "succeeded after 1 failed attempt" in fmt_steps[0]["note"]

    go_tests = {s.command for s in run.steps if s.command and s.command.startswith("go test")}
    assert {s["run"] for s in c.doc["success"]} >= go_tests
    assert not [s for s in steps if s.get("run", "").startswith("go test")]
    assert c.report.dropped["superseded"] == 1 and c.report.dropped["not_run"] == 1


def test_git_forensics_keep_only_the_state_changing_read_tree() -> None:
    run = load(FORENSICS)
    assert sum(s.kind == "command" for s in run.steps) == 51
    c = compiled(FORENSICS)
    commands = [s for s in c.doc["steps"] if s["kind"] == "command"]
    assert [s["run"] for s in commands] == ["git read-tree HEAD 2>&1"]
    # what else survives: the MCP call that filed a Linear issue, as a non-replayable step
    others = [(s["kind"], s.get("tool")) for s in c.doc["steps"] if s["kind"] != "command"]
    assert others == [("tool", "mcp__linear-server__create_issue")]
    assert c.doc["steps"][1]["replayable"] is False
    assert c.doc["success"] == []
    assert c.report.dropped["not_run"] == 6  # the sibling calls cancelled by a failing one


@pytest.mark.parametrize("rel", PROCEDURAL)
def test_procedural_sessions_compile(rel: str) -> None:
    run = load(rel)
    c = compiled(rel)
    r = c.report
    print(
        f"\n{rel}: {r.steps_in} steps ({r.commands_in} commands) -> {r.kept} steps "
        f"+ {r.checks} checks; dropped {r.dropped}; secrets {r.secrets_found}"
    )
    assert r.steps_in == len(run.steps)
    assert r.kept == len(c.doc["steps"]) > 0
    assert r.kept + r.checks + sum(r.dropped.values()) >= r.steps_in
    assert run.cwd and run.cwd.encode() not in canonical_bytes(c.doc)
    assert c.doc["preconditions"][0] == {"type": "cwd_exists", "path": "${workdir}"}
    assert compile_run(run, now=NOW).doc == c.doc  # deterministic


def test_dependabot_bump_keeps_the_bump_and_its_verdicts() -> None:
    c = compiled("procedural/claude-code/git-sync-dependabot-xcrypto-bump.jsonl")
    runs = [s["run"] for s in c.doc["steps"]]
    assert any(r.startswith("go get golang.org/x/crypto@v0.54.0") for r in runs)
    assert [s["risk"] for s in c.doc["steps"] if s["run"].startswith("git push")] == ["high"]
    assert all(s["run"].startswith(("go test", "go build")) for s in c.doc["success"])
    assert not any(r.startswith(("grep", "go list", "echo")) for r in runs)


def test_ci_port_writes_every_file_it_wrote() -> None:
    rel = "procedural/claude-code/git-sync-port-ci-workflows-and-lint-tooling.jsonl"
    run = load(rel)
    c = compiled(rel)
    wrote = [s for s in run.steps if s.tool == "Write" and s.status == "succeeded"]
    writes = [s for s in c.doc["steps"] if s["kind"] == "file_write"]
    assert len(writes) == len(wrote) == 9
    assert "${workdir}/.github/workflows/ci.yml" in {w["path"] for w in writes}


def test_codex_apply_patch_becomes_file_edits() -> None:
    c = compiled("procedural/codex/agentv-git-hook-cleanup-and-private-checkpoint-remote.jsonl")
    edits = [s for s in c.doc["steps"] if s["kind"] == "file_edit"]
    assert edits and all(e["path"].startswith("${workdir}/.entire/") for e in edits)
    assert c.doc["source"]["agent"] == "codex"
