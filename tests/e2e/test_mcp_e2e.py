"""`aionis mcp` driven by the MCP SDK's own stdio client against the real daemon: one agent
session records its work through record_step, a second finds it by a differently worded task
and replays it in another directory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession

from tests.conftest import Daemon, Xdg, aionis
from tests.support.e2e import synthetic_trace
from tests.support.mcp_session import call, session
from tests.support.workflow import DEMO, FILES, GOAL, tree

pytestmark = pytest.mark.slow
EXEC_ON = "[replay]\nallow_local_exec = true\n"
TOOLS = {"find_playbooks", "get_playbook", "simulate_playbook", "replay_playbook", "replay_status",
         "record_step"}  # fmt: skip
OTHER_TASK = "create a python package with a virtual environment and install it"


async def run_and_record(s: ClientSession, run_id: str, cwd: Path, command: str, **kw: Any) -> dict[str, Any]:
    """What an agent does: run the command itself, then tell aionis what happened."""
    p = await anyio.run_process(["bash", "-c", command], cwd=cwd, check=False)
    return await call(s, "record_step", run_id=run_id, command=command, cwd=str(cwd),
                      status="success" if p.returncode == 0 else "failed", exit_code=p.returncode,
                      stdout=p.stdout.decode()[-4000:], stderr=p.stderr.decode()[-4000:], **kw)  # fmt: skip


async def record_project(s: ClientSession, a: Path, run_id: str) -> str:
    a.mkdir(parents=True)
    await run_and_record(s, run_id, a, "ls -la", goal=GOAL, agent="mcp-test-agent")
    await run_and_record(s, run_id, a, "python3 -m venv .venv")
    for rel in FILES:
        content = (DEMO / rel).read_text()
        (a / rel).parent.mkdir(parents=True, exist_ok=True)
        (a / rel).write_text(content)
        await call(
            s, "record_step", run_id=run_id, tool="write_file", input={"path": rel, "content": content}
        )
    await run_and_record(s, run_id, a, ".venv/bin/pip install -q --no-index -e .")
    last = await run_and_record(s, run_id, a, ".venv/bin/python -m unittest discover -s tests", end_run=True)
    assert not last["errors"] and last["run"], last
    return str(last["run"])


def cli_json(xdg: Xdg, *args: str) -> dict[str, Any]:
    r = aionis(xdg, *args, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(json.loads(r.stdout))


def active_playbook(
    xdg: Xdg, tmp_path: Path, i: int, goal: str, cmds: list[str], name: str | None = None
) -> str:
    trace = synthetic_trace(tmp_path / f"d{i}.jsonl", tmp_path / f"d{i}", cmds, run_id=f"d-{i}", goal=goal)
    run = cli_json(xdg, "ingest", str(trace))["runs"][0]["id"]
    pb = cli_json(xdg, "compile", run, *(["--name", name] if name else []))
    cli_json(xdg, "promote", pb["id"], "--version", "1", "--status", "active")
    return str(pb["id"])


async def test_an_agent_records_work_and_another_finds_and_replays_it(
    xdg: Xdg, start_daemon: Any, tmp_path: Path
) -> None:
    xdg.write_config(EXEC_ON)
    d: Daemon = start_daemon()
    a, b, log = tmp_path / "A" / "proj", tmp_path / "B" / "proj", tmp_path / "mcp.log"
    async with session(xdg, d.socket, log) as s:
        run_id = await record_project(s, a, "agent-session-1")
    pb = cli_json(xdg, "compile", run_id, "--name", "python project")
    assert pb["steps"] >= 6, pb
    cli_json(xdg, "promote", pb["id"], "--version", "1", "--status", "active")

    b.mkdir(parents=True)
    async with session(xdg, d.socket, log) as s:
        found = (await call(s, "find_playbooks", task=OTHER_TASK, cwd=str(b)))["playbooks"]
        assert [p["id"] for p in found][:1] == [pb["id"]], json.dumps(found, indent=2)
        assert found[0]["why"] and found[0]["signature"] == "trusted"
        sim = await call(s, "simulate_playbook", id=pb["id"], workdir=str(b))
        assert sim["status"] == "succeeded", sim
        assert sim["steps"] and not [x for x in sim["steps"] if x["verdict"] == "blocked"], sim
        assert not (b / ".venv").exists(), "simulate must run nothing"
        rep = await call(s, "replay_playbook", id=pb["id"], workdir=str(b), mode="strict")
        assert rep["status"] == "succeeded" and rep["divergence"] is None, rep
        state = await call(s, "replay_status", replay_id=rep["replay_id"])
        assert state["status"] == "succeeded"
    assert tree(b) == tree(a)
    test = subprocess.run([str(b / ".venv/bin/python"), "-m", "unittest", "discover", "-s", "tests"],
                          cwd=b, capture_output=True, text=True)  # fmt: skip
    assert test.returncode == 0, test.stderr


async def test_a_differently_worded_task_ranks_the_playbook_first_among_neighbours(
    daemon: Daemon, xdg: Xdg, tmp_path: Path
) -> None:
    cmds = ["python3 -m venv .venv", ".venv/bin/pip install -e .", ".venv/bin/python -m unittest discover"]
    want = active_playbook(xdg, tmp_path, 0, GOAL, cmds, name="python project")
    for i, (goal, cmds) in enumerate([
        ("install the node packages and build the frontend", ["npm install", "npm run build"]),
        ("create a release tag and publish the package", ["git tag v1.0", "git push --tags"]),
        ("set up a rust environment and build it", ["cargo build --release"]),
    ], start=1):  # fmt: skip
        active_playbook(xdg, tmp_path, i, goal, cmds)
    async with session(xdg, daemon.socket, tmp_path / "mcp.log") as s:
        found = (await call(s, "find_playbooks", task=OTHER_TASK))["playbooks"]
    assert [p["id"] for p in found][:1] == [want], json.dumps(found, indent=2)


async def test_tools_resource_and_refusal_without_local_exec(
    daemon: Daemon, xdg: Xdg, tmp_path: Path
) -> None:
    trace = synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", ["touch made"], goal="make a file")
    run = cli_json(xdg, "ingest", str(trace))["runs"][0]["id"]
    pb = cli_json(xdg, "compile", run, "--name", "make a file")
    wd = tmp_path / "w"
    async with session(xdg, daemon.socket, tmp_path / "mcp.log") as s:
        assert {t.name for t in (await s.list_tools()).tools} == TOOLS
        assert (await call(s, "find_playbooks", task="make a file"))["playbooks"] == []  # a draft
        drafts = await call(s, "find_playbooks", task="make a file", include_drafts=True)
        assert [p["id"] for p in drafts["playbooks"]] == [pb["id"]]
        res = await s.read_resource(f"aionis://playbook/{pb['id']}")
        (content,) = res.contents
        assert content.mime_type == "application/json"
        doc = json.loads(getattr(content, "text", ""))
        assert doc["id"] == pb["id"] and doc["verification"]["ok"] is True
        assert doc["document"]["schema"] == "aionis.playbook/v1"
        refused = await call(s, "replay_playbook", id=pb["id"], workdir=str(wd))
        assert refused["refused"] is True and "allow_local_exec" in refused["reason"], refused
        missing = await s.call_tool("get_playbook", {"id": "pb-nosuchthing"})
        assert missing.is_error and "pb-nosuchthing" in str(missing.content)
    assert not (wd / "made").exists()


async def test_a_missing_daemon_is_a_tool_error_not_a_crash(xdg: Xdg, tmp_path: Path) -> None:
    async with session(xdg, tmp_path / "nobody.sock", tmp_path / "mcp.log") as s:
        res = await s.call_tool("find_playbooks", {"task": "anything"})
        assert res.is_error and "aionisd is not running" in str(res.content)
        assert {t.name for t in (await s.list_tools()).tools} == TOOLS


async def test_record_step_relative_paths_and_cwd_carry_over(
    xdg: Xdg, daemon: Daemon, tmp_path: Path
) -> None:
    """Only the first step names cwd; later steps and relative file paths resolve against it."""
    work = tmp_path / "work"
    work.mkdir()
    async with session(xdg, daemon.socket, tmp_path / "mcp.log") as s:
        await call(s, "record_step", run_id="rel-1", command="true", cwd=str(work), goal="rel")
        (work / "a.txt").write_text("hi\n")
        last = await call(s, "record_step", run_id="rel-1", tool="write_file",
                          input={"path": "a.txt", "content": "hi\n"}, end_run=True)  # fmt: skip
    run = cli_json(xdg, "run", "show", last["run"], "--output")
    assert run["cwd"] == str(work)
    assert [s["cwd"] for s in run["steps"]] == [str(work), str(work)]
    assert run["steps"][1]["input"]["path"] == os.path.join(str(work), "a.txt")
