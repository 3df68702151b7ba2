"""Helpers for end-to-end tests: synthetic native traces and an API client on the real daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aionisd.client import Client


def playbook(steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A minimal playbook document around `steps` (for engine and checks tests)."""
    return {
        "schema": "aionis.playbook/v1",
        "name": "t",
        "version": 1,
        "params": [],
        "preconditions": [],
        "steps": steps,
        "success": [],
        **extra,
    }


def native_trace(
    path: Path,
    commands: list[str],
    *,
    run_id: str = "syn-1",
    cwd: str = "/w",
    goal: str = "synthetic work",
    agent: str = "t",
) -> Path:
    """A native trace of `commands`, each succeeding and printing `ok <i>` (nothing is run)."""
    lines: list[dict[str, Any]] = [
        {"type": "run.start", "run_id": run_id, "agent": agent, "goal": goal, "cwd": cwd,
         "ts": "2026-11-24T10:00:00Z"}
    ]  # fmt: skip
    for i, cmd in enumerate(commands):
        lines.append({"type": "step.before", "run_id": run_id, "step_id": f"s{i}", "tool": "bash",
                      "input": {"command": cmd}, "cwd": cwd, "ts": "2026-11-24T10:00:01Z"})  # fmt: skip
        lines.append({"type": "step.after", "run_id": run_id, "step_id": f"s{i}", "status": "success",
                      "exit_code": 0, "stdout": f"ok {i}\n", "duration_ms": 1500 + i,
                      "ts": "2026-11-24T10:00:03Z"})  # fmt: skip
    lines.append({"type": "run.end", "run_id": run_id, "status": "success", "ts": "2026-11-24T10:02:00Z"})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def synthetic_trace(
    path: Path, cwd: Path, commands: list[str], run_id: str = "syn-1", goal: str = "synthetic work"
) -> Path:
    return native_trace(path, commands, run_id=run_id, cwd=str(cwd), goal=goal)


def compiled(sock: Path, trace: Path, **kw: Any) -> dict[str, Any]:
    """Ingest a trace and compile its run; returns playbooks.compile's result."""
    with Client(sock) as c:
        r = c.call("ingest", paths=[str(trace)])
        assert not r["errors"], r["errors"]
        return dict(c.call("playbooks.compile", run_id=r["runs"][0]["id"], **kw))


def wait_replay(c: Client, replay_id: str) -> dict[str, Any]:
    """Block on events (not a timer) until the replay finishes; return replay.get."""
    state = c.call("replay.get", replay_id=replay_id)
    if state["status"] != "running":
        return dict(state)
    done = False

    def on(method: str, params: dict[str, Any]) -> None:
        nonlocal done
        d = params.get("data") or {}
        if params.get("kind") == "replay.finished" and d.get("replay_id") == replay_id:
            done = True

    c.on_notify = on
    c.call("events.subscribe", kinds=["replay.finished"], since_seq=0)
    while not done:
        c.read()
    return dict(c.call("replay.get", replay_id=replay_id))


def echo_trace(path: Path, steps: int, run_id: str = "r-1") -> Path:
    """A native trace of `steps` echo commands."""
    return native_trace(path, [f"echo {i}" for i in range(steps)], run_id=run_id, goal="g")


def wait_shadow(c: Client, repair_id: str) -> dict[str, Any]:
    rep = c.call("repairs.get", id=repair_id)
    if rep["shadow"]:
        return dict(rep)
    done = False

    def on(method: str, params: dict[str, Any]) -> None:
        nonlocal done
        if (params.get("data") or {}).get("id") == repair_id:
            done = True

    c.on_notify = on
    c.call("events.subscribe", kinds=["repair.shadow_finished"], since_seq=0)
    while not done:
        c.read()
    return dict(c.call("repairs.get", id=repair_id))


def start_with_http_repairs(xdg: Any, start_daemon: Any, url: str) -> Any:
    """The real daemon with local execution on and one repair source: the HTTP stand-in at `url`."""
    xdg.write_config(
        f"[replay]\nallow_local_exec = true\n[repair]\nsources = ['http']\nhttp_url = '{url}/repair'\n"
    )
    return start_daemon()
