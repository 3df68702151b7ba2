"""`aionis mcp`: an MCP server on stdio that proxies to the daemon socket, so an agent can ask
for a playbook before reasoning, check it, replay it, and record what it did otherwise."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import anyio

from aionisd import errors
from aionisd.client import ApiError, Client, DaemonNotRunning
from aionisd.events import replay_story, review_hint
from aionisd.model import now
from aionisd.repair import repair_summary

INSTRUCTIONS = (
    "aionis is execution memory: before working out how to do a task, call find_playbooks with "
    "the task in words and your working directory. If a playbook matches, simulate_playbook in "
    "your workdir, then replay_playbook (strict) instead of reasoning again. If none matches, do "
    "the work and record each shell command with record_step so next time there is one."
)

# Answers an agent acts on (tell the user, or do the work by hand) rather than tool failures.
REFUSALS = {
    errors.EXEC_NOT_ALLOWED: "ask the user to set `[replay] allow_local_exec = true` in "
    "~/.config/aionis/config.toml, or do the work yourself",
    errors.SIGNATURE_INVALID: "do not replay it; tell the user the playbook's signature is bad",
    errors.UNTRUSTED_SIGNER: "ask the user to trust the signer (`aionis keys trust`) or do the work yourself",
    errors.MISSING_PARAMETER: "pass the missing values in `params` (secrets come from the environment)",
    errors.PLAYBOOK_DISABLED: "this version is disabled; do the work yourself",
    errors.PATH_ESCAPE: "the playbook writes outside the workdir; do the work yourself",
    errors.PRECONDITION_FAILED: "fix the failed precondition, or do the work yourself",
}
STEP_STATUSES = ("success", "failed", "not_run")
FILE_TOOLS = ("write_file", "edit_file")


def tool_error(e: Exception) -> Exception:
    """The SDK hides unexpected exceptions from the agent; a ToolError carries the message."""
    from mcp.server.mcpserver.exceptions import ToolError

    if isinstance(e, DaemonNotRunning):
        return ToolError(f"{e}: ask the user to start it (`aionisd`, or `systemctl --user start aionisd`)")
    if isinstance(e, ApiError):
        return ToolError(e.message)
    return ToolError(str(e))


def refusal(e: ApiError) -> dict[str, Any]:
    return {"refused": True, "code": e.code, "reason": e.message, "what_to_do": REFUSALS[e.code]}


def simulation_view(res: dict[str, Any]) -> dict[str, Any]:
    """A simulate result as the tool describes it: per step would_run / would_skip / blocked."""
    sim = res.get("simulation") or {}
    plans = {(g, s["index"]): s for g in ("steps", "checks") for s in sim.get(g) or []}

    def view(group: str, s: dict[str, Any]) -> dict[str, Any]:
        plan = plans.get((group, s["index"]))
        if plan is not None:
            verdict, why = plan["status"], "; ".join(plan.get("reasons") or [])
        else:
            verdict = "would_skip" if s.get("status") == "skipped" else "would_run"
            why = s.get("reason") or ""
        return {"index": s["index"], "id": s.get("id"), "kind": s.get("kind"), "verdict": verdict,
                "why": why}  # fmt: skip

    out = {k: res.get(k) for k in ("replay_id", "playbook", "mode", "status", "reason")}
    out["steps"] = [view("steps", s) for s in res.get("steps") or []]
    out["checks"] = [view("checks", s) for s in res.get("checks") or []]
    out["failed_preconditions"] = [
        {"precondition": c.get("precondition"), "reason": c.get("reason")}
        for c in sim.get("preconditions") or [] if not c.get("ok")
    ]  # fmt: skip
    out["missing_params"] = list(sim.get("missing_params") or [])
    out["problems"] = list(sim.get("problems") or [])
    return out


def replay_view(res: dict[str, Any]) -> dict[str, Any]:
    keep = ("replay_id", "playbook", "mode", "status", "reason", "workdir", "divergence")
    out = {k: res[k] for k in keep if k in res}
    out["repairs"] = [repair_summary(r) for r in res.get("repairs") or []]  # with each source's why
    for r in out["repairs"]:
        if r["repair_id"]:
            r["review"] = review_hint(r["repair_id"])
    out["story"] = replay_story(res)  # the steps in the order they ran, a repair's marked as its
    for group in ("steps", "checks"):
        out[group] = [
            {k: s.get(k) for k in ("index", "id", "status", "exit_code", "duration_ms", "reason")}
            for s in res.get(group) or []
        ]
    return out


def step_events(
    *, tool: str, inp: dict[str, Any], cwd: str, status: str, exit_code: int | None, stdout: str,
    stderr: str, end_run: bool,
) -> tuple[str, list[dict[str, Any]]]:  # fmt: skip
    """Native trace lines for one step (and the run's end when asked)."""
    sid = "s-" + uuid.uuid4().hex[:12]
    if tool in FILE_TOOLS and isinstance(inp.get("path"), str) and not os.path.isabs(inp["path"]):
        inp = {**inp, "path": os.path.normpath(os.path.join(cwd, inp["path"]))}
    after: dict[str, Any] = {"type": "step.after", "step_id": sid, "status": status, "ts": now(),
                             "stdout": stdout, "stderr": stderr}  # fmt: skip
    if exit_code is not None:
        after["exit_code"] = exit_code
    events = [{"type": "step.before", "step_id": sid, "tool": tool, "input": inp, "cwd": cwd,
               "ts": now()}, after]  # fmt: skip
    if end_run:
        events.append({"type": "run.end", "status": "success" if status == "success" else "failed",
                       "ts": now()})  # fmt: skip
    return sid, events


def build(socket: str | None = None) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("aionis", instructions=INSTRUCTIONS, version="0.1.0")
    run_cwds: dict[str, str] = {}

    async def call(method: str, **params: Any) -> Any:
        def blocking() -> Any:
            with Client(socket, timeout=None) as c:
                return c.call(method, **{k: v for k, v in params.items() if v is not None})

        try:
            return await anyio.to_thread.run_sync(blocking)
        except (DaemonNotRunning, ApiError) as e:
            raise tool_error(e) from None

    @server.tool(description="Call this first, before working out how to do a multi-step task: "
                 "recorded playbooks that match the task (in your own words), best first, with why "
                 "they match. Pass your working directory as cwd: the same repository ranks "
                 "higher.")  # fmt: skip
    async def find_playbooks(task: str, cwd: str | None = None, include_drafts: bool = False,
                             limit: int = 5) -> dict[str, Any]:  # fmt: skip
        res = await call("playbooks.search", text=task, cwd=cwd, all=include_drafts, limit=limit)
        keep = ("id", "name", "version", "status", "signature", "goal", "steps", "checks", "score",
                "why", "replays", "replays_succeeded")  # fmt: skip
        return {"playbooks": [{k: pb[k] for k in keep if k in pb} for pb in res["playbooks"]]}

    @server.tool(description="A playbook: parameters, preconditions, steps, checks, signature.")
    async def get_playbook(id: str, version: int | None = None) -> dict[str, Any]:
        return dict(await call("playbooks.get", id=id, version=version))

    @server.tool(description="Check a playbook in a workdir without running anything: per step "
                 "would_run / would_skip / blocked, with why; failed preconditions and missing "
                 "parameters.")  # fmt: skip
    async def simulate_playbook(id: str, workdir: str, params: dict[str, str] | None = None,
                                version: int | None = None) -> dict[str, Any]:  # fmt: skip
        res = await _replay(id, "simulate", workdir, params, version, wait=True)
        return res if res.get("refused") else simulation_view(res)

    @server.tool(description="Replay a playbook (mode strict or guided) in workdir and wait for the "
                 "result (wait=false returns at once; then poll replay_status). Refuses, saying "
                 "why, when local execution is off or the signature is not trusted. On "
                 "divergence, continue by hand from the diverging step. In guided mode, repairs "
                 "gives each repair source's outcome (proposed, rejected, repeated, no_answer, error) and "
                 "reason.")  # fmt: skip
    async def replay_playbook(id: str, workdir: str, mode: str = "strict",
                              params: dict[str, str] | None = None, version: int | None = None,
                              wait: bool = True) -> dict[str, Any]:  # fmt: skip
        if mode not in ("strict", "guided"):
            from mcp.server.mcpserver.exceptions import ToolError

            raise ToolError("mode must be strict or guided (use simulate_playbook to check)")
        res = await _replay(id, mode, workdir, params, version, wait=wait)
        return res if res.get("refused") else replay_view(res)

    async def _replay(id: str, mode: str, workdir: str, params: dict[str, str] | None,
                      version: int | None, *, wait: bool) -> dict[str, Any]:  # fmt: skip
        def blocking() -> dict[str, Any]:
            finished: set[str] = set()

            def on(method: str, n: dict[str, Any]) -> None:
                if n.get("kind") == "replay.finished":
                    finished.add((n.get("data") or {}).get("replay_id", ""))

            with Client(socket, timeout=None, on_notify=on) as c:
                c.call("events.subscribe", kinds=["replay.finished"])
                start = c.call("replay.start", id=id, mode=mode, workdir=str(Path(workdir).resolve()),
                               params=params or {}, version=version, env=dict(os.environ))  # fmt: skip
                rid = start["replay_id"]
                while wait and rid not in finished and start.get("status") == "running":
                    c.read()
                return dict(c.call("replay.get", replay_id=rid))

        try:
            return await anyio.to_thread.run_sync(blocking)
        except ApiError as e:
            if e.code in REFUSALS:
                return refusal(e)
            raise tool_error(e) from None
        except DaemonNotRunning as e:
            raise tool_error(e) from None

    @server.tool(description="The state of a replay started earlier.")
    async def replay_status(replay_id: str) -> dict[str, Any]:
        return replay_view(await call("replay.get", replay_id=replay_id))

    @server.tool(description="Record one step you ran (for agents whose logs aionis cannot watch). "
                 "Use one run_id per task; give goal and cwd on the first step (later steps default "
                 "to that cwd). tool is bash (pass command), write_file (input {path, content}), "
                 "edit_file (input {path, old, new}) or any other name; status is success, failed "
                 "or not_run; set end_run=true on the last step.")  # fmt: skip
    async def record_step(run_id: str, command: str | None = None, tool: str = "bash",
                          input: dict[str, Any] | None = None, status: str = "success",
                          exit_code: int | None = None, stdout: str = "", stderr: str = "",
                          cwd: str | None = None, goal: str | None = None,
                          agent: str = "mcp-agent", end_run: bool = False) -> dict[str, Any]:  # fmt: skip
        if status not in STEP_STATUSES:
            from mcp.server.mcpserver.exceptions import ToolError

            raise ToolError(f"status must be one of {', '.join(STEP_STATUSES)}")
        here = cwd or run_cwds.get(run_id) or os.getcwd()
        run_cwds.setdefault(run_id, here)
        inp = dict(input or {})
        if command is not None:
            inp.setdefault("command", command)
        sid, events = step_events(tool=tool, inp=inp, cwd=here, status=status, exit_code=exit_code,
                                  stdout=stdout, stderr=stderr, end_run=end_run)  # fmt: skip
        start = {"agent": agent, "goal": goal or "", "cwd": here}
        res = await call("traces.append", run_id=run_id, events=events, start=start)
        if end_run:
            run_cwds.pop(run_id, None)
        runs = list(res.get("runs") or {})
        return {"step_id": sid, "run": runs[0] if runs else None, "errors": res.get("errors") or [],
                "trace": res.get("path")}  # fmt: skip

    @server.resource("aionis://playbook/{id}", mime_type="application/json",
                     description="A playbook document with its signature state.")  # fmt: skip
    async def playbook_resource(id: str) -> str:
        from mcp.server.mcpserver.exceptions import ResourceError, ToolError

        try:
            return json.dumps(await call("playbooks.get", id=id), indent=2)
        except ToolError as e:
            raise ResourceError(str(e)) from None

    return server


def main(socket: str | None = None) -> int:
    build(socket).run("stdio")
    return 0
