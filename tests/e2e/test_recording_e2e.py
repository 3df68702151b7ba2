"""Recording with the real daemon: one-shot ingest, and live watching that survives SIGKILL."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aionisd.client import Client
from tests import conftest
from tests.conftest import SAMPLES, Daemon, Xdg, aionis

pytestmark = pytest.mark.slow

BASH_FAILURES = SAMPLES / "claude-code" / "entire-1a8a83a35a9b-v2.1.33-bash-failures.head.jsonl"
CODEX = SAMPLES / "codex" / "rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.head.jsonl"
CONCAT = SAMPLES / "claude-code" / "entire-37995ebed6e4-v2.1.12-concatenated-json-objects.window.jsonl"
SIDECHAIN = SAMPLES / "claude-code" / "ccviewer-v1.0.108-inline-sidechain-task.jsonl"


def command_counts(run: dict[str, Any]) -> tuple[int, Counter[str], Counter[Any]]:
    cmds = [s for s in run["steps"] if s["kind"] == "command"]
    return (
        len(cmds),
        Counter(s["status"] for s in cmds),
        Counter(s["exit_code"] for s in cmds if s["status"] == "failed"),
    )


@conftest.needs_samples
def test_ingest_samples_exact_counts_and_idempotent(daemon: Daemon, xdg: Xdg) -> None:
    files = [BASH_FAILURES, CODEX, CONCAT, SIDECHAIN]
    r = aionis(xdg, "ingest", *map(str, files), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"runs", "errors"} and len(out["runs"]) == 4
    assert {x["agent"] for x in out["runs"]} == {"claude-code", "codex"}
    by_agent: dict[str, list[dict[str, Any]]] = {}
    with Client(daemon.socket) as c:
        runs = {x["id"]: c.call("runs.get", id=x["id"]) for x in out["runs"]}
    for run in runs.values():
        by_agent.setdefault(run["agent"], []).append(run)
    counts = {command_counts(r)[0]: command_counts(r) for r in runs.values()}
    _, status, codes = counts[51]
    assert status == {"succeeded": 38, "failed": 7, "not_run": 6}
    assert codes == {1: 4, 128: 2, 129: 1}
    _, status, codes = counts[35]
    assert status == {"succeeded": 32, "failed": 3} and codes == {2: 2, 1: 1}
    _, status, codes = counts[7]
    assert status["failed"] == 1
    _, status, codes = counts[5]
    assert status["failed"] == 1 and codes == {None: 1}
    again = json.loads(aionis(xdg, "ingest", *map(str, files), "--json").stdout)
    with Client(daemon.socket) as c:
        assert c.call("status")["counts"]["steps"] == sum(len(r["steps"]) for r in runs.values())
    assert sorted(x["steps"] for x in again["runs"]) == sorted(len(r["steps"]) for r in runs.values())


@conftest.needs_samples
def test_run_show_json_shape(daemon: Daemon, xdg: Xdg) -> None:
    out = json.loads(aionis(xdg, "ingest", str(SIDECHAIN), "--json").stdout)
    r = aionis(xdg, "run", "show", out["runs"][0]["id"], "--json")
    assert r.returncode == 0
    run = json.loads(r.stdout)
    assert {"id", "agent", "cwd", "tokens", "started_at", "ended_at", "steps"} <= set(run)
    assert {
        "seq",
        "kind",
        "tool",
        "command",
        "cwd",
        "status",
        "exit_code",
        "duration_ms",
        "subagent",
    } <= set(run["steps"][0])
    assert any(s["subagent"] for s in run["steps"])
    human = aionis(xdg, "runs")
    assert human.returncode == 0 and out["runs"][0]["id"] in human.stdout


@conftest.needs_samples
def test_ingest_reports_bad_lines_and_reads_on(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    lines = SIDECHAIN.read_bytes().splitlines(keepends=True)
    bad = tmp_path / "session.jsonl"
    bad.write_bytes(b"".join(lines[:5]) + b"{this is not json\n" + b"".join(lines[5:]))
    out = json.loads(aionis(xdg, "ingest", str(bad), "--json").stdout)
    assert len(out["errors"]) == 1
    assert out["errors"][0]["offset"] == len(b"".join(lines[:5]))
    assert command_counts(Client(daemon.socket).call("runs.get", id=out["runs"][0]["id"]))[0] == 5
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello\n")
    r = json.loads(aionis(xdg, "ingest", str(unknown), "--json").stdout)
    assert r["runs"] == [] and "no adapter" in r["errors"][0]["reason"]


def _wait_for_steps(sock: Path, n: int) -> dict[str, Any]:
    """Block on step events until the session has `n` command steps; return the run."""
    with Client(sock) as c:
        c.call("events.subscribe", kinds=["step.recorded"], since_seq=0)
        while True:
            runs = c.call("runs.list")["runs"]
            if runs:
                run = c.call("runs.get", id=runs[0]["id"])
                if command_counts(run)[0] >= n and all(
                    s["status"] != "running" for s in run["steps"] if s["kind"] == "command"
                ):
                    return dict(run)
            c.read()


@conftest.needs_samples
def test_live_watch_survives_sigkill_without_loss_or_duplicates(
    xdg: Xdg, start_daemon: Any, tmp_path: Path
) -> None:
    watched = tmp_path / "agent-logs" / "project"
    watched.mkdir(parents=True)
    target = watched / "session.jsonl"
    data = BASH_FAILURES.read_bytes()
    lines = data.splitlines(keepends=True)
    half = len(lines) // 2
    d = start_daemon("--no-watch", "--watch", str(tmp_path / "agent-logs"))
    with target.open("ab") as f:
        for i in range(0, half, 7):
            f.write(b"".join(lines[i : min(i + 7, half)]))
            f.flush()
    first = _wait_for_steps(d.socket, 1)
    assert first["agent"] == "claude-code"
    d.kill()
    with target.open("ab") as f:
        cut = len(lines[half]) // 2
        f.write(b"".join(lines[half:-1]) + lines[-1][:cut])  # the last line arrives in two parts
        f.flush()
    d2 = start_daemon("--no-watch", "--watch", str(tmp_path / "agent-logs"))
    with target.open("ab") as f:
        f.write(lines[-1][cut:])
    run = _wait_for_steps(d2.socket, 51)
    n, status, codes = command_counts(run)
    assert (n, status, codes) == (
        51,
        Counter({"succeeded": 38, "failed": 7, "not_run": 6}),
        Counter({1: 4, 128: 2, 129: 1}),
    )
    keys = [s["key"] for s in run["steps"]]
    assert len(keys) == len(set(keys))
    assert [s["seq"] for s in run["steps"]] == list(range(1, len(keys) + 1))


@conftest.needs_samples
def test_a_watched_directory_that_appears_later(xdg: Xdg, start_daemon: Any, tmp_path: Path) -> None:
    later = tmp_path / "not-yet" / "logs"
    d = start_daemon("--no-watch", "--watch", str(later))
    later.mkdir(parents=True)
    (later / "session.jsonl").write_bytes(SIDECHAIN.read_bytes())
    run = _wait_for_steps(d.socket, 5)
    assert command_counts(run)[0] == 5
