"""`aionis mcp`: an MCP server on stdio that proxies to the daemon socket, so an agent can ask
for a playbook before reasoning, check it, replay it, and record what it did otherwise."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from aionisd.client import ApiError, Client, DaemonNotRunning

INSTRUCTIONS = (
    "aionis is execution memory: before working out how to do a task, call find_playbooks with "
    "the task in words and your working directory. If a playbook matches, simulate_playbook in "
    "your workdir, then replay_playbook (strict) instead of reasoning again. If none matches, do "
    "the work and record each shell command with record_step so next time there is one."
)


def _ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(socket: str | None = None) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("aionis", instructions=INSTRUCTIONS, version="0.1.0")

    async def call(method: str, **params: Any) -> Any:
        def blocking() -> Any:
            with Client(socket, timeout=None) as c:
                return c.call(method, **{k: v for k, v in params.items() if v is not None})

        try:
            return await anyio.to_thread.run_sync(blocking)
        except DaemonNotRunning as e:
            return {"error": str(e)}
        except ApiError as e:
            return {"refused": True, "code": e.code, "reason": e.message, "data": e.data}

    @server.tool(description="Playbooks that match a task, best first, with why they match.")
    async def find_playbooks(task: str, cwd: str | None = None, include_drafts: bool = False,
                             limit: int = 5) -> dict[str, Any]:  # fmt: skip
        res = await call("playbooks.search", text=task, cwd=cwd, all=include_drafts, limit=limit)
        if "playbooks" not in res:
            return dict(res)
        keep = ("id", "name", "version", "status", "signature", "goal", "steps", "checks", "score",
                "why", "replays", "replays_succeeded")  # fmt: skip
        return {"playbooks": [{k: p[k] for k in keep if k in p} for p in res["playbooks"]]}

    @server.tool(description="A playbook: parameters, preconditions, steps, checks, signature.")
    async def get_playbook(id: str, version: int | None = None) -> dict[str, Any]:
        return dict(await call("playbooks.get", id=id, version=version))

    @server.tool(description="Check a playbook in a workdir without running anything: per step "
                 "would_run / would_skip / blocked, with why.")  # fmt: skip
    async def simulate_playbook(id: str, workdir: str, params: dict[str, str] | None = None,
                                version: int | None = None) -> dict[str, Any]:  # fmt: skip
        return await _replay(id, "simulate", workdir, params, version)

    @server.tool(description="Replay a playbook (mode strict or guided) in workdir and wait for the "
                 "result. Refuses, saying why, when local execution is off or the signature is not "
                 "trusted.")  # fmt: skip
    async def replay_playbook(id: str, workdir: str, mode: str = "strict",
                              params: dict[str, str] | None = None,
                              version: int | None = None) -> dict[str, Any]:  # fmt: skip
        if mode not in ("strict", "guided"):
            return {"refused": True, "reason": "mode must be strict or guided (use simulate_playbook)"}
        return await _replay(id, mode, workdir, params, version)

    async def _replay(id: str, mode: str, workdir: str, params: dict[str, str] | None,
                      version: int | None) -> dict[str, Any]:  # fmt: skip
        def blocking() -> dict[str, Any]:
            finished: set[str] = set()

            def on(method: str, p: dict[str, Any]) -> None:
                if p.get("kind") == "replay.finished":
                    finished.add((p.get("data") or {}).get("replay_id", ""))

            with Client(socket, timeout=None, on_notify=on) as c:
                c.call("events.subscribe", kinds=["replay.finished"])
                start = c.call("replay.start", id=id, mode=mode, workdir=str(Path(workdir).resolve()),
                               params=params or {}, version=version, env=dict(os.environ))  # fmt: skip
                rid = start["replay_id"]
                while rid not in finished and start.get("status") == "running":
                    c.read()
                return dict(c.call("replay.get", replay_id=rid))

        try:
            res = await anyio.to_thread.run_sync(blocking)
        except DaemonNotRunning as e:
            return {"error": str(e)}
        except ApiError as e:
            return {"refused": True, "code": e.code, "reason": e.message}
        return {k: res[k] for k in ("replay_id", "playbook", "mode", "status", "reason", "steps",
                                    "checks", "divergence", "repairs") if k in res}  # fmt: skip

    @server.tool(description="The state of a replay started earlier.")
    async def replay_status(replay_id: str) -> dict[str, Any]:
        return dict(await call("replay.get", replay_id=replay_id))

    @server.tool(description="Record one step you ran (for agents whose logs aionis cannot watch). "
                 "Give goal and cwd on the first step of a run; status is success, failed or "
                 "not_run; set end_run=true on the last step.")  # fmt: skip
    async def record_step(run_id: str, command: str | None = None, tool: str = "bash",
                          input: dict[str, Any] | None = None, status: str = "success",
                          exit_code: int | None = None, stdout: str = "", stderr: str = "",
                          cwd: str | None = None, goal: str | None = None,
                          agent: str = "mcp-agent", end_run: bool = False) -> dict[str, Any]:  # fmt: skip
        events: list[dict[str, Any]] = []
        sid = "s-" + uuid.uuid4().hex[:12]
        inp = dict(input or {})
        if command is not None:
            inp.setdefault("command", command)
        events.append({"type": "step.before", "step_id": sid, "tool": tool, "input": inp,
                       "cwd": cwd or os.getcwd(), "ts": _ts()})  # fmt: skip
        after: dict[str, Any] = {"type": "step.after", "step_id": sid, "status": status, "ts": _ts(),
                                 "stdout": stdout, "stderr": stderr}  # fmt: skip
        if exit_code is not None:
            after["exit_code"] = exit_code
        events.append(after)
        if end_run:
            events.append({"type": "run.end", "status": "success" if status == "success" else "failed",
                           "ts": _ts()})  # fmt: skip
        start = {"agent": agent, "goal": goal or "", "cwd": cwd or os.getcwd()}
        res = await call("traces.append", run_id=run_id, events=events, start=start)
        return {"step_id": sid, **res}

    @server.resource("aionis://playbook/{id}", mime_type="application/json",
                     description="A playbook document with its signature state.")  # fmt: skip
    async def playbook_resource(id: str) -> str:
        return json.dumps(await call("playbooks.get", id=id), indent=2)

    return server


def main(socket: str | None = None) -> int:
    build(socket).run("stdio")
    return 0
